//! Keys on the token: generation inside it, import of a software-generated EC key, and
//! removal of a key a failed ceremony step just made.

use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use der::Encode;
use der::asn1::OctetString;
use zeroize::Zeroizing;

use super::sign::signing_mechanisms;
use super::{Token, TokenError, ck};
use crate::keys::{KeyAlgorithm, PublicKey};

/// The label and id a new key gets.
#[derive(Clone, Debug)]
pub struct KeyTemplate {
    /// CKA_LABEL.
    pub label: String,
    /// CKA_ID.
    pub id: Vec<u8>,
    /// Whether the key also signs for notation (RSASSA-PSS, for an RSA key) besides its X.509
    /// scheme; CA keys do not.
    pub notation: bool,
}

/// A key pair on the token.
#[derive(Clone, Debug)]
pub struct TokenKey {
    /// The private key object.
    pub private: ObjectHandle,
    /// The public key object, when the token keeps one.
    pub public: Option<ObjectHandle>,
    /// CKA_LABEL.
    pub label: String,
    /// CKA_ID.
    pub id: Vec<u8>,
    /// The key's public half, read back from the token.
    pub public_key: PublicKey,
}

/// Attributes every private key keyrite makes carries: on the token, private, sensitive,
/// never extractable, and good for signing only — with the algorithm's signing mechanisms
/// and nothing else, so an RSA key cannot be driven through raw CKM_RSA_X_509 (a decryption).
fn private_key_policy(t: &KeyTemplate, alg: KeyAlgorithm) -> Vec<Attribute> {
    let mut schemes = vec![alg.signature_scheme()];
    if t.notation && alg.notation_scheme() != alg.signature_scheme() {
        schemes.push(alg.notation_scheme());
    }
    let mut allowed = Vec::new();
    for scheme in schemes {
        let (combined, raw) = signing_mechanisms(scheme);
        allowed.extend([combined.mechanism_type(), raw.mechanism_type()]);
    }
    vec![
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Sign(true),
        Attribute::SignRecover(false),
        Attribute::Decrypt(false),
        Attribute::Unwrap(false),
        Attribute::Derive(false),
        Attribute::AllowedMechanisms(allowed),
        Attribute::Label(t.label.as_bytes().to_vec()),
        Attribute::Id(t.id.clone()),
    ]
}

/// Attributes of the public half. CKA_VERIFY and CKA_ENCRYPT are left to the token: keyrite
/// verifies in software, encrypting to a public key reveals nothing, and tpm2-pkcs11 maps
/// both onto TPM object bits shared with the private key (CKA_ENCRYPT=false clears the
/// sign bit; CKA_VERIFY must equal the private key's CKA_DECRYPT).
fn public_key_policy(t: &KeyTemplate) -> Vec<Attribute> {
    vec![
        Attribute::Token(true),
        Attribute::Private(false),
        Attribute::Wrap(false),
        Attribute::Derive(false),
        Attribute::Label(t.label.as_bytes().to_vec()),
        Attribute::Id(t.id.clone()),
    ]
}

/// The DER curve OID PKCS#11 wants in CKA_EC_PARAMS.
pub(super) fn ec_params(alg: KeyAlgorithm) -> Result<Vec<u8>, TokenError> {
    let oid = alg.curve_oid().ok_or_else(|| {
        TokenError::Encoding(format!("EC parameters for {alg}, not an EC algorithm"))
    })?;
    oid.to_der()
        .map_err(|e| TokenError::Encoding(format!("the curve OID: {e}")))
}

impl Token {
    /// Refuses if any object on the token already carries the template's label or id.
    pub fn ensure_unused(&self, t: &KeyTemplate) -> Result<(), TokenError> {
        let by_label = self
            .session()
            .find_objects(&[Attribute::Label(t.label.as_bytes().to_vec())])
            .map_err(ck("searching for objects"))?;
        if !by_label.is_empty() {
            return Err(TokenError::ObjectExists {
                token: self.label().to_owned(),
                what: format!("label '{}'", t.label),
            });
        }
        let by_id = self
            .session()
            .find_objects(&[Attribute::Id(t.id.clone())])
            .map_err(ck("searching for objects"))?;
        if !by_id.is_empty() {
            return Err(TokenError::ObjectExists {
                token: self.label().to_owned(),
                what: format!("id {}", hex::encode(&t.id)),
            });
        }
        Ok(())
    }

