//! keyrite-signd's API, version 1: the JSON bodies the service and `notation-keyrite` exchange,
//! and the TLS set-up both ends share. See docs/signd-api.md.

pub mod tls;

use serde::{Deserialize, Serialize};

/// The path prefix of every versioned endpoint.
pub const PREFIX: &str = "/v1";

/// `GET /v1/keys`: the keys this client may use.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct KeyList {
    /// One entry per key.
    pub keys: Vec<KeyInfo>,
}

/// One key the service signs with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct KeyInfo {
    /// The key's name, the last segment of its URL.
    pub name: String,
    /// notation's keySpec: `EC-384`, `RSA-3072`, ….
    pub key_spec: String,
    /// The certificate chain, leaf first, each certificate's DER in standard base64.
    pub certificate_chain: Vec<String>,
}

/// `POST /v1/keys/{name}/sign`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SignRequest {
    /// What notation asks a plugin to sign, standard base64.
    pub payload: String,
    /// notation's hashAlgorithm: `SHA-256`, `SHA-384` or `SHA-512`.
    pub hash_algorithm: String,
    /// notation's keySpec, which must be the key's.
    pub key_spec: String,
}

/// A signature made.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SignResponse {
    /// The signature as notation takes it from a plugin (ECDSA `r || s`, RSASSA-PSS bytes),
    /// standard base64.
    pub signature: String,
    /// notation's signingAlgorithm: `ECDSA-SHA-384`, `RSASSA-PSS-SHA-256`, ….
    pub signing_algorithm: String,
    /// The certificate chain, leaf first, standard base64 DER.
    pub certificate_chain: Vec<String>,
    /// The id of the audit entry that records this signature.
    pub audit_id: u64,
}

/// Every refusal and error.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ErrorBody {
    /// A stable code: `unauthenticated`, `forbidden`, `not-found`, `bad-request`,
    /// `not-a-notation-payload`, `too-large`, `rate-limited`, `busy`, `error`.
    pub code: String,
    /// What is wrong and what to do, in a sentence.
    pub message: String,
    /// The audit entry that records the refusal, when the request got that far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_id: Option<u64>,
}

/// `GET /healthz`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Health {
    /// Always `ok`: an instance that answers is serving.
    pub status: String,
}
