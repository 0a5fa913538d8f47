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

/// A publisher's CSR (DER), checked as `delegate issue` checks it.
pub fn csr(data: &[u8]) {
    let _ = keyrite::pki::csr::parse_csr(data.to_vec());
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
