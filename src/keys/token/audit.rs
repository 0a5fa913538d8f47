//! The key audit: read back the attributes that say whether a private key can ever leave the
//! token, and judge them.

use cryptoki::mechanism::MechanismType;
use cryptoki::object::{Attribute, AttributeType};
use serde::Serialize;

use super::{Token, TokenError, TokenKey, ck};

/// Mechanisms that only sign: what a CA key may be allowed.
const SIGNING: &[MechanismType] = &[
    MechanismType::ECDSA,
    MechanismType::ECDSA_SHA256,
    MechanismType::ECDSA_SHA384,
    MechanismType::ECDSA_SHA512,
    MechanismType::RSA_PKCS,
    MechanismType::SHA256_RSA_PKCS,
    MechanismType::SHA384_RSA_PKCS,
    MechanismType::SHA512_RSA_PKCS,
    MechanismType::RSA_PKCS_PSS,
    MechanismType::SHA256_RSA_PKCS_PSS,
    MechanismType::SHA384_RSA_PKCS_PSS,
    MechanismType::SHA512_RSA_PKCS_PSS,
];

/// How the key came to be on the token, as its attributes tell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyOrigin {
    /// Generated inside the token: CKA_LOCAL, always sensitive, never extractable.
    GeneratedOnToken,
    /// Imported: not local, not always sensitive, not never extractable.
    Imported,
    /// The attributes are inconsistent or missing.
    Unknown,
}

/// What the token reports about a private key.
#[derive(Clone, Debug, Serialize)]
pub struct KeyAudit {
    /// Token label.
    pub token: String,
    /// CKA_LABEL.
    pub label: String,
    /// CKA_ID in hex.
    pub id: String,
    /// Key algorithm, e.g. "EC P-384".
    pub algorithm: String,
    /// CKA_TOKEN.
    pub token_object: Option<bool>,
    /// CKA_PRIVATE.
    pub private: Option<bool>,
    /// CKA_SENSITIVE.
    pub sensitive: Option<bool>,
    /// CKA_EXTRACTABLE.
    pub extractable: Option<bool>,
    /// CKA_ALWAYS_SENSITIVE.
    pub always_sensitive: Option<bool>,
    /// CKA_NEVER_EXTRACTABLE.
    pub never_extractable: Option<bool>,
    /// CKA_LOCAL.
    pub local: Option<bool>,
    /// CKA_SIGN.
    pub sign: Option<bool>,
    /// CKA_SIGN_RECOVER.
    pub sign_recover: Option<bool>,
    /// CKA_ALLOWED_MECHANISMS, when the token reports them.
    pub allowed_mechanisms: Option<Vec<String>>,
    /// Whether every allowed mechanism is a signing mechanism (None when not reported).
    #[serde(skip)]
    allowed_sign_only: Option<bool>,
    /// For an RSA key whose CKA_ALLOWED_MECHANISMS cannot be read: whether the token refused
    /// a raw RSA (CKM_RSA_X_509) signature when asked for one.
    pub raw_rsa_refused: Option<bool>,
    /// Whether the key is RSA (raw RSA could decrypt unless mechanisms are restricted).
    #[serde(skip)]
    is_rsa: bool,
    /// CKA_DECRYPT.
    pub decrypt: Option<bool>,
    /// CKA_UNWRAP.
    pub unwrap: Option<bool>,
    /// CKA_DERIVE.
    pub derive: Option<bool>,
    /// Generated on the token or imported.
    pub origin: KeyOrigin,
    /// What is wrong with the key's protection; empty when it is sound.
    pub problems: Vec<String>,
}

