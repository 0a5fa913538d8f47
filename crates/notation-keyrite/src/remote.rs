//! Keys held by a keyrite-signd signing host: a key id `https://HOST:PORT/v1/keys/NAME`, the
//! client certificate, its key and the CA that issued the service's certificate given in
//! notation's plugin config (`client-cert=…,client-key=…,ca=…`). The build machine holds no
//! signing key and no PIN; what the service refuses comes back as notation's error codes
//! with the service's reason.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{CONTENT_TYPE, HOST};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use keyrite::keys::open::{KeyRef, OpenKey};
use keyrite_signd_api::{ErrorBody, KeyList, PREFIX, SignRequest, SignResponse, tls};

use crate::protocol::{ErrorCode, PluginError};

/// The whole exchange with the service, from connecting to the last byte of its answer.
const TIMEOUT: Duration = Duration::from_secs(60);
/// Answers larger than this are refused: a chain and a signature are a few kilobytes.
const MAX_ANSWER_BYTES: usize = 1024 * 1024;

/// A key on a signing host, and how to reach it.
pub struct RemoteKey {
    /// `HOST:PORT`.
    authority: String,
    /// The host, as the service's certificate must name it.
    server_name: ServerName<'static>,
    /// The key's name on the service.
    name: String,
    /// The client's TLS set-up.
    tls: Arc<rustls::ClientConfig>,
}

/// Whether `key_id` names a key on a signing host.
pub fn is_remote(key_id: &str) -> bool {
    key_id.starts_with("https://")
}

fn invalid(message: impl Into<String>) -> PluginError {
    PluginError::new(ErrorCode::Validation, message)
}

impl RemoteKey {
    /// Parses `key_id` and sets up TLS from notation's `pluginConfig`.
    pub fn new(key_id: &str, config: &BTreeMap<String, String>) -> Result<Self, PluginError> {
        let usage = "give the key id as https://HOST:PORT/v1/keys/NAME";
        let uri: Uri = key_id
            .parse()
            .map_err(|e| invalid(format!("keyId '{key_id}': {e}; {usage}")))?;
        let (Some(host), Some(port)) = (uri.host(), uri.port_u16()) else {
            return Err(invalid(format!(
                "keyId '{key_id}' has no HOST:PORT; {usage}"
            )));
        };
        let name = uri
            .path()
            .strip_prefix(PREFIX)
            .and_then(|p| p.strip_prefix("/keys/"))
            .filter(|n| !n.is_empty() && !n.contains('/') && uri.query().is_none())
            .ok_or_else(|| invalid(format!("keyId '{key_id}' is not a key's URL; {usage}")))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let server_name = ServerName::try_from(host.to_owned())
            .map_err(|e| invalid(format!("keyId '{key_id}': {e}")))?;
        Ok(Self {
            authority: format!("{}:{port}", uri.host().unwrap_or(host)),
            server_name,
            name: name.to_owned(),
            tls: Arc::new(client_tls(config)?),
        })
    }

    /// The key's keySpec, from the service's list of the keys this client may use.
    pub fn key_spec(&self) -> Result<String, PluginError> {
        let list: KeyList = self.exchange(Method::GET, &format!("{PREFIX}/keys"), None::<&()>)?;
        list.keys
            .into_iter()
            .find(|k| k.name == self.name)
            .map(|k| k.key_spec)
            .ok_or_else(|| {
                PluginError::new(
                    ErrorCode::AccessDenied,
                    format!(
                        "keyrite-signd at {} has no key '{}' this client may use",
                        self.authority, self.name
                    ),
                )
            })
    }

