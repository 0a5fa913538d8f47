//! notation's plugin contract 1.0 for raw signature generation, as `notation-keyrite`
//! speaks it: `get-plugin-metadata`, `describe-key` and `generate-signature`, with JSON on
//! stdin and stdout and notation's error codes.
//!
//! The plugin runs unattended under `notation sign`: secrets come from the key URI's
//! pin-source, `KEYRITE_PIN`, `KEYRITE_KEY_PASSPHRASE` or the identity file named by
//! `KEYRITE_AGE_IDENTITY`, never from a prompt, and no error message carries one.

use std::collections::BTreeMap;

use data_encoding::BASE64;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::remote::{self, RemoteKey};

use keyrite::keys::KeyError;
use keyrite::keys::open::{KeyRef, OpenKey};
use keyrite::keys::seal::{Openers, SealError, read_identities};
use keyrite::keys::token::TokenError;
use keyrite::publisher::sign::{NotationKey, SignError, chain_base64};
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

impl Classify for SignError {
    fn code(&self) -> ErrorCode {
        match self {
            SignError::Mismatch(_) => ErrorCode::Validation,
            SignError::Key(k) => k.code(),
            SignError::Failed(_) => ErrorCode::Error,
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
    #[serde(default)]
    plugin_config: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GenerateSignatureRequest {
    contract_version: String,
    key_id: String,
    key_spec: String,
    hash_algorithm: String,
    payload: String,
    #[serde(default)]
    plugin_config: BTreeMap<String, String>,
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
            if remote::is_remote(&req.key_id) {
                let spec = RemoteKey::new(&req.key_id, &req.plugin_config)?.key_spec()?;
                return Ok(json!({"keyId": req.key_id, "keySpec": spec}));
            }
            let key = key_ref(&req.key_id)?;
            let public = public_key_of(&key, None).map_err(|e| unknown_key(&key, e))?;
            Ok(
                json!({"keyId": req.key_id, "keySpec": NotationKey::of(&public).map_err(classify)?.spec}),
            )
        }
        "generate-signature" => {
            let req: GenerateSignatureRequest = parse(request)?;
            check_version(&req.contract_version)?;
            if remote::is_remote(&req.key_id) {
                let key = RemoteKey::new(&req.key_id, &req.plugin_config)?;
                return key.sign(&req.key_id, req.payload, req.hash_algorithm, req.key_spec);
            }
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

/// Secrets for a key file, from the environment only.
pub(crate) fn openers() -> Result<Openers, PluginError> {
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
    let notation_key = NotationKey::of(&public).map_err(classify)?;
    notation_key
        .check_request(&req.key_spec, &req.hash_algorithm)
        .map_err(classify)?;
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
    let signature = notation_key
        .sign(&opened, &payload, &chain[0])
        .map_err(classify)?;
    Ok(json!({
        "keyId": req.key_id,
        "signature": BASE64.encode(&signature),
        "signingAlgorithm": notation_key.signing_algorithm(),
        "certificateChain": chain_base64(&chain).map_err(classify)?,
    }))
}