    /// Generates a key pair inside the token: it never leaves it.
    pub fn generate_key(&self, alg: KeyAlgorithm, t: &KeyTemplate) -> Result<TokenKey, TokenError> {
        self.ensure_unused(t)?;
        let mut public = public_key_policy(t);
        let private = private_key_policy(t, alg);
        let mechanism = match alg.rsa_bits() {
            Some(bits) => {
                self.require(Mechanism::RsaPkcsKeyPairGen, "RSA key generation")?;
                public.push(Attribute::ModulusBits((bits as u64).into()));
                public.push(Attribute::PublicExponent(vec![0x01, 0x00, 0x01]));
                Mechanism::RsaPkcsKeyPairGen
            }
            None => {
                self.require(Mechanism::EccKeyPairGen, "EC key generation")?;
                public.push(Attribute::EcParams(ec_params(alg)?));
                Mechanism::EccKeyPairGen
            }
        };
        let (public, private) = self
            .session()
            .generate_key_pair(&mechanism, &public, &private)
            .map_err(ck(format!("generating an {alg} key pair")))?;
        let read = self.read_public_key(private, Some(public));
        match read {
            Ok(public_key) => Ok(TokenKey {
                private,
                public: Some(public),
                label: t.label.clone(),
                id: t.id.clone(),
                public_key,
            }),
            // Leave nothing half-made behind.
            Err(e) => Err(self.discard(&[private, public], t, e)),
        }
    }

    /// Imports a software-generated EC private key (big-endian scalar) as sensitive,
    /// non-extractable and sign-only, with its public key beside it. The caller zeroizes its
    /// own copy; the attribute buffers built here are zeroized before returning.
    pub fn import_ec_key(
        &self,
        alg: KeyAlgorithm,
        scalar: &Zeroizing<Vec<u8>>,
        public_key: &PublicKey,
        t: &KeyTemplate,
    ) -> Result<TokenKey, TokenError> {
        self.ensure_unused(t)?;
        if public_key.algorithm() != Some(alg) || alg.curve_oid().is_none() {
            return Err(TokenError::UnusableKey {
                token: self.label().to_owned(),
                detail: format!("only EC keys are imported, and the public key must be {alg}"),
            });
        }
        let params = ec_params(alg)?;
        let point = public_key_point(public_key)?;
        let mut private = private_key_policy(t, alg);
        private.extend([
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::KeyType(KeyType::EC),
            Attribute::EcParams(params.clone()),
            Attribute::Value(scalar.to_vec()),
        ]);
        let created = self.session().create_object(&private);
        for attr in &mut private {
            if let Attribute::Value(v) = attr {
                zeroize::Zeroize::zeroize(v);
            }
        }
        let private = created.map_err(ck("importing the private key"))?;
        let mut public = public_key_policy(t);
        public.extend([
            Attribute::Class(ObjectClass::PUBLIC_KEY),
            Attribute::KeyType(KeyType::EC),
            Attribute::EcParams(params),
            Attribute::EcPoint(point),
        ]);
        let public = match self.session().create_object(&public) {
            Ok(h) => h,
            Err(e) => {
                return Err(self.discard(&[private], t, ck("importing the public key")(e)));
            }
        };
        Ok(TokenKey {
            private,
            public: Some(public),
            label: t.label.clone(),
            id: t.id.clone(),
            public_key: public_key.clone(),
        })
    }

    /// Removes `objects` just made for `t` after `cause`; says so if any cannot be removed.
    fn discard(&self, objects: &[ObjectHandle], t: &KeyTemplate, cause: TokenError) -> TokenError {
        let failed = objects
            .iter()
            .map(|o| self.session().destroy_object(*o))
            .fold(Ok(()), Result::and);
        match failed {
            Ok(()) => cause,
            Err(source) => TokenError::Undo {
                cause: Box::new(cause),
                cleanup: Box::new(TokenError::Cleanup {
                    token: self.label().to_owned(),
                    label: t.label.clone(),
                    id: hex::encode(&t.id),
                    source: Box::new(source),
                }),
            },
        }
    }

