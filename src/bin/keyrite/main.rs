//! `keyrite`: the ceremony station's command line. `main` parses the arguments and hands each
//! command group to its own module; the work is in the library.

mod bundle;
mod crl;
mod csr;
mod delegate;
mod ledger;
mod publisher;
mod rehearse;
mod root;
mod shares;
mod token;
mod transcript;
mod tui;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use bundle::BundleCommand;
use crl::CrlCommand;
use csr::CsrCommand;
use delegate::DelegateCommand;
use ledger::LedgerCommand;
use publisher::PublisherCommand;
use rehearse::RehearseArgs;
use root::RootCommand;
use shares::SharesCommand;
use token::TokenCommand;
use transcript::TranscriptCommand;

/// Offline key ceremonies for container signing with the Notary Project.
///
/// PINs come from the token URI's pin-source (pkcs11:...?pin-source=file:/path), the
/// KEYRITE_PIN environment variable, or a prompt; never from an argument.
///
/// With no command, keyrite opens the terminal UI: pick a ceremony script and a profile, then
/// walk its steps.
#[derive(Parser)]
#[command(name = "keyrite", version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Inspect PKCS#11 tokens and the keys on them.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Create and recover the root of trust.
    #[command(subcommand)]
    Root(RootCommand),
    /// Audit the custody of the root key's Shamir shares.
    #[command(subcommand)]
    Shares(SharesCommand),
    /// Show what the root would sign for a publisher's CSR.
    #[command(subcommand)]
    Csr(CsrCommand),
    /// Issue delegate certificates from publishers' CSRs.
    #[command(subcommand)]
    Delegate(DelegateCommand),
    /// Issue certificate revocation lists.
    #[command(subcommand)]
    Crl(CrlCommand),
    /// The issuance ledger's record on the root token.
    #[command(subcommand)]
    Ledger(LedgerCommand),
    /// Publishers' signing keys: make one with its CSR, record the chain the ceremony issued
    /// for it, and install the notation plugin that signs with it.
    #[command(subcommand)]
    Publisher(PublisherCommand),
    /// Sign trust and revocation bundles for keyrite-import on air-gapped hosts.
    #[command(subcommand)]
    Bundle(Box<BundleCommand>),
    /// Verify a ceremony transcript.
    #[command(subcommand)]
    Transcript(TranscriptCommand),
    /// Show the SHA-256 of an ISO image, or of the device it was written to, as hex and words.
    MediumHash {
        /// The ISO file or the boot device (/dev/sr0, /dev/sdb).
        path: PathBuf,
    },
    /// Rehearse on throwaway SoftHSM2 tokens: the whole lifecycle, in the terminal UI or with
    /// --batch without a terminal, then the site's side on a throwaway host.
    Rehearse(RehearseArgs),
    /// Print a shell completion script: keyrite completions bash > /etc/bash_completion.d/keyrite
    Completions {
        /// The shell.
        shell: keyrite::sys::shell::Shell,
    },
    /// Write keyrite's man pages (keyrite.1 and one per command) into DIR, e.g.
    /// /usr/local/share/man/man1.
    Man {
        /// Where the pages go.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
}

fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let mut cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    if let Some(Command::Bundle(command)) = &mut cli.command
        && let Err(e) = command.pair_crl_urls(&matches)
    {
        eprintln!("keyrite: error: {e}");
        return ExitCode::FAILURE;
    }
    for warning in keyrite::sys::hygiene::harden_process().warnings {
        eprintln!("keyrite: note: {warning}");
    }
    let result = match cli.command {
        Some(command) => run(command),
        None => tui::pick_and_run(),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!(
                "keyrite: error: {}",
                keyrite::pki::name::hidden_escaped(&e.to_string())
            );
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> Result<ExitCode, keyrite::Error> {
    match command {
        Command::Token(command) => token::run(command),
        Command::Root(command) => root::run(command),
        Command::Shares(command) => shares::run(command),
        Command::Csr(command) => csr::run(command),
        Command::Delegate(command) => delegate::run(command),
        Command::Crl(command) => crl::run(command),
        Command::Ledger(command) => ledger::run(command),
        Command::Publisher(command) => publisher::run(command),
        Command::Bundle(command) => bundle::run(*command),
        Command::Transcript(command) => transcript::run(command),
        Command::Completions { shell } => {
            let script = keyrite::sys::shell::completions(&mut Cli::command(), "keyrite", shell);
            std::io::Write::write_all(&mut std::io::stdout(), &script)
                .map_err(|e| keyrite::Error::Usage(format!("writing the script: {e}")))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Man { out } => {
            let pages = keyrite::sys::shell::man_pages(Cli::command(), &out)?;
            println!("Wrote {} man pages into {}.", pages.len(), out.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::MediumHash { path } => {
            let (fp, size) =
                keyrite::ceremony::media::iso_fingerprint(&path).map_err(keyrite::Error::Usage)?;
            println!("SHA-256 of the {size}-byte image on {}:", path.display());
            println!("{}", fp.hex());
            println!("{}", fp.words_block());
            Ok(ExitCode::SUCCESS)
        }
        Command::Rehearse(args) => rehearse::run(args),
    }
}

/// Prints what the root is about to sign, before it signs: on stderr, so that stdout keeps
/// only the command's result (and `--json` stays one document).
fn print_preview(lines: &[String]) {
    eprintln!("keyrite: the root signs:");
    for line in lines {
        eprintln!("  {line}");
    }
}

/// Prints `value` as pretty JSON, for `--json`.
fn print_json<T: serde::Serialize>(value: &T) {
    match serde_json::to_string_pretty(value) {
        Ok(text) => println!("{text}"),
        Err(e) => eprintln!("keyrite: error: cannot encode JSON: {e}"),
    }
}
