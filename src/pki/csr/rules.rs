//! What a publisher's CSR may ask of the root: the rules a decoded request is held to before
//! a certificate is built from it. The profile builds the certificate; a request can shape it
//! only through its subject and, for a signing delegate, a subjectAltName of the kinds below.

use der::Decode;
use der::asn1::{Ia5String, ObjectIdentifier};
use der::oid::AssociatedOid;
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{
    BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAltName, SubjectKeyIdentifier,
};
use x509_cert::name::Name;

use super::{Csr, CsrError, OID_EMAIL};
use crate::pki::name::{
    ascii_escaped, check_subject, display_name, hidden_characters, mixed_scripts,
};
use crate::pki::profile::DelegateKind;

/// What a CSR is judged against.
pub struct Intake<'a> {
    /// The profile the certificate would be issued under.
    pub kind: DelegateKind,
    /// The subject of the root that would sign it, when known.
    pub root_subject: Option<&'a Name>,
}

/// What the rules found in a CSR.
#[derive(Debug, Default)]
pub struct Review {
    /// Why the root must not sign it, each with what the publisher should do.
    pub refusals: Vec<String>,
    /// What officers should look at before the root signs it.
    pub warnings: Vec<String>,
}

impl Review {
    /// The warnings when nothing is refused; otherwise every refusal, as the CSR at `path`'s.
    pub fn into_result(self, path: &std::path::Path) -> Result<Vec<String>, CsrError> {
        if self.refusals.is_empty() {
            Ok(self.warnings)
        } else {
            Err(CsrError {
                path: path.display().to_string(),
                reason: self.refusals.join("; "),
            })
        }
    }
}

/// Extensions keyrite understands in a request: the certificate's own come from the profile
/// (keyUsage, extendedKeyUsage and the key identifiers are never taken from a request), and
/// any other extension a request marks critical is refused, as it cannot be dropped silently.
const UNDERSTOOD: &[(ObjectIdentifier, &str)] = &[
    (BasicConstraints::OID, "basicConstraints"),
    (SubjectAltName::OID, "subjectAltName"),
    (KeyUsage::OID, "keyUsage"),
    (ExtendedKeyUsage::OID, "extendedKeyUsage"),
    (SubjectKeyIdentifier::OID, "subjectKeyIdentifier"),
];

/// An extension's name, or its OID when keyrite does not know it.
pub fn extension_name(oid: &ObjectIdentifier) -> String {
    UNDERSTOOD
        .iter()
        .find(|(o, _)| o == oid)
        .map_or_else(|| oid.to_string(), |(_, name)| (*name).to_owned())
}

/// Holds `csr` to every rule for `intake`: its subject (notation's rules, no hidden
/// characters, not the root's own), and what it asks for (one extensionRequest, each
/// extension once, no unknown critical extension, no cA=TRUE for a signing delegate, and a
/// subjectAltName only as [`check_general_name`] allows).
pub fn review(csr: &Csr, intake: &Intake<'_>) -> Review {
    let mut review = Review::default();
    let subject = &csr.request.info.subject;
    let refuse = &mut review.refusals;
    if subject.iter().any(|atv| atv.oid == OID_EMAIL) {
        refuse.push("its subject breaks notation's rules: an e-mail address belongs in the subjectAltName, never in the subject".into());
    }
    refuse.extend(
        check_subject(subject)
            .into_iter()
            .map(|p| format!("its subject breaks notation's rules: {p}")),
    );
    refuse.extend(hidden_characters(subject).into_iter().map(|p| {
        format!(
            "its subject's {p}: have the publisher make the CSR again with a subject of visible \
             characters only"
        )
    }));
    if let Some(root) = intake.root_subject
        && same_name(subject, root)
    {
        refuse.push(
            "its subject is the root's own subject, so the certificate would pass for the root \
             wherever names are compared: the publisher's subject must name the publisher"
                .into(),
        );
    }
    review.warnings.extend(
        mixed_scripts(subject)
            .into_iter()
            .map(|w| format!("its subject's {w}")),
    );
    refuse.extend(csr.attribute_problems.iter().cloned());
    check_extensions(&csr.requested, intake, refuse);
    review
}

