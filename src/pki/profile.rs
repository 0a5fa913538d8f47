//! Certificate profiles as x509-cert builder profiles: which issuer and which extensions.
//! Criticality is set here explicitly rather than left to the extension types' defaults.

use der::Encode;
use der::asn1::OctetString;
use der::oid::AssociatedOid;
use spki::SubjectPublicKeyInfoRef;
use x509_cert::builder::profile::BuilderProfile;
use x509_cert::certificate::TbsCertificate;
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::{BasicConstraints, KeyUsage, KeyUsages, SubjectKeyIdentifier};
use x509_cert::name::Name;

/// The self-signed root CA profile.
pub struct RootProfile {
    /// Subject and issuer.
    pub subject: Name,
}

pub(super) fn extension<T: Encode + AssociatedOid>(
    value: &T,
    critical: bool,
) -> Result<Extension, der::Error> {
    Ok(Extension {
        extn_id: T::OID,
        critical,
        extn_value: OctetString::new(value.to_der()?)?,
    })
}

impl BuilderProfile for RootProfile {
    fn get_issuer(&self, _subject: &Name) -> Name {
        self.subject.clone()
    }

    fn get_subject(&self) -> Name {
        self.subject.clone()
    }

    fn build_extensions(
        &self,
        spk: SubjectPublicKeyInfoRef<'_>,
        _issuer_spk: SubjectPublicKeyInfoRef<'_>,
        _tbs: &TbsCertificate,
    ) -> x509_cert::builder::Result<Vec<Extension>> {
        let bc = BasicConstraints {
            ca: true,
            path_len_constraint: None,
        };
        let ku = KeyUsage(KeyUsages::KeyCertSign | KeyUsages::CRLSign);
        let ski = SubjectKeyIdentifier::try_from(spk)?;
        Ok(vec![
            extension(&bc, true)?,
            extension(&ku, true)?,
            extension(&ski, false)?,
        ])
    }
}
