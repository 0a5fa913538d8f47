//! What the root would sign for a CSR, written for the officers who decide: the subject and
//! every requested name in printable ASCII, the key and its fingerprint as hex and words, what
//! each requested extension becomes, and every warning and refusal.

use der::Decode;
use der::Encode;
use der::oid::AssociatedOid;
use x509_cert::ext::pkix::SubjectAltName;

use super::{Csr, Intake, Review, describe_general_name, extension_name};
use crate::fingerprint::Fingerprint;
use crate::pki::name::{ascii_escaped, display_name};
use crate::pki::profile::DelegateKind;

/// The CSR as officers should see it before the root signs it, under `intake`'s profile, with
/// what `review` found.
pub fn describe(csr: &Csr, intake: &Intake<'_>, review: &Review) -> String {
    let mut out: Vec<String> = Vec::new();
    let subject = ascii_escaped(&display_name(&csr.request.info.subject));
    let key = csr
        .request
        .info
        .public_key
        .to_der()
        .map(|der| Fingerprint::of(&der));
    out.push(format!("subject:  {subject}"));
    out.push(format!("key:      {}", csr.key.describe()));
    match key {
        Ok(fp) => {
            out.push("key SHA-256 (SubjectPublicKeyInfo):".into());
            out.push(format!("  {}", fp.hex()));
            for line in fp.words_block().lines() {
                out.push(format!("  {line}"));
            }
        }
        Err(e) => {
            out.push(format!("key SHA-256: cannot encode the key ({e})"));
        }
    }
    out.push("requested extensions:".into());
    if csr.requested.is_empty() {
        out.push("  none".into());
    }
    for ext in &csr.requested {
        let carried = ext.extn_id == SubjectAltName::OID && intake.kind == DelegateKind::Signing;
        out.push(format!(
            "  {}{}: {}",
            extension_name(&ext.extn_id),
            if ext.critical { " (critical)" } else { "" },
            if carried {
                "carried into the certificate"
            } else {
                "not carried; the profile decides"
            }
        ));
        if ext.extn_id == SubjectAltName::OID
            && let Ok(san) = SubjectAltName::from_der(ext.extn_value.as_bytes())
        {
            for name in &san.0 {
                out.push(format!("    {}", describe_general_name(name)));
            }
        }
    }
    for (title, items) in [
        ("warnings", &review.warnings),
        ("refused", &review.refusals),
    ] {
        if !items.is_empty() {
            out.push(format!("{title}:"));
            for item in items {
                out.push(format!("  - {item}"));
            }
        }
    }
    let mut text = out.join("\n");
    text.push('\n');
    text
}