/// Whether two names are one: the same DER, or the same as notation reads them.
fn same_name(a: &Name, b: &Name) -> bool {
    use der::Encode;
    a.to_der().ok() == b.to_der().ok() || display_name(a) == display_name(b)
}

fn check_extensions(requested: &[Extension], intake: &Intake<'_>, refuse: &mut Vec<String>) {
    let mut seen: Vec<ObjectIdentifier> = Vec::new();
    for ext in requested {
        let name = extension_name(&ext.extn_id);
        // Named once, however many times it repeats.
        if seen.iter().filter(|o| **o == ext.extn_id).count() == 1 {
            refuse.push(format!(
                "it asks for extension {name} ({}) more than once, and RFC 5280 allows each \
                 extension once (which one would count is not defined): make the CSR with it once",
                ext.extn_id
            ));
        }
        seen.push(ext.extn_id);
        match ext.extn_id {
            BasicConstraints::OID => match BasicConstraints::from_der(ext.extn_value.as_bytes()) {
                Err(e) => refuse.push(format!(
                    "its basicConstraints request does not decode ({e})"
                )),
                Ok(bc) if bc.ca && intake.kind == DelegateKind::Signing => refuse.push(
                    "it asks for a CA certificate (basicConstraints cA=TRUE) but the signing \
                         profile issues end-entity certificates: use --profile ca for a delegate \
                         CA, or have the publisher make a CSR without cA=TRUE"
                        .into(),
                ),
                Ok(_) => {}
            },
            SubjectAltName::OID => check_san(ext, intake, refuse),
            oid if ext.critical && !UNDERSTOOD.iter().any(|(o, _)| *o == oid) => {
                refuse.push(format!(
                    "it asks for extension {oid} marked critical, which keyrite does not know: \
                     the certificate would not carry it, and a critical extension cannot be \
                     dropped silently; have the publisher make the CSR without it"
                ))
            }
            _ => {}
        }
    }
}

fn check_san(ext: &Extension, intake: &Intake<'_>, refuse: &mut Vec<String>) {
    let san = match SubjectAltName::from_der(ext.extn_value.as_bytes()) {
        Ok(san) => san,
        Err(e) => {
            refuse.push(format!("its subjectAltName does not decode ({e})"));
            return;
        }
    };
    if intake.kind == DelegateKind::Ca {
        refuse.push(
            "it asks for a subjectAltName, which the ca profile does not carry: have the \
             publisher make the CSR without one"
                .into(),
        );
        return;
    }
    if san.0.is_empty() {
        refuse.push(
            "its subjectAltName is empty (RFC 5280 requires at least one name): have the \
             publisher make the CSR without the extension, or with the e-mail address or URI it \
             should carry"
                .into(),
        );
    }
    for name in &san.0 {
        if let Err(why) = check_general_name(name, intake.root_subject) {
            refuse.push(format!(
                "its subjectAltName holds {}: {why}; a signing certificate carries only \
                 rfc822Name (e-mail) and URI names: have the publisher make the CSR without it",
                describe_general_name(name)
            ));
        }
    }
}

