//! The HTTPS service: mutual TLS 1.3, then HTTP/1.1 with JSON bodies. A request is decided in
//! this order: who the client is, whether it may use the key, its rate, room in the queue, the
//! body (size, time, JSON), whether the payload is what notation signs, then the signature,
//! verified and recorded before it is returned. See docs/signd-api.md.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use data_encoding::BASE64;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio_rustls::TlsAcceptor;

use keyrite::notation::payload;
use keyrite_signd_api::{ErrorBody, Health, KeyInfo, KeyList, PREFIX, SignRequest, SignResponse};

use crate::audit::{AuditLog, Record};
use crate::clients::{self, Client, Peer};
use crate::config::{ClientConfig, Limits};
use crate::keys::SigningKey;

/// What one instance serves.
pub struct Service {
    keys: BTreeMap<String, Arc<SigningKey>>,
    clients: Vec<Client>,
    audit: Arc<Mutex<AuditLog>>,
    queue: Arc<Semaphore>,
    limits: Limits,
}

/// A refusal: status, code, message, and seconds to wait when retrying makes sense.
struct Refusal {
    status: StatusCode,
    code: &'static str,
    message: String,
    retry_after: Option<u64>,
    /// What the audit log records instead of `message`, when that quotes the payload.
    recorded: Option<String>,
}

impl Refusal {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
            recorded: None,
        }
    }

    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad-request", message)
    }
}

impl Service {
    /// The service over opened keys, the configured clients and an open audit log.
    pub fn new(
        keys: Vec<SigningKey>,
        clients: &[ClientConfig],
        audit: AuditLog,
        limits: Limits,
    ) -> Result<Self, String> {
        let clients = clients
            .iter()
            .map(Client::new)
            .collect::<Result<_, String>>()?;
        Ok(Self {
            keys: keys
                .into_iter()
                .map(|k| (k.name.clone(), Arc::new(k)))
                .collect(),
            clients,
            audit: Arc::new(Mutex::new(audit)),
            queue: Arc::new(Semaphore::new(limits.queue)),
            limits,
        })
    }

    /// Answers one request.
    async fn handle(self: Arc<Self>, peer: Peer, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let path = req.uri().path().to_owned();
        let method = req.method().clone();
        if path == "/healthz" {
            let ok = Health {
                status: "ok".into(),
            };
            return json(StatusCode::OK, &ok, None);
        }
        let client = peer.client.map(|i| &self.clients[i]);
        if path == format!("{PREFIX}/keys") {
            if method != Method::GET {
                return refused(
                    Refusal::new(StatusCode::METHOD_NOT_ALLOWED, "bad-request", "use GET"),
                    None,
                );
            }
            let keys = self
                .keys
                .values()
                .filter(|k| client.is_some_and(|c| c.keys.contains(&k.name)))
                .map(|k| KeyInfo {
                    name: k.name.clone(),
                    key_spec: k.notation.spec.to_owned(),
                    certificate_chain: k.chain_base64.clone(),
                })
                .collect();
            return json(StatusCode::OK, &KeyList { keys }, None);
        }
        let name = path
            .strip_prefix(PREFIX)
            .and_then(|p| p.strip_prefix("/keys/"))
            .and_then(|p| p.strip_suffix("/sign"))
            .filter(|n| !n.contains('/'));
        let Some(name) = name else {
            return refused(
                Refusal::new(
                    StatusCode::NOT_FOUND,
                    "not-found",
                    "no such endpoint: the API has GET /healthz, GET /v1/keys and POST /v1/keys/NAME/sign",
                ),
                None,
            );
        };
        if method != Method::POST {
            return refused(
                Refusal::new(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "bad-request",
                    "use POST to sign",
                ),
                None,
            );
        }
        let mut record = Record {
            client: peer.described.clone(),
            key: Some(name.to_owned()),
            ..Record::default()
        };
        let outcome = self.sign(client, name, req, &mut record).await;
        match outcome {
            Ok(response) => response,
            Err(refusal) => {
                record.refusal = Some(
                    refusal
                        .recorded
                        .clone()
                        .unwrap_or_else(|| refusal.message.clone()),
                );
                let id = self.record(record).await;
                refused(refusal, id)
            }
        }
    }

