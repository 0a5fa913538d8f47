//! Load for scripts/bench-signd: N clients on kept-alive mutual-TLS connections asking
//! keyrite-signd for signatures over one notation payload (`service`), or N threads signing the
//! same payload in-process with the same key (`raw`, the limit the service is held to). Prints
//! one line: clients, signatures, rate, p50 and p99 latency.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::{Parser, Subcommand};
use data_encoding::BASE64;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use keyrite::keys::open::{KeyRef, OpenKey};
use keyrite::keys::seal::Openers;
use keyrite::publisher::sign::NotationKey;
use keyrite_signd_api::tls;

#[derive(Parser)]
struct Cli {
    /// Concurrent clients (or threads).
    #[arg(long)]
    clients: usize,
    /// How long to run.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// The payload, standard base64, as notation sends it.
    #[arg(long)]
    payload: PathBuf,
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Subcommand)]
enum Mode {
    /// Through the service.
    Service {
        #[arg(long)]
        addr: String,
        #[arg(long)]
        cert: PathBuf,
        /// The client key, a keyrite key URI.
        #[arg(long)]
        key: String,
        #[arg(long)]
        ca: PathBuf,
        /// The service key's name.
        #[arg(long)]
        name: String,
        #[arg(long)]
        key_spec: String,
        #[arg(long)]
        hash: String,
    },
    /// In-process, one session per thread.
    Raw {
        /// The signing key, a keyrite key URI.
        #[arg(long)]
        key: String,
        /// Its chain (PEM).
        #[arg(long)]
        chain: PathBuf,
    },
}

fn main() -> Result<(), String> {
    let cli = Cli::parse();
    let text = std::fs::read_to_string(&cli.payload).map_err(|e| e.to_string())?;
    let payload_b64 = text.trim().to_owned();
    let payload = BASE64
        .decode(payload_b64.as_bytes())
        .map_err(|e| e.to_string())?;
    let duration = Duration::from_secs(cli.seconds);
    let mut latencies = match cli.mode {
        Mode::Raw { key, chain } => raw(&key, &chain, &payload, cli.clients, duration)?,
        Mode::Service {
            addr,
            cert,
            key,
            ca,
            name,
            key_spec,
            hash,
        } => {
            let body = serde_json::to_vec(&serde_json::json!({
                "payload": payload_b64, "hashAlgorithm": hash, "keySpec": key_spec,
            }))
            .map_err(|e| e.to_string())?;
            let tls = client_tls(&cert, &key, &ca)?;
            let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
            runtime.block_on(service(
                Arc::new(tls),
                addr,
                format!("/v1/keys/{name}/sign"),
                Bytes::from(body),
                cli.clients,
                duration,
            ))?
        }
    };
    latencies.sort();
    let n = latencies.len();
    let pct = |p: usize| {
        latencies
            .get((n * p / 100).min(n.saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    println!(
        "clients={} signatures={n} rate={:.1}/s p50={:.1}ms p99={:.1}ms",
        cli.clients,
        n as f64 / duration.as_secs_f64(),
        pct(50).as_secs_f64() * 1e3,
        pct(99).as_secs_f64() * 1e3,
    );
    Ok(())
}

fn raw(
    key: &str,
    chain: &std::path::Path,
    payload: &[u8],
    threads: usize,
    duration: Duration,
) -> Result<Vec<Duration>, String> {
    let key: KeyRef = key
        .parse()
        .map_err(|e: keyrite::keys::KeyError| e.to_string())?;
    let pem = std::fs::read(chain).map_err(|e| e.to_string())?;
    let openers = Openers {
        identities: Vec::new(),
        passphrase: std::env::var("KEYRITE_KEY_PASSPHRASE").ok().map(Into::into),
    };
    let sessions = (0..threads)
        .map(|_| OpenKey::open(&key, None, &openers).map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    let certs = keyrite::publisher::check_chain(&pem, sessions[0].public_key(), "chain")
        .map_err(|e| e.to_string())?;
    let notation = NotationKey::of(sessions[0].public_key()).map_err(|e| e.to_string())?;
    let deadline = Instant::now() + duration;
    std::thread::scope(|s| {
        let leaf = &certs[0];
        let handles: Vec<_> = sessions
            .into_iter()
            .map(|session| {
                s.spawn(move || {
                    let mut out = Vec::new();
                    while Instant::now() < deadline {
                        let t = Instant::now();
                        if notation.sign(&session, payload, leaf).is_ok() {
                            out.push(t.elapsed());
                        }
                    }
                    out
                })
            })
            .collect();
        Ok(handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect())
    })
}

fn client_tls(
    cert: &std::path::Path,
    key: &str,
    ca: &std::path::Path,
) -> Result<rustls::ClientConfig, String> {
    let mut roots = rustls::RootCertStore::empty();
    for c in tls::to_rustls(&tls::read_certificates(ca)?)? {
        roots.add(c).map_err(|e| e.to_string())?;
    }
    let chain = tls::read_certificates(cert)?;
    let key: KeyRef = key
        .parse()
        .map_err(|e: keyrite::keys::KeyError| e.to_string())?;
    let opened = OpenKey::open(&key, None, &Openers::default()).map_err(|e| e.to_string())?;
    let certified = tls::certified_key(opened, &chain)?;
    Ok(rustls::ClientConfig::builder_with_provider(tls::provider())
        .with_protocol_versions(tls::VERSIONS)
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_client_cert_resolver(Arc::new(rustls::sign::SingleCertAndKey::from(certified))))
}

async fn service(
    tls: Arc<rustls::ClientConfig>,
    addr: String,
    path: String,
    body: Bytes,
    clients: usize,
    duration: Duration,
) -> Result<Vec<Duration>, String> {
    let deadline = Instant::now() + duration;
    let host = addr
        .rsplit_once(':')
        .map_or(addr.as_str(), |(h, _)| h)
        .to_owned();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (tls, addr, path, body, host) = (
            tls.clone(),
            addr.clone(),
            path.clone(),
            body.clone(),
            host.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let tcp = tokio::net::TcpStream::connect(&addr)
                .await
                .map_err(|e| e.to_string())?;
            let name = rustls::pki_types::ServerName::try_from(host).map_err(|e| e.to_string())?;
            let stream = tokio_rustls::TlsConnector::from(tls)
                .connect(name, tcp)
                .await
                .map_err(|e| e.to_string())?;
            let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .map_err(|e| e.to_string())?;
            tokio::spawn(conn);
            let mut out = Vec::new();
            while Instant::now() < deadline {
                let request = Request::post(path.as_str())
                    .header("host", addr.as_str())
                    .header("content-type", "application/json")
                    .body(Full::new(body.clone()))
                    .map_err(|e| e.to_string())?;
                let t = Instant::now();
                let response = sender
                    .send_request(request)
                    .await
                    .map_err(|e| e.to_string())?;
                let ok = response.status().is_success();
                response
                    .into_body()
                    .collect()
                    .await
                    .map_err(|e| e.to_string())?;
                if ok {
                    out.push(t.elapsed());
                } else {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
            Ok::<_, String>(out)
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.map_err(|e| e.to_string())??);
    }
    Ok(all)
}