/// The subjectAltName names a signing delegate may carry: an rfc822Name (e-mail address) or a
/// URI, in printable ASCII without spaces or wildcards. notation matches signers on the
/// subject alone (`x509.subject` identities) and never reads a SAN, so a SAN only tells people
/// who the publisher is; the e-mail address belongs there rather than in the subject, and a URI
/// can name the publisher. Every other kind is refused: a DNS name, IP address, directory name,
/// otherName (a Windows UPN, for one) or registeredID would have the root vouch for a host,
/// network, directory or logon identity the ceremony never checked, which other verifiers
/// (TLS name matching, smart-card logon) honour; and a wildcard never names one identity.
pub fn check_general_name(name: &GeneralName, root_subject: Option<&Name>) -> Result<(), String> {
    match name {
        GeneralName::Rfc822Name(s) => {
            let text = s.as_str();
            plain_ascii(text)?;
            match text.split_once('@') {
                Some((local, domain))
                    if !local.is_empty() && !domain.is_empty() && !domain.contains('@') =>
                {
                    Ok(())
                }
                _ => Err("it is not an e-mail address (local@domain)".into()),
            }
        }
        GeneralName::UniformResourceIdentifier(s) => {
            let text = s.as_str();
            plain_ascii(text)?;
            let scheme = text.split_once(':').map(|(scheme, _)| scheme);
            let ok = scheme.is_some_and(|s| {
                s.starts_with(|c: char| c.is_ascii_alphabetic())
                    && s.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
            });
            if ok && !text.ends_with(':') {
                Ok(())
            } else {
                Err("it is not an absolute URI (scheme:rest)".into())
            }
        }
        GeneralName::DirectoryName(dn) if root_subject.is_some_and(|r| same_name(dn, r)) => {
            Err("it is the root's own subject, so the certificate would name the root".into())
        }
        GeneralName::DnsName(s) if s.as_str().contains('*') => {
            Err("a wildcard DNS name, and DNS names are for hosts".into())
        }
        GeneralName::DnsName(_) => Err("DNS names are for hosts".into()),
        GeneralName::DirectoryName(_) => {
            Err("the subject already names the publisher in notation's terms".into())
        }
        GeneralName::OtherName(_) => {
            Err("it is a logon or directory identity the ceremony does not check".into())
        }
        GeneralName::IpAddress(_) => Err("IP addresses are for hosts".into()),
        GeneralName::RegisteredId(_) | GeneralName::EdiPartyName(_) => {
            Err("notation has no use for it".into())
        }
    }
}

/// Refuses what a person could misread in an e-mail address or URI: anything but printable
/// ASCII, spaces, and the wildcard `*`.
fn plain_ascii(text: &str) -> Result<(), String> {
    if text.is_empty() {
        return Err("it is empty".into());
    }
    if let Some(c) = text.chars().find(|c| !c.is_ascii_graphic()) {
        return Err(format!(
            "it holds {}, which is not a visible ASCII character",
            crate::pki::name::code_point(c)
        ));
    }
    if text.contains('*') {
        return Err("it holds a wildcard '*', and a certificate names one identity".into());
    }
    Ok(())
}

/// A subjectAltName entry as `type: value`, the value escaped to printable ASCII.
pub fn describe_general_name(name: &GeneralName) -> String {
    let ia5 = |s: &Ia5String| ascii_escaped(s.as_str());
    match name {
        GeneralName::Rfc822Name(s) => format!("rfc822Name {}", ia5(s)),
        GeneralName::DnsName(s) => format!("dNSName {}", ia5(s)),
        GeneralName::UniformResourceIdentifier(s) => format!("URI {}", ia5(s)),
        GeneralName::DirectoryName(dn) => {
            format!("directoryName {}", ascii_escaped(&display_name(dn)))
        }
        GeneralName::OtherName(o) => format!("otherName {}", o.type_id),
        GeneralName::IpAddress(ip) => match <[u8; 4]>::try_from(ip.as_bytes()) {
            Ok(v4) => format!("iPAddress {}", std::net::Ipv4Addr::from(v4)),
            Err(_) => match <[u8; 16]>::try_from(ip.as_bytes()) {
                Ok(v6) => format!("iPAddress {}", std::net::Ipv6Addr::from(v6)),
                Err(_) => format!("iPAddress {}", hex::encode(ip.as_bytes())),
            },
        },
        GeneralName::RegisteredId(oid) => format!("registeredID {oid}"),
        GeneralName::EdiPartyName(_) => "ediPartyName".into(),
    }
}
