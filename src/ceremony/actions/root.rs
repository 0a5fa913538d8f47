//! Steps on the root key: creating it (or a successor), auditing and proving its shares, and
//! recovering it into a token.

use std::path::{Path, PathBuf};

use super::{CeremonyError, Context, Recorded, rehearsal_subject, uri};
use crate::Error;
use crate::ca::recover::{RecoverRequest, recover, verify_shares};
use crate::ca::root::{
    Backup, ROOT_CERT_FILE, RootRequest, create_backed_up, create_token_only, pending_label,
};
use crate::ceremony::params;
use crate::keys::seal::Openers;
use crate::keys::token::{Pkcs11Uri, Token};
use crate::keys::{KeyAlgorithm, PublicKey};
use crate::pki::name::parse_subject;
use crate::pki::read_certificate;
use crate::shares::{Threshold, parse_custodians};

/// Creates the root (or a successor) on the profile's tokens, backed up when the step asks for shares.
pub(super) fn root_create(
    ctx: &Context<'_>,
    p: params::RootCreate,
    dir: &Path,
    io: &mut Recorded,
) -> Result<String, CeremonyError> {
    let subject = if ctx.profile.rehearsal {
        rehearsal_subject(&p.subject)
    } else {
        p.subject.clone()
    };
    let mut tokens = Vec::new();
    if p.successor {
        let t = ctx.profile.successor_token.as_deref().ok_or_else(|| {
            CeremonyError::Profile("a successor root needs successor_token in the profile".into())
        })?;
        tokens.push(uri(t)?);
    } else {
        tokens.push(uri(&ctx.profile.root_token)?);
        for t in &ctx.profile.backup_tokens {
            tokens.push(uri(t)?);
        }
    }
    let tokens = if p.shares.is_some() {
        &tokens[..]
    } else {
        &tokens[..1]
    };
    let removed = match &ctx.unfinished_key_id {
        Some(id) => remove_unfinished_root(ctx, &with_key_id(tokens, id.as_ref()), dir)?,
        None => Vec::new(),
    };
    let tokens = &with_key_id(tokens, ctx.key_id.as_ref());
    let request = RootRequest {
        tokens,
        module: ctx.module(),
        subject: parse_subject(&subject).map_err(Error::from)?,
        validity: p.validity.parse().map_err(Error::from)?,
        algorithm: p.algorithm.parse::<KeyAlgorithm>().map_err(Error::from)?,
        out_dir: dir,
    };
    let made = match p.threshold().map_err(Error::from)? {
        Some(threshold) => {
            let backup = Backup {
                threshold,
                custodians: parse_custodians(&p.custodians, threshold)?,
            };
            create_backed_up(&request, &backup)?
        }
        None => create_token_only(&request)?,
    };
    let role = if p.successor {
        "successor-cert"
    } else {
        "root-cert"
    };
    io.outputs.push(ctx.artefact(role, &made.cert_path)?);
    io.outputs
        .push(ctx.artefact("root-fingerprint", &made.fingerprint_path)?);
    for card in &made.cards {
        io.outputs.push(ctx.artefact("share-card", card)?);
    }
    let mut summary = format!(
        "root {} created; SHA-256 {}; words: {}",
        made.subject,
        made.fingerprint.hex(),
        made.fingerprint.words().join(" ")
    );
    for r in removed {
        summary.push_str(&format!("; first removed {r}"));
    }
    if let Some(record) = p.below_minimum_record() {
        summary.push_str(&format!("; {record}"));
    }
    Ok(summary)
}

/// Before an interrupted root creation runs again: removes the key objects it left on each
/// token, a whole pair or half of one, under the pending label of the key id its begin entry
/// recorded. A key under its final label is never touched, nor a pending key that any
/// certificate this ceremony holds names (the interrupted attempt may have written its
/// certificate): then nothing is removed and the officers decide. Returns what was removed,
/// for the transcript.
fn remove_unfinished_root(
    ctx: &Context<'_>,
    tokens: &[Pkcs11Uri],
    dir: &Path,
) -> Result<Vec<String>, CeremonyError> {
    let certified = certified_keys(ctx, dir)?;
    let mut removed = Vec::new();
    for uri in tokens {
        let Some(id) = &uri.id else {
            // An attempt that recorded no key id made no key keyrite could tell from another.
            continue;
        };
        let label = pending_label(id);
        let token = Token::open(uri, ctx.module()).map_err(Error::from)?;
        token.login(uri).map_err(Error::from)?;
        if let Some(other) = token
            .labels_with_id(id)
            .map_err(Error::from)?
            .into_iter()
            .find(|l| *l != label)
        {
            return Err(CeremonyError::Step(format!(
                "token '{}' holds an object with the interrupted attempt's key id {} under the \
                 label '{other}', not its pending label: the attempt may have finished. Nothing \
                 was removed; record this as an exception and decide with the officers",
                token.label(),
                hex::encode(id)
            )));
        }
        if let Ok(key) = token.find_key(&uri.for_object(&label, id))
            && let Some((path, _)) = certified.iter().find(|(_, k)| *k == key.public_key)
        {
            return Err(CeremonyError::Step(format!(
                "token '{}' holds the interrupted attempt's key (id {}), and {} is a \
                 certificate for it: the attempt wrote its certificate before it was \
                 interrupted. Nothing was removed; record this as an exception and decide with \
                 the officers whether to keep that root",
                token.label(),
                hex::encode(id),
                path.display()
            )));
        }
        let n = token.destroy_keys(&label, id).map_err(Error::from)?;
        if n > 0 {
            removed.push(format!(
                "the unfinished attempt's key '{label}' ({n} objects) from token '{}'",
                token.label()
            ));
        }
    }
    Ok(removed)
}

