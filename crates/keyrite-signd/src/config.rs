//! The service's TOML configuration: where it listens, its TLS certificate and key, the CAs
//! that issue client certificates, the keys it signs with and which client may use which.
//! Every table refuses fields it does not know, so a misspelt limit is an error, not a default.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use keyrite::notation::dn;
use keyrite::sys::input;
use serde::Deserialize;

/// Config files larger than this are refused unread.
const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// systemd's directory of credentials (`LoadCredential=`), which paths in the file may name
/// as `${CREDENTIALS_DIRECTORY}`.
const CREDENTIALS: &str = "CREDENTIALS_DIRECTORY";

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `ADDRESS:PORT` to listen on.
    pub listen: SocketAddr,
    /// The audit log (JSON lines), made when missing.
    pub audit_log: PathBuf,
    /// PEM files of the CAs whose certificates clients present.
    pub client_ca: Vec<PathBuf>,
    /// The service's own certificate and key.
    pub tls: Tls,
    /// Limits; each has a default.
    #[serde(default)]
    pub limits: Limits,
    /// The keys the service signs with.
    #[serde(rename = "key")]
    pub keys: Vec<KeyConfig>,
    /// Who may sign with which key.
    #[serde(rename = "client")]
    pub clients: Vec<ClientConfig>,
}

/// `[tls]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tls {
    /// PEM chain, the service's certificate first.
    pub chain: PathBuf,
    /// Its key: `pkcs11:…` or `file:PATH`.
    pub key: String,
    /// How a sealed key file is opened.
    #[serde(flatten)]
    pub secrets: Secrets,
}

/// How a sealed key file is opened (a token key's PIN comes from its URI's `pin-source`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Secrets {
    /// A file holding the passphrase.
    pub passphrase_file: Option<PathBuf>,
    /// An age identity file.
    pub age_identity: Option<PathBuf>,
}

/// `[limits]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest request body, in bytes.
    pub max_body_bytes: usize,
    /// Seconds a client has to send a request's headers, and then its body.
    pub request_timeout_secs: u64,
    /// Sign requests waiting or being signed at once; more are answered 503.
    pub queue: usize,
    /// Connections open at once; more wait in the kernel's backlog.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 64 * 1024,
            request_timeout_secs: 10,
            queue: 256,
            max_connections: 1024,
        }
    }
}

impl Limits {
    /// The request timeout.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs)
    }
}

/// `[[key]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyConfig {
    /// The name clients use: `/v1/keys/NAME`.
    pub name: String,
    /// `pkcs11:…` or `file:PATH`.
    pub key: String,
    /// The chain `keyrite publisher install-chain` recorded; that record when absent.
    pub chain: Option<PathBuf>,
    /// PKCS#11 sessions (or in-memory copies of a key file) signing at once.
    #[serde(default = "default_sessions")]
    pub sessions: usize,
    /// How a sealed key file is opened.
    #[serde(flatten)]
    pub secrets: Secrets,
}

fn default_sessions() -> usize {
    4
}

/// `[[client]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    /// A name for the log.
    pub name: String,
    /// The client certificate's subject, e.g. `CN=build-1, O=Example`: all of it, in any order.
    pub subject: Option<String>,
    /// Or the SHA-256 of its SubjectPublicKeyInfo, in hex.
    pub spki_sha256: Option<String>,
    /// Names of the keys it may use.
    pub keys: Vec<String>,
    /// Signatures it may ask for per minute; unlimited when absent.
    pub rate_per_minute: Option<u32>,
    /// Artifact media types it may sign for; any when absent.
    pub media_types: Option<Vec<String>>,
}

/// Why the configuration cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct ConfigError {
    /// The file.
    pub path: PathBuf,
    /// What is wrong and what to do.
    pub reason: String,
}

impl Config {
    /// Reads and checks `path`; `${CREDENTIALS_DIRECTORY}` in paths is systemd's.
    pub fn read(path: &Path) -> Result<Self, ConfigError> {
        let fail = |reason: String| ConfigError {
            path: path.to_owned(),
            reason,
        };
        let text = input::read(path, MAX_CONFIG_BYTES, input::Links::Follow)
            .map_err(|e| fail(e.to_string()))?;
        let text = String::from_utf8(text).map_err(|_| fail("not UTF-8 text".into()))?;
        Self::parse(&text, std::env::var(CREDENTIALS).ok().as_deref()).map_err(fail)
    }

