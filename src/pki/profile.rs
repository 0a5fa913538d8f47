//! Certificate profiles as x509-cert builder profiles: which issuer and which extensions.
//! Criticality is set here explicitly rather than left to the extension types' defaults.

use der::Encode;
use der::asn1::Ia5String;
use der::asn1::OctetString;
use der::oid::AssociatedOid;
use spki::SubjectPublicKeyInfoRef;
use x509_cert::builder::profile::BuilderProfile;
use x509_cert::certificate::TbsCertificate;
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::crl::dp::DistributionPoint;
use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, CrlDistributionPoints, ExtendedKeyUsage, KeyUsage,
    KeyUsages, SubjectKeyIdentifier,
};

use super::check::CODE_SIGNING;
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

/// Which delegate certificate to issue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DelegateKind {
    /// A publisher's signing certificate.
    Signing,
    /// A delegate CA a publisher's build system issues from.
    Ca,
}

/// A delegate certificate issued by the root from a publisher's CSR.
pub struct DelegateProfile {
    /// Signing or CA.
    pub kind: DelegateKind,
    /// The CSR's subject, as the publisher encoded it.
    pub subject: Name,
    /// The root's subject (byte for byte).
    pub issuer: Name,
    /// The root's subject key identifier.
    pub issuer_key_id: Vec<u8>,
    /// Where the root publishes the CRL that covers this certificate.
    pub crl_url: Option<String>,
    /// The subjectAltName the publisher asked for (signing certificates only).
    pub subject_alt_name: Option<Extension>,
}

impl BuilderProfile for DelegateProfile {
    fn get_issuer(&self, _subject: &Name) -> Name {
        self.issuer.clone()
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
        let ca = self.kind == DelegateKind::Ca;
        let bc = BasicConstraints {
            ca,
            path_len_constraint: ca.then_some(0),
        };
        let ku = KeyUsage(if ca {
            KeyUsages::KeyCertSign | KeyUsages::CRLSign
        } else {
            KeyUsages::DigitalSignature.into()
        });
        let aki = AuthorityKeyIdentifier {
            key_identifier: Some(OctetString::new(self.issuer_key_id.clone())?),
            authority_cert_issuer: None,
            authority_cert_serial_number: None,
        };
        let mut exts = vec![
            extension(&bc, true)?,
            extension(&ku, true)?,
            extension(&SubjectKeyIdentifier::try_from(spk)?, false)?,
            extension(&aki, false)?,
        ];
        if !ca {
            exts.push(extension(&ExtendedKeyUsage(vec![CODE_SIGNING]), false)?);
        }
        if let Some(url) = &self.crl_url {
            let point = DistributionPoint {
                distribution_point: Some(DistributionPointName::FullName(vec![
                    GeneralName::UniformResourceIdentifier(Ia5String::new(url)?),
                ])),
                reasons: None,
                crl_issuer: None,
            };
            exts.push(extension(&CrlDistributionPoints(vec![point]), false)?);
        }
        if let (false, Some(san)) = (ca, &self.subject_alt_name) {
            exts.push(san.clone());
        }
        Ok(exts)
    }
}
