//! Splitting a backed-up root's key T-of-N: one signed record per custodian, each drawn on a
//! card, and every T-subset proven to recover the key before anything is written.

use blahaj::{Share, Sharks};
use der::asn1::GeneralizedTime;
use getrandom::SysRng;
use getrandom::rand_core::{Rng, UnwrapErr};
use zeroize::Zeroizing;

use super::card::CardFace;
use super::record::{ShareBody, ShareRecord};
use super::text::{self, Payload};
use super::{Card, Custodian, RootIdentity, ShareError, Threshold};
use crate::fingerprint::Fingerprint;
use crate::keys::KeySigner;
use crate::keys::seal::{self, SealTo};

/// Splits `root`'s private scalar T-of-N, one signed record per custodian, and draws each
/// custodian's card. Before returning it checks every record against the root key and that
/// every T-subset of the shares recovers the scalar.
pub fn split(
    root: &crate::keys::memory::MemoryKey,
    threshold: Threshold,
    custodians: &[Custodian],
    rehearsal: bool,
) -> Result<Vec<Card>, ShareError> {
    if custodians.len() != usize::from(threshold.n) {
        return Err(ShareError::SelfCheck(format!(
            "{} custodians for {} shares",
            custodians.len(),
            threshold.n
        )));
    }
    let identity = RootIdentity::of(root.public_key())?;
    let scalar = root.scalar();
    let mut set_id = [0u8; 16];
    UnwrapErr(SysRng).fill_bytes(&mut set_id);
    let created = GeneralizedTime::from_system_time(std::time::SystemTime::now())?;
    let shares: Vec<Share> = Sharks(threshold.t)
        .dealer_rng(&scalar, &mut UnwrapErr(SysRng))
        .take(usize::from(threshold.n))
        .collect();
    let mut records = Vec::new();
    for (share, custodian) in shares.iter().zip(custodians) {
        let bytes = Zeroizing::new(Vec::from(share));
        let body = ShareBody {
            set_id,
            root_key: identity.key_sha256,
            threshold: threshold.t,
            count: threshold.n,
            index: bytes[0],
            custodian: custodian.name.clone(),
            created,
            share: bytes,
        };
        records.push(ShareRecord::sign(body, root)?);
    }
    self_check(&records, &identity, threshold, &scalar)?;
    records
        .iter()
        .zip(custodians)
        .map(|(record, custodian)| draw_card(record, custodian, &identity, rehearsal))
        .collect()
}

fn self_check(
    records: &[ShareRecord],
    root: &RootIdentity<'_>,
    threshold: Threshold,
    scalar: &[u8],
) -> Result<(), ShareError> {
    for r in records {
        r.verify(root.key, &root.key_sha256)
            .map_err(|e| ShareError::SelfCheck(e.to_string()))?;
        let back = ShareRecord::from_der(
            &r.to_der()
                .map_err(|e| ShareError::SelfCheck(e.to_string()))?,
        )
        .map_err(|e| ShareError::SelfCheck(e.to_string()))?;
        if back != *r {
            return Err(ShareError::SelfCheck("a record does not read back".into()));
        }
    }
    for subset in subsets(records.len(), usize::from(threshold.t)) {
        let chosen: Vec<&ShareRecord> = subset.iter().map(|i| &records[*i]).collect();
        if *combine(&chosen, threshold.t)? != *scalar {
            return Err(ShareError::SelfCheck(format!(
                "shares {subset:?} do not recover the key"
            )));
        }
    }
    Ok(())
}

/// Every k-element subset of 0..n, in order.
pub(super) fn subsets(n: usize, k: usize) -> Vec<Vec<usize>> {
    let mut out = Vec::new();
    let mut current = Vec::with_capacity(k);
    fn walk(start: usize, n: usize, k: usize, current: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
        if current.len() == k {
            out.push(current.clone());
            return;
        }
        for i in start..n {
            current.push(i);
            walk(i + 1, n, k, current, out);
            current.pop();
        }
    }
    walk(0, n, k, &mut current, &mut out);
    out
}

pub(super) fn combine(records: &[&ShareRecord], t: u8) -> Result<Zeroizing<Vec<u8>>, ShareError> {
    let shares: Vec<Share> = records
        .iter()
        .map(|r| Share::try_from(r.body.share.as_slice()))
        .collect::<Result<_, _>>()
        .map_err(|e| ShareError::SelfCheck(e.to_string()))?;
    Sharks(t)
        .recover(&shares)
        .map(Zeroizing::new)
        .map_err(|e| ShareError::SelfCheck(e.to_string()))
}

fn draw_card(
    record: &ShareRecord,
    custodian: &Custodian,
    root: &RootIdentity<'_>,
    rehearsal: bool,
) -> Result<Card, ShareError> {
    let b = &record.body;
    let der = record.to_der()?;
    let (payload, sealing) = match &custodian.seal {
        None => (
            Payload::Plain(der.clone()),
            "NOT ENCRYPTED: whoever reads this card holds this share. Keep it sealed.".to_owned(),
        ),
        Some(to) => (
            Payload::Sealed(Zeroizing::new(seal::seal(&der, to)?)),
            match to {
                SealTo::X25519(r) => format!("Sealed with age to {r}"),
                SealTo::Passphrase(..) => {
                    "Sealed with age to the custodian's passphrase".to_owned()
                }
            },
        ),
    };
    let qr = text::qr_line(&payload);
    let mut header = vec![if rehearsal {
        "keyrite root key share - REHEARSAL, NEVER FOR PRODUCTION".to_owned()
    } else {
        "keyrite root key share".to_owned()
    }];
    header.push(format!("Custodian: {}", b.custodian));
    header.push(format!(
        "Share {} of {} - any {} shares recover the root key",
        b.index, b.count, b.threshold
    ));
    header.push(format!("Set: {}", hex::encode(b.set_id)));
    header.push("Root key (SHA-256 of its public key, as words):".to_owned());
    let words = Fingerprint(root.key_sha256).words();
    header.extend(words.chunks(8).map(|c| format!("  {}", c.join(" "))));
    header.push(format!("Created: {}", b.created.to_date_time()));
    header.push(sealing);
    let face = CardFace {
        header,
        typed: text::typed_lines(&qr),
        qr,
    };
    Ok(Card {
        stem: custodian.card_stem(b.index, b.count),
        png: face.to_png()?,
        svg: face.to_svg()?,
    })
}
