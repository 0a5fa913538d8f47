//! `keyrite publisher`: a publisher's signing key, its chain, and the notation plugin.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use keyrite::keys::KeyAlgorithm;
use keyrite::keys::file::Protection;
use keyrite::keys::open::KeyRef;
use keyrite::keys::seal::{SCRYPT_MAX_LOG_N, SealTo, parse_recipient, read_passphrase};
use keyrite::pki::name::parse_subject;
use keyrite::publisher;

#[derive(Subcommand)]
pub(crate) enum PublisherCommand {
    /// Make a signing key where it will live and a CSR for it: on a token (pkcs11:…;object=LABEL,
    /// generated inside, never extractable, sign-only) or in a file (file:PATH, sealed with age
    /// to a passphrase or --recipient; PATH.pub holds the public key).
    Keygen(KeygenArgs),
    /// Record the certificate chain the ceremony issued for a key (leaf first, root last),
    /// after checking its leaf is this key.
    InstallChain {
        /// The key: pkcs11:… or file:PATH, as given to keygen.
        #[arg(long, value_name = "URI")]
        key: String,
        /// The chain in PEM (the .chain.pem `keyrite delegate issue` wrote).
        #[arg(long, value_name = "FILE.chain.pem")]
        chain: PathBuf,
        /// Replace a chain already recorded for this key (a renewed certificate).
        #[arg(long)]
        replace: bool,
        /// PKCS#11 module (default: the URI's module-path, then $KEYRITE_PKCS11_MODULE).
        #[arg(long, value_name = "PATH")]
        module: Option<PathBuf>,
    },
    /// Install notation-keyrite where notation looks for it:
    /// {NOTATION_CONFIG}/plugins/keyrite/notation-keyrite.
    InstallPlugin {
        /// notation's configuration directory (default: $NOTATION_CONFIG, then ~/.config/notation).
        #[arg(long, value_name = "DIR")]
        notation_config: Option<PathBuf>,
        /// Replace an installed plugin.
        #[arg(long)]
        replace: bool,
    },
}

/// The key `publisher keygen` makes, and its CSR.
#[derive(Args)]
pub(crate) struct KeygenArgs {
    /// Where the key goes: pkcs11:token=…;object=LABEL or file:PATH.
    #[arg(long, value_name = "URI")]
    key: String,
    /// p256, p384, p521, rsa2048, rsa3072 or rsa4096.
    #[arg(long)]
    algorithm: String,
    /// The CSR's subject, with C, ST and O as notation requires: 'C=US,ST=WA,O=Example,CN=release-signer'.
    #[arg(long)]
    subject: String,
    /// The CSR file to write (never over an existing file).
    #[arg(long, value_name = "FILE.csr")]
    out: PathBuf,
    /// file: keys: seal to this age X25519 recipient (age1…) instead of a passphrase.
    #[arg(long, value_name = "AGE1…", conflicts_with = "plaintext")]
    recipient: Option<String>,
    /// file: keys sealed to a passphrase: the scrypt work factor (log2 N), 14 to 22.
    #[arg(long, value_name = "N", default_value_t = keyrite::keys::seal::SCRYPT_LOG_N)]
    scrypt_work_factor: u8,
    /// file: keys: write the private key in clear (only notation's own local signing needs
    /// this; notation-keyrite signs with sealed keys).
    #[arg(long)]
    plaintext: bool,
    /// PKCS#11 module (default: the URI's module-path, then $KEYRITE_PKCS11_MODULE).
    #[arg(long, value_name = "PATH")]
    module: Option<PathBuf>,
}