    /// Asks the service to sign; the answer as notation's plugin contract carries it.
    pub fn sign(
        &self,
        key_id: &str,
        payload: String,
        hash_algorithm: String,
        key_spec: String,
    ) -> Result<Value, PluginError> {
        let request = SignRequest {
            payload,
            hash_algorithm,
            key_spec,
        };
        let path = format!("{PREFIX}/keys/{}/sign", self.name);
        let signed: SignResponse = self.exchange(Method::POST, &path, Some(&request))?;
        Ok(json!({
            "keyId": key_id,
            "signature": signed.signature,
            "signingAlgorithm": signed.signing_algorithm,
            "certificateChain": signed.certificate_chain,
        }))
    }

    /// One request on a connection of its own.
    fn exchange<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> Result<T, PluginError> {
        let unreachable = |e: String| {
            PluginError::new(
                ErrorCode::Error,
                format!("cannot reach keyrite-signd at {}: {e}", self.authority),
            )
        };
        let body = match body {
            Some(b) => serde_json::to_vec(b).map_err(|e| unreachable(e.to_string()))?,
            None => Vec::new(),
        };
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header(HOST, &self.authority)
            .header(CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| unreachable(e.to_string()))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| unreachable(e.to_string()))?;
        let (status, answer) = runtime
            .block_on(async { tokio::time::timeout(TIMEOUT, self.send(request)).await })
            .map_err(|_| unreachable(format!("no answer within {} s", TIMEOUT.as_secs())))?
            .map_err(unreachable)?;
        if status.is_success() {
            return serde_json::from_slice(&answer).map_err(|e| {
                unreachable(format!("its answer is not what the API documents: {e}"))
            });
        }
        let refusal: ErrorBody = serde_json::from_slice(&answer)
            .map_err(|_| unreachable(format!("it answered {status} without a refusal body")))?;
        let code = match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => ErrorCode::AccessDenied,
            StatusCode::BAD_REQUEST | StatusCode::NOT_FOUND | StatusCode::PAYLOAD_TOO_LARGE => {
                ErrorCode::Validation
            }
            _ => ErrorCode::Error,
        };
        let audit = refusal
            .audit_id
            .map_or_else(String::new, |id| format!(" (audit entry {id})"));
        Err(PluginError::new(
            code,
            format!(
                "keyrite-signd at {} refused: {}{audit}",
                self.authority, refusal.message
            ),
        ))
    }

    async fn send(&self, request: Request<Full<Bytes>>) -> Result<(StatusCode, Bytes), String> {
        let tcp = tokio::net::TcpStream::connect(&self.authority)
            .await
            .map_err(|e| e.to_string())?;
        let connector = tokio_rustls::TlsConnector::from(Arc::clone(&self.tls));
        let stream = connector
            .connect(self.server_name.clone(), tcp)
            .await
            .map_err(|e| format!("TLS: {e}"))?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| e.to_string())?;
        let driver = tokio::spawn(connection);
        let response = sender.send_request(request).await.map_err(|e| {
            // TLS 1.3 delivers a refused client certificate as an alert after the handshake.
            format!("{e}{}", source_chain(&e))
        })?;
        let status = response.status();
        let body = Limited::new(response.into_body(), MAX_ANSWER_BYTES)
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        driver.abort();
        Ok((status, body))
    }
}

/// The causes under an error, `: a: b`, where the alert a TLS peer sent is found.
fn source_chain(e: &dyn std::error::Error) -> String {
    let mut out = String::new();
    let mut cause = e.source();
    while let Some(c) = cause {
        out.push_str(&format!(": {c}"));
        cause = c.source();
    }
    out
}

/// The plugin config's settings this plugin reads.
const SETTINGS: [&str; 3] = ["client-cert", "client-key", "ca"];