    /// Parses and checks `text`, with `credentials` as `${CREDENTIALS_DIRECTORY}`.
    pub fn parse(text: &str, credentials: Option<&str>) -> Result<Self, String> {
        let mut config: Config = toml::from_str(text).map_err(|e| input::toml_error(text, &e))?;
        config.expand_credentials(credentials)?;
        config.check()?;
        Ok(config)
    }

    fn expand_credentials(&mut self, dir: Option<&str>) -> Result<(), String> {
        let expand = |s: &mut String| -> Result<(), String> {
            let var = format!("${{{CREDENTIALS}}}");
            if s.contains(&var) {
                let Some(dir) = dir else {
                    return Err(format!(
                        "'{s}' names ${{{CREDENTIALS}}}, which is not set: run under systemd \
                         with LoadCredential=, or give the path itself"
                    ));
                };
                *s = s.replace(&var, dir);
            }
            Ok(())
        };
        let expand_path = |p: &mut PathBuf| -> Result<(), String> {
            let mut s = p.to_string_lossy().into_owned();
            expand(&mut s)?;
            *p = PathBuf::from(s);
            Ok(())
        };
        let expand_secrets = |s: &mut Secrets| -> Result<(), String> {
            s.passphrase_file.as_mut().map(expand_path).transpose()?;
            s.age_identity.as_mut().map(expand_path).transpose()?;
            Ok(())
        };
        expand(&mut self.tls.key)?;
        expand_secrets(&mut self.tls.secrets)?;
        for key in &mut self.keys {
            expand(&mut key.key)?;
            expand_secrets(&mut key.secrets)?;
        }
        Ok(())
    }

    fn check(&self) -> Result<(), String> {
        if self.client_ca.is_empty() {
            return Err("client_ca names no CA: without one no client can be trusted".into());
        }
        if self.keys.is_empty() {
            return Err("no [[key]]: the service would have nothing to sign with".into());
        }
        let l = &self.limits;
        if l.max_body_bytes < 1024 || l.queue == 0 || l.max_connections == 0 {
            return Err("[limits]: max_body_bytes must be at least 1024, queue and \
                        max_connections at least 1"
                .into());
        }
        if l.request_timeout_secs == 0 {
            return Err("[limits]: request_timeout_secs must be at least 1".into());
        }
        let mut names = BTreeSet::new();
        for key in &self.keys {
            check_name(&key.name)?;
            if !names.insert(key.name.as_str()) {
                return Err(format!("two [[key]] entries are named '{}'", key.name));
            }
            if key.sessions == 0 || key.sessions > 64 {
                return Err(format!(
                    "[[key]] '{}': sessions must be 1 to 64, not {}",
                    key.name, key.sessions
                ));
            }
        }
        let mut clients = BTreeSet::new();
        for client in &self.clients {
            let what = format!("[[client]] '{}'", client.name);
            if !clients.insert(client.name.as_str()) {
                return Err(format!(
                    "two [[client]] entries are named '{}'",
                    client.name
                ));
            }
            match (&client.subject, &client.spki_sha256) {
                (Some(s), None) => {
                    let subject =
                        dn::parse_name(s).map_err(|e| format!("{what}: subject '{s}': {e}"))?;
                    if let Some((kind, _)) = subject.iter().find(|(_, v)| v.is_empty()) {
                        return Err(format!(
                            "{what}: subject '{s}' gives {} no value: name each attribute of \
                             the certificate's subject, with its value, and no other",
                            dn::show(kind)
                        ));
                    }
                    let unmatchable = dn::unmatchable_types(&subject);
                    if !unmatchable.is_empty() {
                        return Err(format!(
                            "{what}: subject '{s}' names {}, which no certificate's subject is \
                             read as: write C, ST, L, STREET, POSTALCODE, O, OU, CN and \
                             SERIALNUMBER so, and any other type as its dotted OID",
                            unmatchable.join(", ")
                        ));
                    }
                }
                (None, Some(h)) => {
                    if h.len() != 64 || hex::decode(h).is_err() {
                        return Err(format!(
                            "{what}: spki_sha256 must be 64 hex digits (openssl x509 -pubkey \
                             -noout | openssl pkey -pubin -outform DER | sha256sum)"
                        ));
                    }
                }
                _ => {
                    return Err(format!(
                        "{what}: give exactly one of subject and spki_sha256"
                    ));
                }
            }
            for name in &client.keys {
                if !names.contains(name.as_str()) {
                    return Err(format!(
                        "{what} may use key '{name}', which no [[key]] names"
                    ));
                }
            }
            if client.rate_per_minute == Some(0) {
                return Err(format!(
                    "{what}: rate_per_minute 0 would refuse everything; remove the client instead"
                ));
            }
        }
        Ok(())
    }
}

