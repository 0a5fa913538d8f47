//! Roots made in memory, for bundles crafted field by field: an attacker's bundles are
//! signed by real keys with real CMS, only their payloads are chosen freely.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use der::{DateTime, Encode};
use keyrite::bundle::{Entry, Kind, MIN_FORMAT, Payload, Role, Statement};
use keyrite::fingerprint::Fingerprint;
use keyrite::keys::memory::MemoryKey;
use keyrite::keys::{KeyAlgorithm, KeySigner};
use x509_cert::Certificate;

use super::ceremony::CRL_URL;

/// A root made in memory: its key, certificate and DER.
pub struct MemoryRoot {
    pub key: MemoryKey,
    pub cert: Certificate,
    pub der: Vec<u8>,
}

/// `t` moved by `secs` seconds.
pub fn shift(t: DateTime, secs: i64) -> DateTime {
    let base = t.unix_duration();
    let moved = if secs >= 0 {
        base + Duration::from_secs(secs.unsigned_abs())
    } else {
        base - Duration::from_secs(secs.unsigned_abs())
    };
    DateTime::from_unix_duration(moved).unwrap()
}

/// A strict statement for `scopes` trusting any identity.
pub fn statement(name: &str, scopes: &[&str]) -> Statement {
    Statement {
        name: name.into(),
        registry_scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        level: "strict".into(),
        trusted_identities: vec!["*".into()],
        revocation: None,
        timestamps: false,
        verify_timestamp: None,
    }
}

impl MemoryRoot {
    /// A one-year P-256 root named `Memory Root`.
    pub fn new() -> MemoryRoot {
        Self::named("Memory Root")
    }

    /// A one-year P-256 root with common name `cn`.
    pub fn named(cn: &str) -> MemoryRoot {
        let validity = keyrite::pki::validity::Period::Years(1)
            .validity_from_now()
            .unwrap();
        Self::valid(cn, validity)
    }

    /// A P-256 root with common name `cn` valid in 2020 only: long expired.
    pub fn expired(cn: &str) -> MemoryRoot {
        use x509_cert::time::{Time, Validity};
        let at = |y: u16| Time::from(DateTime::new(y, 1, 1, 0, 0, 0).unwrap());
        Self::valid(cn, Validity::new(at(2020), at(2021)))
    }

    /// The root's certificate as a PEM file `dir/name`.
    pub fn write_pem(&self, dir: &Path, name: &str) -> PathBuf {
        let path = dir.join(name);
        fs::write(&path, keyrite::pki::pem("CERTIFICATE", &self.der).unwrap()).unwrap();
        path
    }

    /// A P-256 root with common name `cn` and `validity`.
    fn valid(cn: &str, validity: x509_cert::time::Validity) -> MemoryRoot {
        use keyrite::pki::check::CertProfile;
        use keyrite::pki::issue::issue;
        use keyrite::pki::profile::RootProfile;
        use x509_cert::serial_number::SerialNumber;

        let key = MemoryKey::generate(KeyAlgorithm::P256).unwrap();
        let subject =
            keyrite::pki::name::parse_subject(&format!("C=US,ST=WA,O=Example,CN={cn}")).unwrap();
        let der = issue(
            RootProfile { subject },
            CertProfile::Root,
            SerialNumber::new(&[0x4b, 0x52, 0x01]).unwrap(),
            validity,
            key.public_key().to_spki().unwrap(),
            &key,
        )
        .unwrap();
        let cert = <Certificate as der::Decode>::from_der(&der).unwrap();
        MemoryRoot { key, cert, der }
    }

    /// The root's fingerprint (hex): also the lineage it starts.
    pub fn lineage(&self) -> String {
        Fingerprint::of(&self.der).hex()
    }

    /// The trust store entry carrying this root.
    pub fn entry(&self) -> Entry {
        let fp = self.lineage();
        Entry {
            name: format!("ca/root-{}.crt", &fp[..16]),
            role: Role::Root,
            sha256: fp,
            der: data_encoding::BASE64.encode(&self.der),
            urls: Vec::new(),
        }
    }

