//! notation's plugin contract 1.0 for raw signature generation, as `notation-keyrite`
//! speaks it: `get-plugin-metadata`, `describe-key` and `generate-signature`, with JSON on
//! stdin and stdout and notation's error codes.
//!
//! The plugin runs unattended under `notation sign`: secrets come from the key URI's
//! pin-source, `KEYRITE_PIN`, `KEYRITE_KEY_PASSPHRASE` or the identity file named by
//! `KEYRITE_AGE_IDENTITY`, never from a prompt, and no error message carries one.

use data_encoding::BASE64;
use der::Encode;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use keyrite::keys::open::{KeyRef, OpenKey};
use keyrite::keys::seal::{Openers, SealError, read_identities};
use keyrite::keys::token::TokenError;
use keyrite::keys::{HashAlgorithm, KeyAlgorithm, KeyError, PublicKey, SignatureScheme};
use keyrite::publisher::{
    AGE_IDENTITY_ENV, KEY_PASSPHRASE_ENV, PublisherError, public_key_of, recorded_chain,
};
/// The one contract version this plugin speaks.
pub const CONTRACT_VERSION: &str = "1.0";

/// notation's error codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    /// A malformed request, or a key that does not exist or does not fit the request.
    Validation,
    /// A contract version other than 1.0.
    UnsupportedContractVersion,
    /// A wrong or missing PIN or passphrase.
    AccessDenied,
    /// Anything else.
    Error,
}

impl ErrorCode {
    /// The code as notation spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Validation => "VALIDATION_ERROR",
            Self::UnsupportedContractVersion => "UNSUPPORTED_CONTRACT_VERSION",
            Self::AccessDenied => "ACCESS_DENIED",
            Self::Error => "ERROR",
        }
    }
}

/// A failed request: what notation is told on stderr.
#[derive(Debug)]
pub struct PluginError {
    /// The code.
    pub code: ErrorCode,
    /// What went wrong and what to do.
    pub message: String,
}

impl PluginError {
    pub(crate) fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// The error as the JSON object notation reads.
    pub fn to_json(&self) -> Value {
        json!({"errorCode": self.code.as_str(), "errorMessage": self.message})
    }
}

/// A keyrite error sorted into notation's codes: a key that is not there is the request's
/// fault, a wrong or missing secret is access denied, anything else a general error.
trait Classify: std::fmt::Display {
    /// notation's code for this error.
    fn code(&self) -> ErrorCode;
}

impl Classify for TokenError {
    fn code(&self) -> ErrorCode {
        match self {
            TokenError::WrongPin { .. } | TokenError::PinLocked(_) | TokenError::Pin(_) => {
                ErrorCode::AccessDenied
            }
            TokenError::NoSuchToken { .. }
            | TokenError::NoSuchKey { .. }
            | TokenError::AmbiguousKey { .. }
            | TokenError::AmbiguousToken { .. } => ErrorCode::Validation,
            _ => ErrorCode::Error,
        }
    }
}

impl Classify for KeyError {
    fn code(&self) -> ErrorCode {
        match self {
            KeyError::Token(t) => t.code(),
            KeyError::Seal(SealError::Denied(_)) => ErrorCode::AccessDenied,
            KeyError::Uri(_) => ErrorCode::Validation,
            _ => ErrorCode::Error,
        }
    }
}

impl Classify for PublisherError {
    fn code(&self) -> ErrorCode {
        match self {
            PublisherError::Key(k) => k.code(),
            PublisherError::Token(t) => t.code(),
            _ => ErrorCode::Error,
        }
    }
}

fn classify(e: impl Classify) -> PluginError {
    PluginError::new(e.code(), under_notation(e.to_string()))
}

