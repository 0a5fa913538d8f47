//! `keyrite`: the ceremony station's command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use keyrite::pki::name::parse_subject;
use keyrite::pki::validity::Period;
use keyrite::root::{RootRequest, create_token_only};
use keyrite::signer::KeyAlgorithm;
use keyrite::token::{
    KeyAudit, KeyOrigin, Module, Pkcs11Uri, SlotReport, Token, list_slots, resolve_module,
};

/// Offline key ceremonies for container signing with the Notary Project.
///
/// PINs come from the token URI's pin-source (pkcs11:...?pin-source=file:/path), the
/// KEYRITE_PIN environment variable, or a prompt; never from an argument.
#[derive(Parser)]
#[command(name = "keyrite", version, arg_required_else_help = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Inspect PKCS#11 tokens and the keys on them.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Create the root of trust.
    #[command(subcommand)]
    Root(RootCommand),
}

#[derive(Subcommand)]
enum TokenCommand {
    /// List slots, tokens and the mechanisms keyrite needs.
    List {
        /// PKCS#11 module (default: $KEYRITE_PKCS11_MODULE).
        #[arg(long, value_name = "PATH")]
        module: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Report whether a key can ever leave its token (CKA_SENSITIVE, CKA_EXTRACTABLE, ...).
    Audit {
        /// PKCS#11 URI of the key, e.g. pkcs11:token=Root;object=keyrite-root?pin-source=file:/pin
        uri: String,
        /// PKCS#11 module (default: the URI's module-path, then $KEYRITE_PKCS11_MODULE).
        #[arg(long, value_name = "PATH")]
        module: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum RootCommand {
    /// Generate the root key and write DIR/root.crt and DIR/root.fingerprint.
    Create {
        /// PKCS#11 URI of the token; object= and id= name the new key (default label keyrite-root).
        #[arg(long, value_name = "URI")]
        token: String,
        /// Subject, in order: 'C=US,ST=WA,O=Example,CN=Example Root' (C, ST and O required).
        #[arg(long)]
        subject: String,
        /// Validity, in years or days: 20y, 90d.
        #[arg(long)]
        validity: String,
        /// Output directory (created if missing; existing files are never overwritten).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Key algorithm: p384 (default), p256, p521, rsa3072, rsa4096.
        #[arg(long, default_value = "p384")]
        algorithm: String,
        /// token-only: the key is generated inside the token and has no backup.
        #[arg(long, value_enum, default_value_t = Mode::TokenOnly)]
        mode: Mode,
        /// PKCS#11 module (default: the URI's module-path, then $KEYRITE_PKCS11_MODULE).
        #[arg(long, value_name = "PATH")]
        module: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Mode {
    /// Generated inside the token, never extractable, no backup.
    TokenOnly,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    for warning in keyrite::hygiene::harden_process().warnings {
        eprintln!("keyrite: note: {warning}");
    }
    match run(cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("keyrite: error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> Result<ExitCode, keyrite::Error> {
    match command {
        Command::Token(TokenCommand::List { module, json }) => {
            let module = Module::load(&resolve_module(None, module.as_deref())?)?;
            let slots = list_slots(&module)?;
            if json {
                print_json(&slots);
            } else {
                print_slots(&module, &slots);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Token(TokenCommand::Audit { uri, module, json }) => {
            let uri: Pkcs11Uri = uri.parse()?;
            let token = Token::open(&uri, module.as_deref())?;
            token.login(&uri)?;
            let key = token.find_key(&uri)?;
            let audit = token.audit(&key)?;
            if json {
                print_json(&audit);
            } else {
                print_audit(&audit);
            }
            Ok(if audit.is_sound() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Root(RootCommand::Create {
            token,
            subject,
            validity,
            out,
            algorithm,
            mode: Mode::TokenOnly,
            module,
            json,
        }) => {
            let uri: Pkcs11Uri = token.parse()?;
            let request = RootRequest {
                token: &uri,
                module: module.as_deref(),
                subject: parse_subject(&subject)?,
                validity: validity.parse::<Period>()?,
                algorithm: algorithm.parse::<KeyAlgorithm>()?,
                out_dir: &out,
            };
            let made = create_token_only(&request)?;
            if json {
                print_json(&serde_json::json!({
                    "certificate": made.cert_path,
                    "fingerprint_file": made.fingerprint_path,
                    "sha256": made.fingerprint.hex(),
                    "words": made.fingerprint.words(),
                    "key": made.key_uri.to_string(),
                    "subject": made.subject,
                    "serial": made.serial,
                    "not_after": made.not_after,
                    "audit": made.audit,
                }));
            } else {
                println!(
                    "Root CA created (token-only: the key exists only inside this token and has no backup;"
                );
                println!(
                    "if the token is lost or fails, the root must be replaced and every site re-pinned)."
                );
                println!("  key:          {}", made.key_uri);
                println!("  algorithm:    {}", made.audit.algorithm);
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
                print_audit(&made.audit);
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn print_json<T: serde::Serialize>(value: &T) {
    match serde_json::to_string_pretty(value) {
        Ok(text) => println!("{text}"),
        Err(e) => eprintln!("keyrite: error: cannot encode JSON: {e}"),
    }
}

fn print_slots(module: &Module, slots: &[SlotReport]) {
    println!("Module {}", module.path().display());
    if slots.is_empty() {
        println!("  no slots");
    }
    for s in slots {
        println!("Slot {} ({})", s.slot_id, s.slot_description);
        let Some(label) = &s.label else {
            println!("  no token present");
            continue;
        };
        println!("  token:        {label}");
        println!("  serial:       {}", s.serial.as_deref().unwrap_or(""));
        println!(
            "  manufacturer: {}",
            s.manufacturer.as_deref().unwrap_or("")
        );
        println!("  model:        {}", s.model.as_deref().unwrap_or(""));
        println!("  flags:        {}", s.flags.join(", "));
        println!("  mechanisms keyrite uses:");
        for m in &s.mechanisms {
            let state = if m.present { "present" } else { "absent " };
            println!("    {state}  {:<26} {}", m.name, m.purpose);
        }
    }
}

fn print_audit(a: &KeyAudit) {
    let show = |v: Option<bool>| v.map_or("not reported".to_owned(), |b| b.to_string());
    println!(
        "Key '{}' (id {}) on token '{}', {}",
        a.label, a.id, a.token, a.algorithm
    );
    for (name, value) in [
        ("CKA_SENSITIVE", a.sensitive),
        ("CKA_EXTRACTABLE", a.extractable),
        ("CKA_ALWAYS_SENSITIVE", a.always_sensitive),
        ("CKA_NEVER_EXTRACTABLE", a.never_extractable),
        ("CKA_LOCAL", a.local),
        ("CKA_PRIVATE", a.private),
        ("CKA_SIGN", a.sign),
        ("CKA_SIGN_RECOVER", a.sign_recover),
        ("CKA_DECRYPT", a.decrypt),
        ("CKA_UNWRAP", a.unwrap),
        ("CKA_DERIVE", a.derive),
    ] {
        println!("  {name:<22} {}", show(value));
    }
    println!(
        "  CKA_ALLOWED_MECHANISMS {}",
        a.allowed_mechanisms
            .as_ref()
            .map_or("not reported".to_owned(), |m| m.join(", "))
    );
    println!(
        "  origin:                {}",
        match a.origin {
            KeyOrigin::GeneratedOnToken =>
                "generated on the token; it has never existed outside it",
            KeyOrigin::Imported => "imported into the token (a copy existed outside it)",
            KeyOrigin::Unknown => "cannot be told from the attributes",
        }
    );
    if a.is_sound() {
        println!("  verdict:               sound: sensitive, not extractable, sign-only");
    } else {
        for p in &a.problems {
            println!("  PROBLEM:               {p}");
        }
    }
}