/// Makes a publisher's key, records its chain, or installs the plugin.
pub(crate) fn run(command: PublisherCommand) -> Result<ExitCode, keyrite::Error> {
    match command {
        PublisherCommand::Keygen(args) => keygen(args),
        PublisherCommand::InstallChain {
            key,
            chain,
            replace,
            module,
        } => {
            let key: KeyRef = key.parse()?;
            let (record, certs) =
                publisher::install_chain(&key, &chain, module.as_deref(), replace)?;
            println!(
                "Recorded the {}-certificate chain for {key} in {}.",
                certs.len(),
                record.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        PublisherCommand::InstallPlugin {
            notation_config,
            replace,
        } => {
            let config = match notation_config {
                Some(dir) => dir,
                None => keyrite::sys::dirs::notation_config()
                    .map_err(|e| keyrite::Error::Usage(format!("{e}: give --notation-config")))?,
            };
            let exe = std::env::current_exe().map_err(|e| {
                keyrite::Error::Usage(format!("cannot find keyrite's own path: {e}"))
            })?;
            let plugin = exe.with_file_name(publisher::plugin::PLUGIN_FILE);
            let installed = publisher::install_plugin(&plugin, &config, replace)?;
            println!("Installed {}.", installed.display());
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// How a new key file is protected: sealed to a recipient, or to a passphrase typed twice
/// (or from KEYRITE_KEY_PASSPHRASE), or in clear with a warning.
fn file_protection(
    recipient: Option<&str>,
    work_factor: u8,
    plaintext: bool,
) -> Result<Protection, keyrite::Error> {
    if plaintext {
        eprintln!(
            "keyrite: warning: the private key is written IN CLEAR (mode 0600). Only notation's \
             own local signing (signingkeys.json) needs that; notation-keyrite signs with a \
             sealed key. Anyone who reads the file can sign as you."
        );
        return Ok(Protection::Plaintext);
    }
    if let Some(text) = recipient {
        return match parse_recipient(text)? {
            Some(r) => Ok(Protection::Sealed(SealTo::X25519(r))),
            None => Err(keyrite::Error::Usage(
                "--recipient takes an age X25519 recipient (age1…); leave it out to seal to a passphrase"
                    .into(),
            )),
        };
    }
    if !(MIN_SCRYPT_LOG_N..=SCRYPT_MAX_LOG_N).contains(&work_factor) {
        return Err(keyrite::Error::Usage(format!(
            "--scrypt-work-factor {work_factor} is outside {MIN_SCRYPT_LOG_N} to {SCRYPT_MAX_LOG_N}"
        )));
    }
    let passphrase = match std::env::var(keyrite::publisher::KEY_PASSPHRASE_ENV) {
        Ok(p) if !p.is_empty() => p.into(),
        _ => read_passphrase("Passphrase for the new key: ", true)?,
    };
    Ok(Protection::Sealed(SealTo::Passphrase(
        passphrase,
        work_factor,
    )))
}

/// The weakest scrypt work factor keyrite seals a key file with (2^14).
const MIN_SCRYPT_LOG_N: u8 = 14;

/// Makes a key where `--key` says and a CSR for it, and says what to do next.
fn keygen(args: KeygenArgs) -> Result<ExitCode, keyrite::Error> {
    let KeygenArgs {
        key,
        algorithm,
        subject,
        out,
        recipient,
        scrypt_work_factor,
        plaintext,
        module,
    } = args;
    let key: KeyRef = key.parse()?;
    let algorithm: KeyAlgorithm = algorithm.parse()?;
    let subject = parse_subject(&subject)?;
    let protection = match &key {
        KeyRef::Token(_) if recipient.is_none() && !plaintext => None,
        KeyRef::Token(_) => Some(Protection::Plaintext),
        KeyRef::File(_) => Some(file_protection(
            recipient.as_deref(),
            scrypt_work_factor,
            plaintext,
        )?),
    };
    let made = publisher::keygen(&publisher::KeygenRequest {
        key: &key,
        algorithm,
        subject: &subject,
        csr_out: &out,
        protection,
        module: module.as_deref(),
    })?;
    println!("Made a {} key.", made.public_key.describe());
    for file in &made.files {
        println!("  wrote {}", file.display());
    }
    println!(
        "Key id (for notation key add NAME --plugin keyrite --id '{}')",
        made.key_id
    );
    println!(
        "Next: take {} to the delegate issuance ceremony, then run `keyrite publisher \
         install-chain --key '{}' --chain FILE.chain.pem`.",
        out.display(),
        made.key_id
    );
    Ok(ExitCode::SUCCESS)
}
