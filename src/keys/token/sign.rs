//! Signing with a token key: the token's combined hash-and-sign mechanism when it lists one,
//! otherwise hashing on the host and a raw CKM_ECDSA / CKM_RSA_PKCS / CKM_RSA_PKCS_PSS. Every
//! signature is verified in software against the key's public key before it is returned.

use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsPssParams};
use cryptoki::mechanism::{Mechanism, MechanismType};

use super::{Token, TokenError, TokenKey, ck};
use crate::keys::{HashAlgorithm, KeyError, KeySigner, PublicKey, SignatureScheme};

/// A [`KeySigner`] for a key on a token.
pub struct TokenSigner<'t> {
    token: &'t Token,
    key: TokenKey,
    scheme: SignatureScheme,
}

impl<'t> TokenSigner<'t> {
    /// A signer for `key`, with the X.509 scheme its algorithm calls for.
    pub fn new(token: &'t Token, key: TokenKey) -> Result<Self, TokenError> {
        let scheme = key
            .public_key
            .algorithm()
            .ok_or_else(|| TokenError::UnusableKey {
                token: token.label().to_owned(),
                detail: format!(
                    "{} is not a key algorithm keyrite uses",
                    key.public_key.describe()
                ),
            })?
            .signature_scheme();
        Self::with_scheme(token, key, scheme)
    }

    /// A signer for `key` with `scheme`, which must be one the key's algorithm signs with.
    pub fn with_scheme(
        token: &'t Token,
        key: TokenKey,
        scheme: SignatureScheme,
    ) -> Result<Self, TokenError> {
        if !key
            .public_key
            .algorithm()
            .is_some_and(|a| scheme == a.signature_scheme() || scheme == a.notation_scheme())
        {
            return Err(TokenError::UnusableKey {
                token: token.label().to_owned(),
                detail: format!(
                    "a {} key does not sign with {scheme}",
                    key.public_key.describe()
                ),
            });
        }
        token.check_can_sign(scheme)?;
        Ok(Self { token, key, scheme })
    }

    fn token_sign(&self, message: &[u8]) -> Result<Vec<u8>, TokenError> {
        let (combined, raw) = signing_mechanisms(self.scheme);
        let session = self.token.session();
        if self.token.has_mechanism(combined.mechanism_type()) {
            return session
                .sign(&combined, self.key.private, message)
                .map_err(ck("signing"));
        }
        let hash: HashAlgorithm = self.scheme.hash();
        let digest = hash.digest(message);
        let input = if self.scheme.is_ecdsa() || self.scheme.is_pss() {
            digest
        } else {
            hash.digest_info(&digest)
                .map_err(|e| TokenError::Encoding(format!("the PKCS#1 DigestInfo: {e}")))?
        };
        session
            .sign(&raw, self.key.private, &input)
            .map_err(ck("signing"))
    }
}

/// The combined hash-and-sign mechanism for `scheme`, and the raw one used after hashing on
/// the host.
pub(super) fn signing_mechanisms(
    scheme: SignatureScheme,
) -> (Mechanism<'static>, Mechanism<'static>) {
    let pss = |hash_alg, mgf, s_len: u64| PkcsPssParams {
        hash_alg,
        mgf,
        s_len: s_len.into(),
    };
    match scheme {
        SignatureScheme::EcdsaSha256 => (Mechanism::EcdsaSha256, Mechanism::Ecdsa),
        SignatureScheme::EcdsaSha384 => (Mechanism::EcdsaSha384, Mechanism::Ecdsa),
        SignatureScheme::EcdsaSha512 => (Mechanism::EcdsaSha512, Mechanism::Ecdsa),
        SignatureScheme::RsaPkcs1Sha256 => (Mechanism::Sha256RsaPkcs, Mechanism::RsaPkcs),
        SignatureScheme::RsaPkcs1Sha384 => (Mechanism::Sha384RsaPkcs, Mechanism::RsaPkcs),
        SignatureScheme::RsaPkcs1Sha512 => (Mechanism::Sha512RsaPkcs, Mechanism::RsaPkcs),
        SignatureScheme::RsaPssSha256 => {
            let p = pss(MechanismType::SHA256, PkcsMgfType::MGF1_SHA256, 32);
            (Mechanism::Sha256RsaPkcsPss(p), Mechanism::RsaPkcsPss(p))
        }
        SignatureScheme::RsaPssSha384 => {
            let p = pss(MechanismType::SHA384, PkcsMgfType::MGF1_SHA384, 48);
            (Mechanism::Sha384RsaPkcsPss(p), Mechanism::RsaPkcsPss(p))
        }
        SignatureScheme::RsaPssSha512 => {
            let p = pss(MechanismType::SHA512, PkcsMgfType::MGF1_SHA512, 64);
            (Mechanism::Sha512RsaPkcsPss(p), Mechanism::RsaPkcsPss(p))
        }
    }
}

impl Token {
    /// Refuses unless the token can sign with `scheme`, combined or after host hashing.
    pub fn check_can_sign(&self, scheme: SignatureScheme) -> Result<(), TokenError> {
        let (combined, raw) = signing_mechanisms(scheme);
        if self.has_mechanism(combined.mechanism_type()) {
            Ok(())
        } else {
            self.require(raw, &format!("signing with {scheme}"))
        }
    }
}

impl KeySigner for TokenSigner<'_> {
    fn public_key(&self) -> &PublicKey {
        &self.key.public_key
    }

    fn scheme(&self) -> SignatureScheme {
        self.scheme
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        let out = self.token_sign(message)?;
        let public = &self.key.public_key;
        let signature = if self.scheme.is_ecdsa() {
            // PKCS#11 returns ECDSA as fixed-width r || s; X.509 wants DER.
            public
                .ecdsa_raw_to_der(&out)
                .ok_or_else(|| TokenError::UnusableKey {
                    token: self.token.label().to_owned(),
                    detail: format!(
                        "the token returned a {}-byte ECDSA signature, not r || s",
                        out.len()
                    ),
                })?
        } else {
            out
        };
        public
            .verify(self.scheme, message, &signature)
            .map_err(|source| TokenError::BadTokenSignature {
                token: self.token.label().to_owned(),
                source,
            })?;
        Ok(signature)
    }
}
