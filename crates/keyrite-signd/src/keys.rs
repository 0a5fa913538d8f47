//! The keys the service signs with, each opened at start as a pool of PKCS#11 sessions (or
//! in-memory copies of a key file) and checked against its certificate chain. Signing runs
//! on tokio's blocking threads: a token call never holds an async worker.

use std::path::Path;
use std::sync::{Arc, Mutex};

use tokio::sync::Semaphore;
use x509_cert::Certificate;

use keyrite::keys::open::{KeyRef, OpenKey};
use keyrite::keys::seal::{Openers, read_identities};
use keyrite::publisher::sign::{NotationKey, SignError, chain_base64};
use keyrite::publisher::{check_chain, recorded_chain};
use keyrite::sys::input;

use crate::config::{KeyConfig, Secrets};

/// Chain and passphrase files larger than this are refused unread.
const MAX_FILE_BYTES: u64 = 256 * 1024;

/// One key, ready to sign.
pub struct SigningKey {
    /// Its name in the API.
    pub name: String,
    /// Its keySpec and scheme.
    pub notation: NotationKey,
    /// Its chain, leaf first.
    pub chain: Vec<Certificate>,
    /// The chain as the API carries it.
    pub chain_base64: Vec<String>,
    /// Opened sessions not in use.
    idle: Mutex<Vec<OpenKey>>,
    /// One permit per session.
    permits: Semaphore,
}

impl SigningKey {
    /// Opens `config.sessions` sessions of the key, checks it against its chain and makes a
    /// signature with each session, verified against the leaf: a wrong PIN, a missing key or
    /// a chain for another key stops the service before it serves anything.
    pub fn open(config: &KeyConfig) -> Result<Self, String> {
        let what = format!("[[key]] '{}'", config.name);
        let key: KeyRef = config.key.parse().map_err(|e| format!("{what}: {e}"))?;
        let openers = openers(&config.secrets).map_err(|e| format!("{what}: {e}"))?;
        let mut sessions = Vec::with_capacity(config.sessions);
        for _ in 0..config.sessions {
            sessions.push(OpenKey::open(&key, None, &openers).map_err(|e| format!("{what}: {e}"))?);
        }
        let public = sessions[0].public_key().clone();
        let chain = match &config.chain {
            Some(path) => {
                let pem = input::read(path, MAX_FILE_BYTES, input::Links::Follow)
                    .map_err(|e| format!("{what}: {e}"))?;
                check_chain(&pem, &public, &format!("{what}: chain {}", path.display()))
            }
            None => recorded_chain(&key, &public),
        }
        .map_err(|e| format!("{what}: {e}"))?;
        let notation = NotationKey::of(&public).map_err(|e| format!("{what}: {e}"))?;
        for session in &sessions {
            notation
                .sign(session, b"keyrite-signd start-up check", &chain[0])
                .map_err(|e| format!("{what}: the start-up signature failed: {e}"))?;
        }
        Ok(Self {
            name: config.name.clone(),
            notation,
            chain_base64: chain_base64(&chain).map_err(|e| format!("{what}: {e}"))?,
            chain,
            permits: Semaphore::new(sessions.len()),
            idle: Mutex::new(sessions),
        })
    }

    /// Signs `payload` on a free session (waiting for one), off the async threads, then runs
    /// `record` there too with the outcome: the caller's audit entry is written before the
    /// signature is handed back.
    pub async fn sign<R: Send + 'static>(
        self: &Arc<Self>,
        payload: Vec<u8>,
        record: impl FnOnce(&Result<Vec<u8>, SignError>) -> R + Send + 'static,
    ) -> Result<(Result<Vec<u8>, SignError>, R), String> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| "the service is stopping".to_owned())?;
        let key = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let session = key
                .idle
                .lock()
                .map_err(|_| "a signing session failed earlier".to_owned())?
                .pop()
                .ok_or_else(|| "no free session under a held permit".to_owned())?;
            let signed = key.notation.sign(&session, &payload, &key.chain[0]);
            key.idle
                .lock()
                .map_err(|_| "a signing session failed earlier".to_owned())?
                .push(session);
            let recorded = record(&signed);
            Ok((signed, recorded))
        })
        .await
        .map_err(|e| format!("the signing task failed: {e}"))?
    }
}

/// How a key file is opened, from files named in the configuration only.
pub fn openers(secrets: &Secrets) -> Result<Openers, String> {
    let identities = match &secrets.age_identity {
        Some(path) => read_identities(path).map_err(|e| e.to_string())?,
        None => Vec::new(),
    };
    let passphrase = match &secrets.passphrase_file {
        Some(path) => Some(read_passphrase(path)?),
        None => None,
    };
    Ok(Openers {
        identities,
        passphrase,
    })
}

fn read_passphrase(path: &Path) -> Result<age::secrecy::SecretString, String> {
    let bytes = zeroize::Zeroizing::new(
        input::read(path, MAX_FILE_BYTES, input::Links::Follow).map_err(|e| e.to_string())?,
    );
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| format!("the passphrase file {} is not UTF-8", path.display()))?;
    let line = text.strip_suffix('\n').unwrap_or(text);
    Ok(age::secrecy::SecretString::from(line.to_owned()))
}