/// Key names are path segments: `[a-z0-9-]`, 1 to 64, not starting with `-`.
fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "key name '{}' must be 1 to 64 of a-z, 0-9 and '-', not starting with '-'",
            keyrite::pki::name::ascii_escaped(name)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The configuration example in docs/signd-api.md.
    fn documented_example() -> &'static str {
        include_str!("../../../docs/signd-api.md")
            .split("```toml\n")
            .nth(1)
            .and_then(|rest| rest.split("```").next())
            .expect("a toml block in docs/signd-api.md")
    }

    /// The example in docs/signd-api.md is a configuration the service accepts.
    #[test]
    fn the_documented_example_parses() {
        let example = documented_example();
        let config = Config::parse(example, Some("/run/credentials/keyrite-signd.service"))
            .expect("the documented configuration");
        assert_eq!(config.keys.len(), 2);
        assert_eq!(config.clients.len(), 2);
        assert_eq!(
            config.keys[1].secrets.passphrase_file.as_deref(),
            Some(Path::new(
                "/run/credentials/keyrite-signd.service/nightly-passphrase"
            ))
        );
        let unset = Config::parse(example, None).expect_err("credentials unset");
        assert!(unset.contains("CREDENTIALS_DIRECTORY"), "{unset}");
    }

    #[test]
    fn misspelt_and_inconsistent_settings_are_refused() {
        let example = documented_example();
        let creds = Some("/run/credentials/x");
        for (edit, expected) in [
            (
                example.replace("queue = 256", "queu = 256"),
                "unknown field `queu`",
            ),
            (
                example.replace("name = \"nightly\"", "name = \"release\""),
                "two [[key]] entries",
            ),
            (
                example.replace("name = \"nightly\"", "name = \"Night/ly\""),
                "must be 1 to 64",
            ),
            (
                example.replace("keys = [\"nightly\"]", "keys = [\"weekly\"]"),
                "which no [[key]] names",
            ),
            (
                example.replace(
                    "spki_sha256 = \"5c2b",
                    "subject = \"CN=x\"\nspki_sha256 = \"5c2b",
                ),
                "exactly one of subject and spki_sha256",
            ),
            (
                example.replace(
                    "CN=ci-runner-1, O=Example",
                    "CN=ci-runner-1, O=Example, OU=",
                ),
                "gives OU no value",
            ),
            (
                example.replace("CN=ci-runner-1, O=Example", "cn=ci-runner-1, O=Example"),
                "names cn, which no certificate's subject is read as",
            ),
            (
                example.replace("rate_per_minute = 600", "rate_per_minute = 0"),
                "rate_per_minute 0",
            ),
            (
                example.replace("sessions = 4", "sessions = 0"),
                "sessions must be 1 to 64",
            ),
            (
                example.replace(
                    "client_ca = [\"/etc/keyrite-signd/build-clients-ca.pem\"]",
                    "client_ca = []",
                ),
                "client_ca names no CA",
            ),
        ] {
            assert_ne!(edit, example, "{expected}");
            let e = Config::parse(&edit, creds).expect_err(expected);
            assert!(e.contains(expected), "{expected}: {e}");
        }
    }
}
