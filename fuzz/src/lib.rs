//! What each fuzz target feeds to keyrite: the functions that read input from a medium or a
//! host, given arbitrary bytes. They must return an error, never panic, hang or exhaust
//! memory. The same functions replay the committed corpus in `tests/fuzz_corpus.rs`.

/// A fuzz target: arbitrary bytes in, nothing out.
pub type Target = fn(&[u8]);

/// The fuzz targets by name, as `scripts/fuzz` and the corpus directories name them.
pub const TARGETS: &[(&str, Target)] = &[
    ("bundle", bundle),
    ("cms", cms),
    ("crl", crl),
    ("share_text", share_text),
    ("share_record", share_record),
    ("csr", csr),
    ("csr_review", csr_review),
    ("policy_merge", policy_merge),
    ("script", script),
];

/// A bundle file as `keyrite-import install` reads it: the CMS envelope, every signature,
/// the payload and every entry.
pub fn bundle(data: &[u8]) {
    let _ = keyrite::bundle::Bundle::decode(data);
}

/// A CMS SignedData as bundles and transcript signatures carry it, signatures verified.
pub fn cms(data: &[u8]) {
    let _ = keyrite::pki::cms::open(data);
}

/// A CRL as `keyrite bundle revocation --crl` reads it (DER or PEM).
pub fn crl(data: &[u8]) {
    let _ = keyrite::pki::crl::parse_crl(data);
}

/// A share card's text, as typed or scanned back at a recovery.
pub fn share_text(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = keyrite::shares::text::parse(text, "fuzz");
    }
}

/// A share record's DER, as a share card's text decodes to.
pub fn share_record(data: &[u8]) {
    let _ = keyrite::shares::record::ShareRecord::from_der(data);
}

/// A publisher's CSR (PEM or DER), checked as `delegate issue` checks it and, when it is one,
/// reviewed and shown for every profile.
pub fn csr(data: &[u8]) {
    if let Ok(csr) = keyrite::pki::csr::decode(data) {
        review_every_way(&csr);
    }
}

/// A CSR's request (a CertificationRequest or its CertificationRequestInfo, DER) with its key
/// replaced by the target's own and signed again, so that what it asks for reaches
/// `pki::csr::review` however the fuzzer changed it: without this, almost every change would
/// stop at the signature check.
pub fn csr_review(data: &[u8]) {
    use der::{Decode, Encode};
    use keyrite::keys::KeySigner;
    use x509_cert::request::{CertReq, CertReqInfo};

    static KEY: std::sync::OnceLock<keyrite::keys::memory::MemoryKey> = std::sync::OnceLock::new();
    let key = KEY.get_or_init(|| {
        keyrite::keys::memory::MemoryKey::generate(keyrite::keys::KeyAlgorithm::P256)
            .expect("a P-256 key")
    });
    let Ok(mut info) = CertReq::from_der(data)
        .map(|r| r.info)
        .or_else(|_| CertReqInfo::from_der(data))
    else {
        return;
    };
    let Ok(spki) = key.public_key().to_spki() else {
        return;
    };
    info.public_key = spki;
    let (Ok(info_der), algorithm) = (info.to_der(), key.scheme().algorithm_identifier()) else {
        return;
    };
    let Ok(signature) = key.sign(&info_der) else {
        return;
    };
    let Ok(signature) = der::asn1::BitString::from_bytes(&signature) else {
        return;
    };
    let request = CertReq {
        info,
        algorithm,
        signature,
    };
    if let Ok(der) = request.to_der()
        && let Ok(csr) = keyrite::pki::csr::decode(&der)
    {
        review_every_way(&csr);
    }
}

/// Reviews `csr` under each profile, with and without the root's subject (its own subject
/// standing in for the root's), and shows it as `keyrite csr show` does.
fn review_every_way(csr: &keyrite::pki::csr::Csr) {
    use keyrite::pki::csr::{Intake, review, show::describe};
    use keyrite::pki::profile::DelegateKind;

    let subject = &csr.request.info.subject;
    for kind in [DelegateKind::Signing, DelegateKind::Ca] {
        for root_subject in [None, Some(subject)] {
            let intake = Intake { kind, root_subject };
            let found = review(csr, &intake);
            let _ = describe(csr, &intake, &found);
        }
    }
}

/// A site's trust policy document with a bundle's statement merged in, as
/// `keyrite-import install` does, and the document judged by notation's rules.
pub fn policy_merge(data: &[u8]) {
    let ours = serde_json::json!({
        "name": "keyrite-fuzz", "registryScopes": ["registry.example/fuzz/app"],
        "signatureVerification": {"level": "strict"},
        "trustStores": ["ca:keyrite-fuzz"], "trustedIdentities": ["*"],
    });
    let _ = keyrite::import::trustpolicy::merge(Some(data), &[], &[ours]);
    if let Ok(doc) = keyrite::notation::policy::Document::parse(data) {
        let _ = doc.validate();
        let _ = doc.applicable("registry.example/fuzz/app");
    }
}

/// A ceremony script.
pub fn script(data: &[u8]) {
    let _ = keyrite::ceremony::script::parse_script(data);
}