/// The public keys of every root certificate this ceremony knows: made by earlier steps,
/// named by the profile, or left by interrupted attempts of this step (set aside beside `dir`).
fn certified_keys(
    ctx: &Context<'_>,
    dir: &Path,
) -> Result<Vec<(PathBuf, PublicKey)>, CeremonyError> {
    let mut paths: Vec<PathBuf> = ["root-cert", "successor-cert"]
        .into_iter()
        .flat_map(|role| ctx.all(role))
        .chain(ctx.profile.root_cert.clone())
        .collect();
    if let (Some(parent), Some(name)) = (dir.parent(), dir.file_name()) {
        let aside = format!("{}.interrupted-", name.to_string_lossy());
        for entry in std::fs::read_dir(parent)
            .map_err(|e| CeremonyError::Step(format!("{}: {e}", parent.display())))?
            .flatten()
        {
            if entry.file_name().to_string_lossy().starts_with(&aside) {
                let cert = entry.path().join(ROOT_CERT_FILE);
                if cert.exists() {
                    paths.push(cert);
                }
            }
        }
    }
    paths
        .into_iter()
        .map(|path| {
            let cert = read_certificate(&path).map_err(Error::from)?;
            let key = PublicKey::from_spki(cert.tbs_certificate().subject_public_key_info())
                .map_err(|e| CeremonyError::Step(format!("{}: {e}", path.display())))?;
            Ok((path, key))
        })
        .collect()
}

/// The root creation's token URIs with `key_id` as the key id, unless a URI names its own.
fn with_key_id(tokens: &[Pkcs11Uri], key_id: Option<&Vec<u8>>) -> Vec<Pkcs11Uri> {
    tokens
        .iter()
        .cloned()
        .map(|mut u| {
            if u.id.is_none() {
                u.id = key_id.cloned();
            }
            u
        })
        .collect()
}

/// Audits share cards against the root without combining them.
pub(super) fn shares_verify(
    ctx: &Context<'_>,
    p: params::SharesVerify,
    _dir: &Path,
    io: &mut Recorded,
) -> Result<String, CeremonyError> {
    let root = ctx.root_cert()?;
    let cards = ctx.cards(&p.cards)?;
    record_cards(ctx, &cards, io)?;
    let report = verify_shares(&root, &cards, &Openers::default())?;
    if !report.all_good() {
        let bad: Vec<String> = report
            .lines
            .iter()
            .filter_map(|(s, r)| r.as_ref().err().map(|e| format!("{s}: {e}")))
            .collect();
        return Err(CeremonyError::Step(format!(
            "shares failed the custody audit: {}",
            bad.join("; ")
        )));
    }
    Ok(format!(
        "{} share cards verified against the root",
        cards.len()
    ))
}

/// Proves that a threshold of the cards recovers the root key, importing nothing.
pub(super) fn recover_verify(
    ctx: &Context<'_>,
    p: params::RecoverVerify,
    _dir: &Path,
    io: &mut Recorded,
) -> Result<String, CeremonyError> {
    let threshold: Threshold = p.shares.parse().map_err(Error::from)?;
    let root = ctx.root_cert()?;
    let mut cards = ctx.cards(&p.cards)?;
    cards.truncate(usize::from(threshold.t));
    record_cards(ctx, &cards, io)?;
    recover(&RecoverRequest {
        root_cert: &root,
        token: None,
        module: ctx.module(),
        shares: &cards,
        openers: &Openers::default(),
    })?;
    Ok(format!(
        "{} of the cards recover the root key (nothing imported)",
        cards.len()
    ))
}

/// Recovers the root key from the cards into the profile's root token.
pub(super) fn root_recover(
    ctx: &Context<'_>,
    p: params::RootRecover,
    _dir: &Path,
    io: &mut Recorded,
) -> Result<String, CeremonyError> {
    let root = ctx.root_cert()?;
    let cards = ctx.cards(&p.cards)?;
    record_cards(ctx, &cards, io)?;
    let token = uri(&ctx.profile.root_token)?;
    let outcome = recover(&RecoverRequest {
        root_cert: &root,
        token: Some(&token),
        module: ctx.module(),
        shares: &cards,
        openers: &Openers::default(),
    })?;
    Ok(match outcome.imported {
        Some(key) => format!(
            "the root key was recovered from {} cards into {}",
            cards.len(),
            key.uri
        ),
        None => "the root key was recovered but not imported".to_owned(),
    })
}

/// Records the share cards a step reads as its inputs.
fn record_cards(
    ctx: &Context<'_>,
    cards: &[PathBuf],
    io: &mut Recorded,
) -> Result<(), CeremonyError> {
    for c in cards {
        io.inputs.push(ctx.artefact("share-card", c)?);
    }
    Ok(())
}