    /// A valid trust payload of `version` for this root's own lineage, carrying it and
    /// declaring [`CRL_URL`], valid 30 days.
    pub fn payload(&self, version: u64) -> Payload {
        trust_payload(&self.lineage(), version, &[self])
    }

    /// A revocation payload of `version` for this root's lineage carrying an empty v2 CRL of
    /// this root (for [`CRL_URL`]) whose nextUpdate is `next_update`; the bundle expires at
    /// `expires_at`.
    pub fn revocation(&self, version: u64, next_update: DateTime, expires_at: DateTime) -> Payload {
        self.revocation_for(&self.lineage(), version, CRL_URL, next_update, expires_at)
    }

    /// A revocation payload of `version` for `lineage` carrying this root's empty CRL under
    /// `url`.
    pub fn revocation_for(
        &self,
        lineage: &str,
        version: u64,
        url: &str,
        next_update: DateTime,
        expires_at: DateTime,
    ) -> Payload {
        use x509_cert::certificate::Version;
        use x509_cert::crl::{CertificateList, TbsCertList};
        use x509_cert::time::Time;

        let now = keyrite::import::now().unwrap();
        let tbs: TbsCertList = TbsCertList {
            version: Version::V2,
            signature: self.key.scheme().algorithm_identifier(),
            issuer: self.cert.tbs_certificate().subject().clone(),
            this_update: Time::from(now),
            next_update: Some(Time::from(next_update)),
            revoked_certificates: None,
            crl_extensions: None,
        };
        let signature = self.key.sign(&tbs.to_der().unwrap()).unwrap();
        let der = CertificateList {
            tbs_cert_list: tbs,
            signature_algorithm: self.key.scheme().algorithm_identifier(),
            signature: der::asn1::BitString::from_bytes(&signature).unwrap(),
        }
        .to_der()
        .unwrap();
        Payload {
            format: MIN_FORMAT,
            kind: Kind::Revocation,
            lineage: lineage.into(),
            version,
            issued_at: now.to_string(),
            expires_at: expires_at.to_string(),
            entries: vec![Entry {
                name: format!("crl/{}.crl", &self.lineage()[..16]),
                role: Role::Crl,
                sha256: hex::encode(keyrite::keys::sha256(&der)),
                der: data_encoding::BASE64.encode(&der),
                urls: vec![url.into()],
            }],
            policy: Vec::new(),
            crl_urls: Vec::new(),
            third_parties: Vec::new(),
        }
    }

    /// Signs `payload` (any JSON) into `dir/name`.
    pub fn seal(&self, payload: &serde_json::Value, dir: &Path, name: &str) -> PathBuf {
        seal_by(&[self], payload, dir, name)
    }
}

/// A valid trust payload of `version` for `lineage` carrying `roots`, declaring
/// [`CRL_URL`], valid 30 days.
pub fn trust_payload(lineage: &str, version: u64, roots: &[&MemoryRoot]) -> Payload {
    let now = keyrite::import::now().unwrap();
    Payload {
        format: MIN_FORMAT,
        kind: Kind::Trust,
        lineage: lineage.into(),
        version,
        issued_at: now.to_string(),
        expires_at: shift(now, 30 * 86_400).to_string(),
        entries: roots.iter().map(|r| r.entry()).collect(),
        policy: Vec::new(),
        crl_urls: vec![CRL_URL.into()],
        third_parties: Vec::new(),
    }
}

/// Signs `payload` (any JSON) by every one of `signers` into `dir/name`.
pub fn seal_by(
    signers: &[&MemoryRoot],
    payload: &serde_json::Value,
    dir: &Path,
    name: &str,
) -> PathBuf {
    let json = serde_json::to_vec_pretty(payload).unwrap();
    let signers: Vec<(&dyn KeySigner, &Certificate)> = signers
        .iter()
        .map(|r| (&r.key as &dyn KeySigner, &r.cert))
        .collect();
    let der = keyrite::pki::cms::sign(&json, &signers, keyrite::import::now().unwrap()).unwrap();
    let path = dir.join(name);
    fs::write(&path, der).unwrap();
    path
}
