//! `keyrite root`: creating the root of trust, and recovering it from shares.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand, ValueEnum};
use keyrite::ca::recover::{RecoverRequest, recover};
use keyrite::ca::root::{Backup, RootOutcome, RootRequest, create_backed_up, create_token_only};
use keyrite::keys::KeyAlgorithm;
use keyrite::keys::token::Pkcs11Uri;
use keyrite::pki::name::parse_subject;
use keyrite::pki::validity::Period;
use keyrite::shares::{Threshold, parse_custodians};

use crate::print_json;
use crate::shares::openers;
use crate::token::print_audit;

#[derive(Subcommand)]
pub(crate) enum RootCommand {
    /// Generate the root key and write DIR/root.crt, DIR/root.fingerprint and, when backed
    /// up, one share card (PNG and SVG) per custodian.
    Create(CreateArgs),
    /// Recover the root key from share cards into a new token (or, with --verify-only, only
    /// prove that the shares recover it).
    Recover {
        /// The root certificate the shares belong to.
        #[arg(long, value_name = "FILE")]
        root_cert: PathBuf,
        /// PKCS#11 URI of the token to import into.
        #[arg(long, value_name = "URI", required_unless_present = "verify_only")]
        token: Option<String>,
        /// age identity file that opens sealed cards (repeatable).
        #[arg(long = "identity", value_name = "FILE")]
        identities: Vec<PathBuf>,
        /// Verify and reconstruct, compare with the root certificate, but import nothing.
        #[arg(long)]
        verify_only: bool,
        /// PKCS#11 module (default: the URI's module-path, then $KEYRITE_PKCS11_MODULE).
        #[arg(long, value_name = "PATH")]
        module: Option<PathBuf>,
        /// Share files: card PNG or SVG, typed text, or decoded QR text.
        #[arg(value_name = "SHARE", required = true)]
        shares: Vec<PathBuf>,
    },
}