    /// Removes every private and public key object with both `label` and `id`, including half
    /// of a pair an interrupted key creation left; returns how many it removed. For undoing an
    /// unfinished key creation only.
    pub fn destroy_keys(&self, label: &str, id: &[u8]) -> Result<usize, TokenError> {
        let mut removed = 0;
        for class in [ObjectClass::PRIVATE_KEY, ObjectClass::PUBLIC_KEY] {
            let found = self
                .session()
                .find_objects(&[
                    Attribute::Class(class),
                    Attribute::Label(label.as_bytes().to_vec()),
                    Attribute::Id(id.to_vec()),
                ])
                .map_err(ck("searching for objects"))?;
            for obj in found {
                self.session()
                    .destroy_object(obj)
                    .map_err(|source| TokenError::Cleanup {
                        token: self.label().to_owned(),
                        label: label.to_owned(),
                        id: hex::encode(id),
                        source: Box::new(source),
                    })?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// The labels of every object with CKA_ID `id`.
    pub fn labels_with_id(&self, id: &[u8]) -> Result<Vec<String>, TokenError> {
        self.session()
            .find_objects(&[Attribute::Id(id.to_vec())])
            .map_err(ck("searching for objects"))?
            .into_iter()
            .map(|obj| self.label_and_id(obj).map(|(label, _)| label))
            .collect()
    }

    /// Gives both halves of a key pair the label `label`.
    pub fn relabel_key(&self, key: &TokenKey, label: &str) -> Result<(), TokenError> {
        // The public half first: an interruption in between leaves the private key, which
        // finds the pair, under the pending label, and nothing is half-confirmed.
        for obj in key.public.into_iter().chain(std::iter::once(key.private)) {
            self.session()
                .update_attributes(obj, &[Attribute::Label(label.as_bytes().to_vec())])
                .map_err(ck("labelling the key"))?;
        }
        Ok(())
    }

    /// Removes a key pair (used only to undo a key made by a step that then failed): the
    /// private key first, then the public one, trying both whatever happens.
    pub fn destroy_key(&self, key: &TokenKey) -> Result<(), TokenError> {
        let private = self.session().destroy_object(key.private);
        let public = key
            .public
            .map_or(Ok(()), |p| self.session().destroy_object(p));
        private.and(public).map_err(|source| TokenError::Cleanup {
            token: self.label().to_owned(),
            label: key.label.clone(),
            id: hex::encode(&key.id),
            source: Box::new(source),
        })
    }

    pub(super) fn label_and_id(&self, obj: ObjectHandle) -> Result<(String, Vec<u8>), TokenError> {
        let attrs = self
            .session()
            .get_attributes(obj, &[AttributeType::Label, AttributeType::Id])
            .map_err(ck("reading key attributes"))?;
        let mut label = String::new();
        let mut id = Vec::new();
        for a in attrs {
            match a {
                Attribute::Label(l) => label = String::from_utf8_lossy(&l).into_owned(),
                Attribute::Id(i) => id = i,
                _ => {}
            }
        }
        Ok((label, id))
    }
}

/// The DER-wrapped uncompressed point PKCS#11 wants in CKA_EC_POINT.
fn public_key_point(key: &PublicKey) -> Result<Vec<u8>, TokenError> {
    let raw = match key {
        PublicKey::P256(k) => k.to_sec1_point(false).as_bytes().to_vec(),
        PublicKey::P384(k) => k.to_sec1_point(false).as_bytes().to_vec(),
        PublicKey::P521(k) => k.to_sec1_point(false).as_bytes().to_vec(),
        PublicKey::Rsa(_) => Vec::new(),
    };
    OctetString::new(raw)
        .and_then(|o| o.to_der())
        .map_err(|e| TokenError::Encoding(format!("the EC point: {e}")))
}