    /// The checks and the signature; every `Err` is recorded by the caller.
    async fn sign(
        &self,
        client: Option<&Client>,
        name: &str,
        req: Request<Incoming>,
        record: &mut Record,
    ) -> Result<Response<Full<Bytes>>, Refusal> {
        let Some(client) = client else {
            return Err(Refusal::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "this client certificate is not one a [[client]] entry names: ask the signing \
                 host's operators to add it",
            ));
        };
        let key = self
            .keys
            .get(name)
            .filter(|_| client.keys.contains(name))
            .ok_or_else(|| {
                Refusal::new(
                    StatusCode::FORBIDDEN,
                    "forbidden",
                    format!(
                        "key '{name}' is not one this client may use (GET /v1/keys lists them)"
                    ),
                )
            })?;
        if let Some(bucket) = &client.bucket {
            let taken = bucket
                .lock()
                .map_err(|_| internal("the rate limiter failed"))?
                .take();
            if let Err(wait) = taken {
                return Err(Refusal {
                    retry_after: Some(wait),
                    ..Refusal::new(
                        StatusCode::TOO_MANY_REQUESTS,
                        "rate-limited",
                        format!("over this client's rate limit: retry in {wait} s"),
                    )
                });
            }
        }
        let _queued = Arc::clone(&self.queue)
            .try_acquire_owned()
            .map_err(|_| Refusal {
                retry_after: Some(1),
                ..Refusal::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "busy",
                    "the signing queue is full: retry shortly",
                )
            })?;
        let body = self.body(req).await?;
        // The log records which rule a refusal broke, never the bytes that broke it.
        let request: SignRequest = serde_json::from_slice(&body).map_err(|e| Refusal {
            recorded: Some("the body is not a sign request (its JSON did not read)".into()),
            ..Refusal::bad_request(format!("the body is not a sign request: {e}"))
        })?;
        let payload = BASE64
            .decode(request.payload.as_bytes())
            .map_err(|e| Refusal::bad_request(format!("payload is not standard base64: {e}")))?;
        record.payload_sha256 = Some(hex::encode(Sha256::digest(&payload)));
        key.notation
            .check_request(&request.key_spec, &request.hash_algorithm)
            .map_err(|e| Refusal::bad_request(e.to_string()))?;
        let input = payload::recognize(&payload).map_err(|e| Refusal {
            recorded: Some(format!("not a notation payload: {}", e.rule())),
            ..Refusal::new(
                StatusCode::BAD_REQUEST,
                "not-a-notation-payload",
                e.to_string(),
            )
        })?;
        record.artifact_digest = Some(input.target.digest.clone());
        record.artifact_media_type = Some(input.target.media_type.clone());
        if input.signing_algorithm != key.notation.signing_algorithm() {
            return Err(Refusal::new(
                StatusCode::BAD_REQUEST,
                "not-a-notation-payload",
                format!(
                    "the payload's header names {}, but key '{name}' signs with {}",
                    input.signing_algorithm,
                    key.notation.signing_algorithm()
                ),
            ));
        }
        if let Some(allowed) = &client.media_types
            && !allowed.contains(&input.target.media_type)
        {
            return Err(Refusal::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!(
                    "this client may not sign artifacts of media type {}",
                    input.target.media_type
                ),
            ));
        }
        let audit = Arc::clone(&self.audit);
        let signed_record = record.clone();
        let (signed, audit_id) = key
            .sign(payload, move |signed| match signed {
                Ok(_) => Some(append(&audit, signed_record)),
                Err(_) => None,
            })
            .await
            .map_err(internal)?;
        let signature = signed.map_err(|e| internal(format!("key '{name}': {e}")))?;
        let audit_id = match audit_id {
            Some(Ok(id)) => id,
            _ => {
                return Err(internal(
                    "the audit log could not be written, so the signature is withheld",
                ));
            }
        };
        Ok(json(
            StatusCode::OK,
            &SignResponse {
                signature: BASE64.encode(&signature),
                signing_algorithm: key.notation.signing_algorithm().to_owned(),
                certificate_chain: key.chain_base64.clone(),
                audit_id,
            },
            None,
        ))
    }

    /// Reads a body of at most `max_body_bytes`, arriving within the request timeout.
    async fn body(&self, req: Request<Incoming>) -> Result<Bytes, Refusal> {
        let max = self.limits.max_body_bytes;
        let too_large = || {
            Refusal::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too-large",
                format!(
                    "the body is larger than {max} bytes; notation's payloads are a few kilobytes"
                ),
            )
        };
        let declared = req
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > max as u64) {
            return Err(too_large());
        }
        let timeout = self.limits.request_timeout();
        match tokio::time::timeout(timeout, Limited::new(req.into_body(), max).collect()).await {
            Err(_) => Err(Refusal::new(
                StatusCode::REQUEST_TIMEOUT,
                "bad-request",
                format!("the body did not arrive within {} s", timeout.as_secs()),
            )),
            Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => Err(too_large()),
            Ok(Err(e)) => Err(Refusal::bad_request(format!(
                "reading the body failed: {e}"
            ))),
            Ok(Ok(collected)) => Ok(collected.to_bytes()),
        }
    }

    /// Records a refusal, off the async threads; its id, or `None` when the log failed.
    async fn record(&self, record: Record) -> Option<u64> {
        let audit = Arc::clone(&self.audit);
        match tokio::task::spawn_blocking(move || append(&audit, record)).await {
            Ok(Ok(id)) => Some(id),
            Ok(Err(e)) => {
                eprintln!("keyrite-signd: {e}");
                None
            }
            Err(e) => {
                eprintln!("keyrite-signd: the audit task failed: {e}");
                None
            }
        }
    }

    /// Serves `listener` until `stop` says so, then lets in-flight requests finish.
    pub async fn serve(
        self: Arc<Self>,
        listener: TcpListener,
        tls: TlsAcceptor,
        mut stop: watch::Receiver<bool>,
    ) {
        let connections = Arc::new(Semaphore::new(self.limits.max_connections));
        loop {
            let permit = tokio::select! {
                biased;
                _ = stop.changed() => break,
                p = Arc::clone(&connections).acquire_owned() => match p {
                    Ok(p) => p,
                    Err(_) => break,
                },
            };
            let (tcp, addr) = tokio::select! {
                biased;
                _ = stop.changed() => break,
                accepted = listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        eprintln!("keyrite-signd: accepting a connection: {e}");
                        continue;
                    }
                },
            };
            let service = Arc::clone(&self);
            let tls = tls.clone();
            let stop = stop.clone();
            tokio::spawn(async move {
                service.connection(tcp, addr, tls, stop).await;
                drop(permit);
            });
        }
        drop(listener);
        // In-flight requests finish; a connection still open after that is closed.
        let all = u32::try_from(self.limits.max_connections).unwrap_or(u32::MAX);
        let drained = connections.acquire_many(all);
        if tokio::time::timeout(self.limits.request_timeout() * 3, drained)
            .await
            .is_err()
        {
            eprintln!("keyrite-signd: some connections did not close in time");
        }
    }

    async fn connection(
        self: Arc<Self>,
        tcp: tokio::net::TcpStream,
        addr: SocketAddr,
        tls: TlsAcceptor,
        mut stop: watch::Receiver<bool>,
    ) {
        let timeout = self.limits.request_timeout();
        let stream = match tokio::time::timeout(timeout, tls.accept(tcp)).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                eprintln!("keyrite-signd: {addr}: refused in the TLS handshake: {e}");
                return;
            }
            Err(_) => {
                eprintln!(
                    "keyrite-signd: {addr}: no TLS handshake within {} s",
                    timeout.as_secs()
                );
                return;
            }
        };
        let peer = clients::identify(&self.clients, stream.get_ref().1.peer_certificates());
        let service = Arc::clone(&self);
        let handler = hyper::service::service_fn(move |req| {
            let service = Arc::clone(&service);
            let peer = peer.clone();
            async move { Ok::<_, Infallible>(service.handle(peer, req).await) }
        });
        let conn = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(timeout)
            .max_buf_size(64 * 1024)
            .serve_connection(TokioIo::new(stream), handler);
        let mut conn = std::pin::pin!(conn);
        tokio::select! {
            _ = conn.as_mut() => {}
            _ = stop.changed() => {
                conn.as_mut().graceful_shutdown();
                let _ = conn.await;
            }
        }
    }
}

/// Appends to the log; the error as one line for the service's own output.
fn append(audit: &Mutex<AuditLog>, record: Record) -> Result<u64, String> {
    let time = keyrite::sys::clock::now()
        .map(|t| t.to_string())
        .map_err(|e| format!("the clock: {e}"))?;
    audit
        .lock()
        .map_err(|_| "the audit log failed earlier".to_owned())?
        .append(&time, record)
        .map_err(|e| e.to_string())
}

fn internal(message: impl Into<String>) -> Refusal {
    let message = message.into();
    eprintln!("keyrite-signd: {message}");
    Refusal::new(StatusCode::INTERNAL_SERVER_ERROR, "error", message)
}

fn refused(refusal: Refusal, audit_id: Option<u64>) -> Response<Full<Bytes>> {
    let body = ErrorBody {
        code: refusal.code.to_owned(),
        message: refusal.message,
        audit_id,
    };
    json(refusal.status, &body, refusal.retry_after)
}

fn json(
    status: StatusCode,
    body: &impl Serialize,
    retry_after: Option<u64>,
) -> Response<Full<Bytes>> {
    let bytes = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
    let mut response = Response::new(Full::new(Bytes::from(bytes)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Some(secs) = retry_after {
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(secs.max(1)));
    }
    response
}
