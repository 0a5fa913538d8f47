//! Finding keys on a token by URI, and reading their public halves.

use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use der::Decode;
use der::asn1::OctetString;

use super::keys::{TokenKey, ec_params};
use super::uri::{ObjectType, Pkcs11Uri};
use super::{Token, TokenError, ck};
use crate::keys::{KeyAlgorithm, PublicKey};

impl Token {
    /// Finds the one private key `uri` selects by `object` and `id`, and its public key: the
    /// public key object with the same id (and label, when several share the id).
    pub fn find_key(&self, uri: &Pkcs11Uri) -> Result<TokenKey, TokenError> {
        if uri.object_type.is_some_and(|t| t != ObjectType::Private) {
            return Err(TokenError::UnusableKey {
                token: self.label().to_owned(),
                detail: format!(
                    "{uri} names a non-private object: keyrite selects private keys (type=private)"
                ),
            });
        }
        let mut template = vec![Attribute::Class(ObjectClass::PRIVATE_KEY)];
        if let Some(label) = &uri.object {
            template.push(Attribute::Label(label.as_bytes().to_vec()));
        }
        if let Some(id) = &uri.id {
            template.push(Attribute::Id(id.clone()));
        }
        let found = self
            .session()
            .find_objects(&template)
            .map_err(ck("searching for private keys"))?;
        let private = match found.as_slice() {
            [one] => *one,
            [] => {
                return Err(TokenError::NoSuchKey {
                    token: self.label().to_owned(),
                    uri: uri.to_string(),
                });
            }
            many => {
                return Err(TokenError::AmbiguousKey {
                    token: self.label().to_owned(),
                    uri: uri.to_string(),
                    count: many.len(),
                });
            }
        };
        let (label, id) = self.label_and_id(private)?;
        let public = self.find_public(&label, &id)?;
        let public_key = self.read_public_key(private, public)?;
        Ok(TokenKey {
            private,
            public,
            label,
            id,
            public_key,
        })
    }

    /// The public key object paired with a private key: same id, and same label when the id
    /// alone is shared by several.
    fn find_public(&self, label: &str, id: &[u8]) -> Result<Option<ObjectHandle>, TokenError> {
        let find = |template: &[Attribute]| {
            self.session()
                .find_objects(template)
                .map_err(ck("searching for the public key"))
        };
        let class = Attribute::Class(ObjectClass::PUBLIC_KEY);
        let by_id = find(&[class.clone(), Attribute::Id(id.to_vec())])?;
        let found = if by_id.len() > 1 {
            find(&[
                class,
                Attribute::Id(id.to_vec()),
                Attribute::Label(label.as_bytes().to_vec()),
            ])?
        } else {
            by_id
        };
        match found.as_slice() {
            [] => Ok(None),
            [one] => Ok(Some(*one)),
            _ => Err(TokenError::UnusableKey {
                token: self.label().to_owned(),
                detail: format!(
                    "several public keys share id {} and label '{label}', so keyrite cannot tell which \
                     belongs to the private key: give the keys distinct ids",
                    hex::encode(id)
                ),
            }),
        }
    }

    /// Reads the public half of a key pair: RSA from the private key's public attributes, EC
    /// from the public key object (whose EC_POINT may come DER-wrapped or raw).
    pub(super) fn read_public_key(
        &self,
        private: ObjectHandle,
        public: Option<ObjectHandle>,
    ) -> Result<PublicKey, TokenError> {
        let unusable = |detail: String| TokenError::UnusableKey {
            token: self.label().to_owned(),
            detail,
        };
        let attrs = self
            .session()
            .get_attributes(private, &[AttributeType::KeyType])
            .map_err(ck("reading the key type"))?;
        let key_type = attrs.iter().find_map(|a| match a {
            Attribute::KeyType(t) => Some(*t),
            _ => None,
        });
        if key_type == Some(KeyType::RSA) {
            let source = public.unwrap_or(private);
            let attrs = self
                .session()
                .get_attributes(
                    source,
                    &[AttributeType::Modulus, AttributeType::PublicExponent],
                )
                .map_err(ck("reading the RSA public key"))?;
            let (mut n, mut e) = (None, None);
            for a in attrs {
                match a {
                    Attribute::Modulus(m) => n = Some(m),
                    Attribute::PublicExponent(x) => e = Some(x),
                    _ => {}
                }
            }
            let (n, e) = n
                .zip(e)
                .ok_or_else(|| unusable("the token does not show the RSA modulus".into()))?;
            return PublicKey::from_rsa_parts(&n, &e).map_err(|e| unusable(e.to_string()));
        }
        if key_type != Some(KeyType::EC) {
            return Err(unusable("only EC and RSA keys are supported".into()));
        }
        let public = public.ok_or_else(|| {
            unusable(
                "no public key object with the same id: keyrite needs it to verify signatures"
                    .into(),
            )
        })?;
        let attrs = self
            .session()
            .get_attributes(public, &[AttributeType::EcParams, AttributeType::EcPoint])
            .map_err(ck("reading the EC public key"))?;
        let (mut params, mut point) = (None, None);
        for a in attrs {
            match a {
                Attribute::EcParams(p) => params = Some(p),
                Attribute::EcPoint(p) => point = Some(p),
                _ => {}
            }
        }
        let (params, point) = params
            .zip(point)
            .ok_or_else(|| unusable("the public key lacks EC_PARAMS or EC_POINT".into()))?;
        let alg = [KeyAlgorithm::P256, KeyAlgorithm::P384, KeyAlgorithm::P521]
            .into_iter()
            .find(|a| ec_params(*a).is_ok_and(|p| p == params))
            .ok_or_else(|| unusable("the key is on a curve keyrite does not use".into()))?;
        let raw = OctetString::from_der(&point)
            .ok()
            .filter(|inner| PublicKey::from_ec_point(alg, inner.as_bytes()).is_ok())
            .map(|inner| inner.as_bytes().to_vec())
            .unwrap_or(point);
        PublicKey::from_ec_point(alg, &raw).map_err(|e| unusable(e.to_string()))
    }
}