/// A library message reworded for the plugin's place: under notation there is no `--module`
/// flag, only the plugin's environment and the key id.
fn under_notation(message: String) -> String {
    const NO_MODULE: &str = "no PKCS#11 module given";
    match message.find(NO_MODULE) {
        Some(at) => format!(
            "{}{NO_MODULE}: set KEYRITE_PKCS11_MODULE in the environment notation runs in, or \
             add module-path=PATH to the key id (notation key add --id)",
            &message[..at]
        ),
        None => message,
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DescribeKeyRequest {
    contract_version: String,
    key_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GenerateSignatureRequest {
    contract_version: String,
    key_id: String,
    key_spec: String,
    hash_algorithm: String,
    payload: String,
}

/// Answers one plugin command with its JSON request.
pub fn handle(command: &str, request: &[u8]) -> Result<Value, PluginError> {
    match command {
        "get-plugin-metadata" => {
            // The request carries only optional pluginConfig, but it must still be JSON.
            parse::<Value>(request)?;
            Ok(metadata())
        }
        "describe-key" => {
            let req: DescribeKeyRequest = parse(request)?;
            check_version(&req.contract_version)?;
            let key = key_ref(&req.key_id)?;
            let public = public_key_of(&key, None).map_err(|e| unknown_key(&key, e))?;
            Ok(json!({"keyId": req.key_id, "keySpec": key_spec(&public)?.0}))
        }
        "generate-signature" => {
            let req: GenerateSignatureRequest = parse(request)?;
            check_version(&req.contract_version)?;
            generate_signature(&req)
        }
        other => Err(PluginError::new(
            ErrorCode::Validation,
            format!(
                "unknown command '{other}': notation-keyrite answers get-plugin-metadata, \
                 describe-key and generate-signature"
            ),
        )),
    }
}

/// What `get-plugin-metadata` answers.
fn metadata() -> Value {
    json!({
        "name": "keyrite",
        "description": "Signs with publisher keys kept on PKCS#11 tokens or in age-sealed files by keyrite",
        "version": env!("CARGO_PKG_VERSION"),
        "url": "urn:keyrite:notation-keyrite",
        "supportedContractVersions": [CONTRACT_VERSION],
        "capabilities": ["SIGNATURE_GENERATOR.RAW"],
    })
}

fn parse<T: DeserializeOwned>(request: &[u8]) -> Result<T, PluginError> {
    serde_json::from_slice(request).map_err(|e| {
        PluginError::new(
            ErrorCode::Validation,
            format!("the request is not valid JSON for this command: {e}"),
        )
    })
}

fn check_version(version: &str) -> Result<(), PluginError> {
    if version == CONTRACT_VERSION {
        Ok(())
    } else {
        Err(PluginError::new(
            ErrorCode::UnsupportedContractVersion,
            format!(
                "contract version '{version}' is not supported: notation-keyrite speaks {CONTRACT_VERSION}"
            ),
        ))
    }
}

/// The key a key id names; a token's `module-path` only where [`crate::modules::confine`]
/// allows it.
fn key_ref(key_id: &str) -> Result<KeyRef, PluginError> {
    let mut key = key_id
        .parse()
        .map_err(|e: KeyError| PluginError::new(ErrorCode::Validation, format!("keyId: {e}")))?;
    if let KeyRef::Token(uri) = &mut key {
        crate::modules::confine(uri)?;
    }
    Ok(key)
}

/// A key whose public half cannot be found is an unknown key id, unless a secret was wrong.
fn unknown_key(key: &KeyRef, e: impl Classify) -> PluginError {
    let classified = classify(e);
    match (key, classified.code) {
        (KeyRef::File(_), ErrorCode::Error) => PluginError::new(
            ErrorCode::Validation,
            format!("unknown key {key}: {}", classified.message),
        ),
        _ => classified,
    }
}

/// notation's keySpec for `key`, and the scheme notation signs with for it.
fn key_spec(key: &PublicKey) -> Result<(&'static str, SignatureScheme), PluginError> {
    let alg = key.algorithm().ok_or_else(|| {
        PluginError::new(
            ErrorCode::Validation,
            format!(
                "the key is {}, which notation does not sign with",
                key.describe()
            ),
        )
    })?;
    let spec = match alg {
        KeyAlgorithm::P256 => "EC-256",
        KeyAlgorithm::P384 => "EC-384",
        KeyAlgorithm::P521 => "EC-521",
        KeyAlgorithm::Rsa2048 => "RSA-2048",
        KeyAlgorithm::Rsa3072 => "RSA-3072",
        KeyAlgorithm::Rsa4096 => "RSA-4096",
    };
    Ok((spec, alg.notation_scheme()))
}

fn hash_name(hash: HashAlgorithm) -> &'static str {
    match hash {
        HashAlgorithm::Sha256 => "SHA-256",
        HashAlgorithm::Sha384 => "SHA-384",
        HashAlgorithm::Sha512 => "SHA-512",
    }
}

/// notation's name for a signing algorithm: `ECDSA-SHA-256`, `RSASSA-PSS-SHA-384`, ….
fn signing_algorithm(scheme: SignatureScheme) -> String {
    let family = if scheme.is_ecdsa() {
        "ECDSA"
    } else {
        "RSASSA-PSS"
    };
    format!("{family}-{}", hash_name(scheme.hash()))
}

/// Secrets for a key file, from the environment only.
fn openers() -> Result<Openers, PluginError> {
    let identities = match std::env::var_os(AGE_IDENTITY_ENV) {
        Some(path) => read_identities(std::path::Path::new(&path)).map_err(|e| {
            PluginError::new(ErrorCode::AccessDenied, format!("{AGE_IDENTITY_ENV}: {e}"))
        })?,
        None => Vec::new(),
    };
    let passphrase = std::env::var(KEY_PASSPHRASE_ENV).ok().map(Into::into);
    Ok(Openers {
        identities,
        passphrase,
    })
}

fn generate_signature(req: &GenerateSignatureRequest) -> Result<Value, PluginError> {
    let key = key_ref(&req.key_id)?;
    // A token key is opened once, one login; a key file only after the request has been
    // checked against its public half.
    let token_key = match &key {
        KeyRef::Token(_) => {
            Some(OpenKey::open(&key, None, &Openers::default()).map_err(|e| unknown_key(&key, e))?)
        }
        KeyRef::File(_) => None,
    };
    let public = match &token_key {
        Some(opened) => opened.public_key().clone(),
        None => public_key_of(&key, None).map_err(|e| unknown_key(&key, e))?,
    };
    let (spec, scheme) = key_spec(&public)?;
    let hash = scheme.hash();
    if req.key_spec != spec {
        return Err(PluginError::new(
            ErrorCode::Validation,
            format!(
                "keySpec '{}' does not match the key, which is {spec}",
                req.key_spec
            ),
        ));
    }
    if req.hash_algorithm != hash_name(hash) {
        return Err(PluginError::new(
            ErrorCode::Validation,
            format!(
                "hashAlgorithm '{}' does not go with {spec}: notation pairs it with {}",
                req.hash_algorithm,
                hash_name(hash)
            ),
        ));
    }
    let payload = BASE64.decode(req.payload.as_bytes()).map_err(|e| {
        PluginError::new(ErrorCode::Validation, format!("payload is not base64: {e}"))
    })?;
    if payload.is_empty() {
        return Err(PluginError::new(ErrorCode::Validation, "payload is empty"));
    }
    let chain = recorded_chain(&key, &public).map_err(classify)?;
    let opened = match token_key {
        Some(opened) => opened,
        None => OpenKey::open(&key, None, &openers()?).map_err(classify)?,
    };
    let signature = opened.sign(scheme, &payload).map_err(classify)?;
    // Checked against the certificate notation will put in the envelope, not only the key.
    let leaf_key = keyrite::pki::verify::subject_key(&chain[0])
        .map_err(|e| PluginError::new(ErrorCode::Error, e))?;
    leaf_key.verify(scheme, &payload, &signature).map_err(|e| {
        PluginError::new(
            ErrorCode::Error,
            format!("the signature does not verify against the recorded leaf certificate: {e}"),
        )
    })?;
    let raw = if scheme.is_ecdsa() {
        public.ecdsa_der_to_raw(&signature).ok_or_else(|| {
            PluginError::new(
                ErrorCode::Error,
                "the ECDSA signature does not convert to r || s",
            )
        })?
    } else {
        signature
    };
    let certificate_chain = chain
        .iter()
        .map(|c| c.to_der().map(|der| BASE64.encode(&der)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| PluginError::new(ErrorCode::Error, format!("encoding the chain: {e}")))?;
    Ok(json!({
        "keyId": req.key_id,
        "signature": BASE64.encode(&raw),
        "signingAlgorithm": signing_algorithm(scheme),
        "certificateChain": certificate_chain,
    }))
}