impl Token {
    /// Reads and judges the protection attributes of `key`'s private half.
    pub fn audit(&self, key: &TokenKey) -> Result<KeyAudit, TokenError> {
        let attrs = self
            .session()
            .get_attributes(
                key.private,
                &[
                    AttributeType::Token,
                    AttributeType::Private,
                    AttributeType::Sensitive,
                    AttributeType::Extractable,
                    AttributeType::AlwaysSensitive,
                    AttributeType::NeverExtractable,
                    AttributeType::Local,
                    AttributeType::Sign,
                    AttributeType::SignRecover,
                    AttributeType::Decrypt,
                    AttributeType::Unwrap,
                    AttributeType::Derive,
                ],
            )
            .map_err(ck("reading key attributes"))?;
        let mut a = KeyAudit {
            token: self.label().to_owned(),
            label: key.label.clone(),
            id: hex::encode(&key.id),
            algorithm: key.public_key.describe(),
            token_object: None,
            private: None,
            sensitive: None,
            extractable: None,
            always_sensitive: None,
            never_extractable: None,
            local: None,
            sign: None,
            sign_recover: None,
            allowed_mechanisms: None,
            allowed_sign_only: None,
            raw_rsa_refused: None,
            is_rsa: matches!(key.public_key, crate::keys::PublicKey::Rsa(_)),
            decrypt: None,
            unwrap: None,
            derive: None,
            origin: KeyOrigin::Unknown,
            problems: Vec::new(),
        };
        for attr in attrs {
            match attr {
                Attribute::Token(v) => a.token_object = Some(v),
                Attribute::Private(v) => a.private = Some(v),
                Attribute::Sensitive(v) => a.sensitive = Some(v),
                Attribute::Extractable(v) => a.extractable = Some(v),
                Attribute::AlwaysSensitive(v) => a.always_sensitive = Some(v),
                Attribute::NeverExtractable(v) => a.never_extractable = Some(v),
                Attribute::Local(v) => a.local = Some(v),
                Attribute::Sign(v) => a.sign = Some(v),
                Attribute::SignRecover(v) => a.sign_recover = Some(v),
                Attribute::Decrypt(v) => a.decrypt = Some(v),
                Attribute::Unwrap(v) => a.unwrap = Some(v),
                Attribute::Derive(v) => a.derive = Some(v),
                _ => {}
            }
        }
        // Read on its own: some modules (p11-kit's RPC client) fail the whole call on this
        // array attribute; that is reported as "not reported", never as sound.
        if let Ok(attrs) = self
            .session()
            .get_attributes(key.private, &[AttributeType::AllowedMechanisms])
        {
            for attr in attrs {
                if let Attribute::AllowedMechanisms(m) = attr
                    && !m.is_empty()
                {
                    a.allowed_sign_only = Some(m.iter().all(|m| SIGNING.contains(m)));
                    a.allowed_mechanisms = Some(m.iter().map(ToString::to_string).collect());
                }
            }
        }
        if a.is_rsa && a.allowed_sign_only.is_none() {
            a.raw_rsa_refused = Some(self.refuses_raw_rsa(key));
        }
        a.judge();
        Ok(a)
    }

    /// Asks the token for a raw RSA operation on `key` (over zeros, which reveals nothing)
    /// and reports whether it refused: proof of a mechanism restriction a module cannot
    /// report (p11-kit's RPC client reads no CKA_ALLOWED_MECHANISMS).
    fn refuses_raw_rsa(&self, key: &TokenKey) -> bool {
        use rsa::traits::PublicKeyParts;
        let crate::keys::PublicKey::Rsa(public) = &key.public_key else {
            return true;
        };
        let zeros = vec![0u8; public.size()];
        self.session()
            .sign(
                &cryptoki::mechanism::Mechanism::RsaX509,
                key.private,
                &zeros,
            )
            .is_err()
    }
}

impl KeyAudit {
    fn judge(&mut self) {
        let mut need = |value: Option<bool>, want: bool, what: &str| {
            if value != Some(want) {
                let shown = value.map_or("not reported".to_owned(), |v| v.to_string());
                self.problems
                    .push(format!("{what} is {shown}, should be {want}"));
            }
        };
        need(self.token_object, true, "CKA_TOKEN");
        need(self.private, true, "CKA_PRIVATE");
        need(self.sensitive, true, "CKA_SENSITIVE");
        need(self.extractable, false, "CKA_EXTRACTABLE");
        need(self.sign, true, "CKA_SIGN");
        need(self.decrypt, false, "CKA_DECRYPT");
        need(self.unwrap, false, "CKA_UNWRAP");
        need(self.derive, false, "CKA_DERIVE");
        if self.sign_recover == Some(true) {
            self.problems
                .push("CKA_SIGN_RECOVER is true, should be false".into());
        }
        match self.allowed_sign_only {
            Some(false) => self
                .problems
                .push("CKA_ALLOWED_MECHANISMS allows more than signing mechanisms".into()),
            None if self.is_rsa && self.raw_rsa_refused != Some(true) => self.problems.push(
                "CKA_ALLOWED_MECHANISMS is not set on an RSA key: raw RSA (CKM_RSA_X_509) would \
                 act as decryption"
                    .into(),
            ),
            _ => {}
        }
        self.origin = match (self.local, self.always_sensitive, self.never_extractable) {
            (Some(true), Some(true), Some(true)) => KeyOrigin::GeneratedOnToken,
            (Some(false), Some(false), Some(false)) => KeyOrigin::Imported,
            _ => KeyOrigin::Unknown,
        };
    }

    /// Whether the key's protection is sound.
    pub fn is_sound(&self) -> bool {
        self.problems.is_empty()
    }
}