/// What `root create` makes, and where.
#[derive(Args)]
pub(crate) struct CreateArgs {
    /// PKCS#11 URI of a token for the key; object= and id= name it (default label
    /// keyrite-root). Backed-up mode takes several: a primary and backups.
    #[arg(long = "token", value_name = "URI", required = true)]
    tokens: Vec<String>,
    /// Subject, in order: 'C=US,ST=WA,O=Example,CN=Example Root' (C, ST and O required).
    #[arg(long)]
    subject: String,
    /// Validity, in years or days: 20y, 90d.
    #[arg(long)]
    validity: String,
    /// Output directory (created if missing; existing files are never overwritten).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Key algorithm: p384 (default), p256, p521, rsa3072, rsa4096 (backed-up: EC only).
    #[arg(long, default_value = "p384")]
    algorithm: String,
    /// token-only (the default without --shares) or backed-up (the default with --shares).
    #[arg(long, value_enum)]
    mode: Option<Mode>,
    /// Backed-up: the Shamir threshold, T-of-N with 2 <= T <= N <= 16.
    #[arg(long, value_name = "T-of-N")]
    shares: Option<String>,
    /// Backed-up: a custodian, once per share in index order. NAME alone gets an
    /// unencrypted card; NAME=age1... seals it to an age recipient; NAME=passphrase to a
    /// passphrase typed twice.
    #[arg(long = "custodian", value_name = "NAME[=RECIPIENT]")]
    custodians: Vec<String>,
    /// PKCS#11 module (default: the URI's module-path, then $KEYRITE_PKCS11_MODULE).
    #[arg(long, value_name = "PATH")]
    module: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Mode {
    /// Generated inside the token, never extractable, no backup.
    TokenOnly,
    /// Generated in memory, split T-of-N onto custodians' cards, imported into every token.
    BackedUp,
}

/// Creates or recovers the root.
pub(crate) fn run(command: RootCommand) -> Result<ExitCode, keyrite::Error> {
    match command {
        RootCommand::Create(args) => create(args),
        RootCommand::Recover {
            root_cert,
            token,
            identities,
            verify_only,
            module,
            shares,
        } => {
            let token: Option<Pkcs11Uri> = match (&token, verify_only) {
                (Some(t), false) => Some(t.parse()?),
                _ => None,
            };
            let openers = openers(&identities)?;
            let outcome = recover(&RecoverRequest {
                root_cert: &root_cert,
                token: token.as_ref(),
                module: module.as_deref(),
                shares: &shares,
                openers: &openers,
            })?;
            print!("{}", outcome.report);
            match &outcome.imported {
                Some(placed) => {
                    println!(
                        "The shares recover the root key; it was imported as {}",
                        placed.uri
                    );
                    print_audit(&placed.audit);
                }
                None => println!(
                    "The shares recover the root key and it matches the root certificate. Nothing was imported (--verify-only)."
                ),
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Creates the root, token-only or backed up, and reports what was made.
fn create(args: CreateArgs) -> Result<ExitCode, keyrite::Error> {
    let CreateArgs {
        tokens,
        subject,
        validity,
        out,
        algorithm,
        mode,
        shares,
        custodians,
        module,
        json,
    } = args;
    let tokens = tokens
        .iter()
        .map(|t| t.parse::<Pkcs11Uri>())
        .collect::<Result<Vec<_>, _>>()?;
    let request = RootRequest {
        tokens: &tokens,
        module: module.as_deref(),
        subject: parse_subject(&subject)?,
        validity: validity.parse::<Period>()?,
        algorithm: algorithm.parse::<KeyAlgorithm>()?,
        out_dir: &out,
    };
    let wants_backup = shares.is_some() || !custodians.is_empty();
    let backed_up = match mode {
        Some(Mode::TokenOnly) if wants_backup => {
            return Err(keyrite::Error::Usage(
                "--shares and --custodian belong to backed-up mode, not token-only".into(),
            ));
        }
        Some(Mode::TokenOnly) => false,
        Some(Mode::BackedUp) => true,
        None => wants_backup,
    };
    let made = if backed_up {
        let threshold: Threshold = shares
            .as_deref()
            .ok_or_else(|| {
                keyrite::Error::Usage(
                    "backed-up mode needs --shares T-of-N and one --custodian per share".into(),
                )
            })?
            .parse()?;
        let backup = Backup {
            threshold,
            custodians: parse_custodians(&custodians, threshold)?,
        };
        create_backed_up(&request, &backup)?
    } else {
        create_token_only(&request)?
    };
    print_created(&made, backed_up, json);
    Ok(ExitCode::SUCCESS)
}

/// Reports a new root: its files, fingerprint as hex and words, cards and key audits.
fn print_created(made: &RootOutcome, backed_up: bool, json: bool) {
    if json {
        print_json(&serde_json::json!({
            "certificate": made.cert_path,
            "fingerprint_file": made.fingerprint_path,
            "sha256": made.fingerprint.hex(),
            "words": made.fingerprint.words(),
            "subject": made.subject,
            "serial": made.serial,
            "not_after": made.not_after,
            "keys": made.keys.iter().map(|k| serde_json::json!({
                "uri": k.uri.to_string(),
                "audit": k.audit,
            })).collect::<Vec<_>>(),
            "cards": made.cards,
        }));
    } else {
        if backed_up {
            println!(
                "Root CA created (backed up: the key was made in memory, split onto the share cards,"
            );
            println!("imported into every token, and wiped from memory).");
        } else {
            println!(
                "Root CA created (token-only: the key exists only inside this token and has no backup;"
            );
            println!(
                "if the token is lost or fails, the root must be replaced and every site re-pinned)."
            );
        }
        for k in &made.keys {
            println!("  key:          {}", k.uri);
        }
        println!("  subject:      {}", made.subject);
        println!("  serial:       {}", made.serial);
        println!("  valid until:  {}", made.not_after);
        println!("  certificate:  {}", made.cert_path.display());
        println!("  fingerprint:  {}", made.fingerprint_path.display());
        println!("  SHA-256:      {}", made.fingerprint.hex());
        println!("  words:");
        for line in made.fingerprint.words_block().lines() {
            println!("    {line}");
        }
        for card in &made.cards {
            println!("  share card:   {}", card.display());
        }
        for k in &made.keys {
            print_audit(&k.audit);
        }
    }
}