/// notation's `--plugin-config` is one `KEY=VALUE` per flag, so `--plugin-config
/// client-cert=A,client-key=B,ca=C` arrives as `client-cert` = `A,client-key=B,ca=C`: such a
/// value is unpacked into its settings (a value whose comma is not followed by one of
/// [`SETTINGS`] stays whole, as a path may hold a comma).
fn unpack(config: &BTreeMap<String, String>) -> Result<BTreeMap<String, String>, PluginError> {
    let mut out = BTreeMap::new();
    for (key, value) in config {
        let mut parts = value.split(',');
        let mut current = (key.clone(), parts.next().unwrap_or_default().to_owned());
        let mut settings = Vec::new();
        for part in parts {
            match part.split_once('=') {
                Some((k, v)) if SETTINGS.contains(&k) => {
                    settings.push(std::mem::replace(
                        &mut current,
                        (k.to_owned(), v.to_owned()),
                    ));
                }
                _ => {
                    current.1.push(',');
                    current.1.push_str(part);
                }
            }
        }
        settings.push(current);
        for (k, v) in settings {
            if let Some(old) = out.insert(k.clone(), v.clone())
                && old != v
            {
                return Err(invalid(format!(
                    "plugin config {k} is given twice ({old} and {v}): give it once"
                )));
            }
        }
    }
    Ok(out)
}

/// TLS 1.3, the service's certificate checked against `ca`, the client's certificate and key
/// from `client-cert` and `client-key` (a keyrite key URI: `file:…` or `pkcs11:…`).
fn client_tls(config: &BTreeMap<String, String>) -> Result<rustls::ClientConfig, PluginError> {
    let config = unpack(config)?;
    let get = |name: &str| {
        config.get(name).ok_or_else(|| {
            invalid(format!(
                "a keyrite-signd key needs plugin config {name}: notation key add --plugin \
                 keyrite --id https://HOST:PORT/v1/keys/NAME --plugin-config \
                 client-cert=CERT.pem,client-key=file:KEY,ca=CA.pem"
            ))
        })
    };
    let mut roots = rustls::RootCertStore::empty();
    let ca =
        tls::read_certificates(Path::new(get("ca")?)).map_err(|e| invalid(format!("ca: {e}")))?;
    for cert in tls::to_rustls(&ca).map_err(invalid)? {
        roots.add(cert).map_err(|e| invalid(format!("ca: {e}")))?;
    }
    let chain = tls::read_certificates(Path::new(get("client-cert")?))
        .map_err(|e| invalid(format!("client-cert: {e}")))?;
    let key_ref: KeyRef = get("client-key")?
        .parse()
        .map_err(|e| invalid(format!("client-key: {e}")))?;
    let openers = crate::protocol::openers()?;
    let key = OpenKey::open(&key_ref, None, &openers)
        .map_err(|e| PluginError::new(ErrorCode::AccessDenied, format!("client-key: {e}")))?;
    let certified =
        tls::certified_key(key, &chain).map_err(|e| invalid(format!("client-cert: {e}")))?;
    let mut client = rustls::ClientConfig::builder_with_provider(tls::provider())
        .with_protocol_versions(tls::VERSIONS)
        .map_err(|e| invalid(e.to_string()))?
        .with_root_certificates(roots)
        .with_client_cert_resolver(Arc::new(rustls::sign::SingleCertAndKey::from(certified)));
    client.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(client)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn a_packed_plugin_config_is_unpacked_and_a_comma_in_a_path_kept() {
        let packed = map(&[("client-cert", "/c,1.pem,client-key=file:/k,ca=/ca.pem")]);
        assert_eq!(
            unpack(&packed).unwrap(),
            map(&[
                ("client-cert", "/c,1.pem"),
                ("client-key", "file:/k"),
                ("ca", "/ca.pem")
            ])
        );
        let separate = map(&[
            ("client-cert", "/c.pem"),
            ("client-key", "file:/k"),
            ("ca", "/ca"),
        ]);
        assert_eq!(unpack(&separate).unwrap(), separate);
        let twice = map(&[("client-cert", "/c.pem,ca=/a"), ("ca", "/b")]);
        let e = unpack(&twice).err().unwrap();
        assert!(e.message.contains("ca is given twice"), "{}", e.message);
    }
}
