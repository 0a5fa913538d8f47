//! keyrite-signd: a signing service for notation. Build machines hold no key and no PIN: they
//! reach this service through `notation-keyrite` over mutual TLS, and it signs notation
//! payloads, and nothing else, with the keys it holds, recording every request in a
//! hash-chained audit log. See docs/signd-api.md.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use rustls::server::WebPkiClientVerifier;
use tokio::signal::unix::{SignalKind, signal};
use tokio_rustls::TlsAcceptor;

use keyrite::keys::open::{KeyRef, OpenKey};
use keyrite_signd_api::tls;

mod audit;
mod clients;
mod config;
mod keys;
mod server;

use config::Config;

#[derive(Parser)]
#[command(
    name = "keyrite-signd",
    version,
    about = "A signing service for notation, over mutual TLS"
)]
struct Cli {
    /// The service's configuration (TOML); see docs/signd-api.md.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// The audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Checks every entry and the chain between them; reports the first break.
    Verify {
        /// The log.
        log: PathBuf,
    },
}

fn main() -> ExitCode {
    keyrite::sys::hygiene::harden_process();
    // A service never prompts: PINs come from pin-source files, passphrases from files the
    // configuration names.
    keyrite::sys::prompt::set_secret_prompt(Box::new(|_| {
        Err(
            "keyrite-signd never prompts: give the token URI a pin-source=file:PATH (under \
             systemd, a LoadCredential= file in ${CREDENTIALS_DIRECTORY}), and a key file's \
             passphrase_file or age_identity in its [[key]] or [tls] table"
                .to_owned(),
        )
    }));
    let cli = Cli::parse();
    let result = match (&cli.command, &cli.config) {
        (Some(Command::Audit(AuditCommand::Verify { log })), _) => verify(log),
        (None, Some(config)) => serve(config),
        (None, None) => Err("give --config FILE".into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("keyrite-signd: {e}");
            ExitCode::FAILURE
        }
    }
}

fn verify(log: &std::path::Path) -> Result<(), String> {
    let summary = audit::verify(log).map_err(|e| e.to_string())?;
    println!(
        "{}: {} entries ({} signed, {} refused), chain intact; last entry's SHA-256 {}",
        log.display(),
        summary.entries,
        summary.signed,
        summary.entries - summary.signed,
        summary.head
    );
    Ok(())
}

/// Everything is opened and checked before the port is bound: a bad key, chain or PIN stops
/// the service with nothing served.
fn serve(path: &std::path::Path) -> Result<(), String> {
    let config = Config::read(path).map_err(|e| e.to_string())?;
    let audit = audit::AuditLog::open(&config.audit_log).map_err(|e| {
        format!(
            "{e}; run `keyrite-signd audit verify {}`",
            config.audit_log.display()
        )
    })?;
    let tls_config = tls_config(&config)?;
    let keys = config
        .keys
        .iter()
        .map(keys::SigningKey::open)
        .collect::<Result<Vec<_>, _>>()?;
    let service = server::Service::new(keys, &config.clients, audit, config.limits)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("starting the runtime: {e}"))?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
        let local = listener.local_addr().map_err(|e| e.to_string())?;
        eprintln!(
            "keyrite-signd: listening on {local} ({} keys, {} clients)",
            config.keys.len(),
            config.clients.len()
        );
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let mut term = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
        let mut int = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
        tokio::spawn(async move {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            eprintln!("keyrite-signd: stopping: finishing the requests in flight");
            let _ = stop_tx.send(true);
        });
        Arc::new(service)
            .serve(listener, TlsAcceptor::from(Arc::new(tls_config)), stop_rx)
            .await;
        eprintln!("keyrite-signd: stopped");
        Ok(())
    })
}

/// TLS 1.3 only; a client certificate issued by one of `client_ca` is required.
fn tls_config(config: &Config) -> Result<rustls::ServerConfig, String> {
    let provider = tls::provider();
    let mut roots = rustls::RootCertStore::empty();
    for path in &config.client_ca {
        let certs = tls::read_certificates(path).map_err(|e| format!("client_ca: {e}"))?;
        for cert in tls::to_rustls(&certs)? {
            roots
                .add(cert)
                .map_err(|e| format!("client_ca {}: {e}", path.display()))?;
        }
    }
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| format!("client_ca: {e}"))?;
    let key_ref: KeyRef = config
        .tls
        .key
        .parse()
        .map_err(|e| format!("[tls] key: {e}"))?;
    let openers = keys::openers(&config.tls.secrets).map_err(|e| format!("[tls] key: {e}"))?;
    let key = OpenKey::open(&key_ref, None, &openers).map_err(|e| format!("[tls] key: {e}"))?;
    let chain =
        tls::read_certificates(&config.tls.chain).map_err(|e| format!("[tls] chain: {e}"))?;
    let certified = tls::certified_key(key, &chain).map_err(|e| format!("[tls]: {e}"))?;
    let mut server = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(tls::VERSIONS)
        .map_err(|e| e.to_string())?
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(Arc::new(rustls::sign::SingleCertAndKey::from(certified)));
    server.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(server)
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        super::Cli::command().debug_assert();
    }
}
