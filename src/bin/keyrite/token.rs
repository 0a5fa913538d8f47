//! `keyrite token`: the slots and tokens a PKCS#11 module offers, and the protection of a key.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use keyrite::keys::token::{
    KeyAudit, KeyOrigin, Module, Pkcs11Uri, SlotReport, Token, list_slots, resolve_module,
};

use crate::print_json;

#[derive(Subcommand)]
pub(crate) enum TokenCommand {
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

/// Lists tokens, or audits a key.
pub(crate) fn run(command: TokenCommand) -> Result<ExitCode, keyrite::Error> {
    match command {
        TokenCommand::List { module, json } => {
            let module = Module::load(&resolve_module(None, module.as_deref())?)?;
            let slots = list_slots(&module)?;
            if json {
                print_json(&slots);
            } else {
                print_slots(&module, &slots);
            }
            Ok(ExitCode::SUCCESS)
        }
        TokenCommand::Audit { uri, module, json } => {
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

/// Prints what a key audit found, attribute by attribute, and the verdict.
pub(crate) fn print_audit(a: &KeyAudit) {
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
    if let Some(refused) = a.raw_rsa_refused {
        println!(
            "  raw RSA (probed):      {}",
            if refused {
                "refused by the token"
            } else {
                "ACCEPTED by the token"
            }
        );
    }
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
