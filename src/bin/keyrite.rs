//! `keyrite`: the ceremony station's command line.

use std::cell::RefCell;
use std::path::PathBuf;
use std::process::ExitCode;
use std::rc::Rc;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use keyrite::bundle::make::{
    CrlSource, Made, RevocationRequest, TrustRequest, make_revocation, make_trust,
};
use keyrite::ceremony::engine::{BatchConfirmer, Ceremony};
use keyrite::ceremony::{rehearsal, transcript};
use keyrite::crl::{CrlRequest, Revocation, issue_crls};
use keyrite::delegate::{DelegateRequest, issue_delegate};
use keyrite::fingerprint::Fingerprint;
use keyrite::pki::name::parse_subject;
use keyrite::pki::profile::DelegateKind;
use keyrite::pki::validity::Period;
use keyrite::root::{
    Backup, RecoverRequest, RootRequest, create_backed_up, create_token_only, recover,
    verify_shares,
};
use keyrite::seal::{Openers, read_identities};
use keyrite::shares::{Threshold, parse_custodians};
use keyrite::signer::KeyAlgorithm;
use keyrite::token::{
    KeyAudit, KeyOrigin, Module, Pkcs11Uri, SlotReport, Token, list_slots, resolve_module,
};
use keyrite::tui::{TerminalKeys, Ui};
use zeroize::Zeroizing;

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
    /// Issue delegate certificates from publishers' CSRs.
    #[command(subcommand)]
    Delegate(DelegateCommand),
    /// Issue certificate revocation lists.
    #[command(subcommand)]
    Crl(CrlCommand),
    /// Publishers' signing keys: make one with its CSR, record the chain the ceremony issued
    /// for it, and install the notation plugin that signs with it.
    #[command(subcommand)]
    Publisher(PublisherCommand),
    /// Sign trust and revocation bundles for keyrite-import on air-gapped hosts.
    #[command(subcommand)]
    Bundle(BundleCommand),
    /// Verify a ceremony transcript.
    #[command(subcommand)]
    Transcript(TranscriptCommand),
    /// Show the SHA-256 of an ISO image, or of the device it was written to, as hex and words.
    MediumHash {
        /// The ISO file or the boot device (/dev/sr0, /dev/sdb).
        path: PathBuf,
    },
    /// Rehearse on throwaway SoftHSM2 tokens: the root creation ceremony in the terminal UI,
    /// or with --batch the whole lifecycle without a terminal.
    Rehearse {
        /// Run the whole lifecycle without a terminal, confirming each step as the script asks.
        #[arg(long, requires = "out")]
        batch: bool,
        /// The rehearsal's directory (new, or one a killed rehearsal left, to resume it);
        /// without it, a fresh temporary directory.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Write the ceremony's records to this medium (a device path, LABEL=… or UUID=…),
        /// mounted at DIR/out while the rehearsal runs, as a ceremony's output medium is.
        #[arg(long, value_name = "DEVICE")]
        output_device: Option<String>,
    },
}

#[derive(Subcommand)]
enum TranscriptCommand {
    /// Check a transcript's signature by the root, its chain of entries, and the digests of
    /// the artefacts given.
    Verify {
        /// The transcript (its signature is FILE.p7s).
        file: PathBuf,
        /// The root certificate.
        #[arg(long, value_name = "FILE")]
        root_cert: PathBuf,
        /// Artefacts to check against the digests the transcript recorded.
        artefacts: Vec<PathBuf>,
    },
}

#[derive(Subcommand)]
enum BundleCommand {
    /// Sign a trust bundle: roots, TSA roots and trust policy statements.
    ///
    /// To introduce a successor root, add it with --add-root and have it sign too with
    /// --cosign; to drop the signing root (root revocation, or the end of an overlap signed by
    /// the old root), add --retire-signing-root.
    Trust {
        /// PKCS#11 URI of the signing root's key.
        #[arg(long, value_name = "URI")]
        token: String,
        /// The signing root's certificate.
        #[arg(long, value_name = "FILE")]
        root_cert: PathBuf,
        /// Another root to carry, such as a successor during a rotation.
        #[arg(long = "add-root", value_name = "CERT")]
        add_roots: Vec<PathBuf>,
        /// PKCS#11 URI of an added root's key, which signs the bundle too.
        #[arg(long, value_name = "URI")]
        cosign: Vec<String>,
        /// Leave the signing root out of the bundle.
        #[arg(long)]
        retire_signing_root: bool,
        /// A timestamping authority's root.
        #[arg(long = "tsa-root", value_name = "CERT")]
        tsa_roots: Vec<PathBuf>,
        /// Trust policy statements (TOML, see bundles/README.md).
        #[arg(long, value_name = "POLICY.toml")]
        policy: Option<PathBuf>,
        /// The lineage's fingerprint, when the signing root is a successor.
        #[arg(long, value_name = "FINGERPRINT")]
        lineage: Option<String>,
        /// The bundle's version: greater than any trust bundle of the lineage before it.
        #[arg(long, value_name = "N")]
        version: u64,
        /// How long the bundle may be installed: 1y, 90d.
        #[arg(long, value_name = "PERIOD")]
        expires: String,
        /// The bundle file to write.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// The PKCS#11 module (or the URI's module-path, or KEYRITE_PKCS11_MODULE).
        #[arg(long, value_name = "PATH")]
        module: Option<PathBuf>,
    },
    /// Sign a revocation bundle: the root's CRL and the CDP URLs it answers for.
    Revocation {
        /// PKCS#11 URI of the signing root's key.
        #[arg(long, value_name = "URI")]
        token: String,
        /// The signing root's certificate (the CRL's issuer).
        #[arg(long, value_name = "FILE")]
        root_cert: PathBuf,
        /// A CRL (DER or PEM): the newest of each issuing root of the lineage.
        #[arg(long, value_name = "FILE", required = true)]
        crl: Vec<PathBuf>,
        /// A CRL distribution point URL the CRL before it answers for (the URL its issuer's
        /// delegates carry). With a single --crl, every --crl-url is that CRL's.
        #[arg(long = "crl-url", value_name = "URL")]
        crl_urls: Vec<String>,
        /// Another root of the lineage whose CRL the bundle carries (the other root during a
        /// rotation's overlap).
        #[arg(long, value_name = "FILE")]
        crl_issuer: Vec<PathBuf>,
        /// Each --crl with its --crl-url values, paired from their order on the command line.
        #[arg(skip)]
        crl_sources: Vec<CrlSource>,
        /// The lineage's fingerprint, when the signing root is a successor.
        #[arg(long, value_name = "FINGERPRINT")]
        lineage: Option<String>,
        /// The bundle's version: greater than any revocation bundle of the lineage before it.
        #[arg(long, value_name = "N")]
        version: u64,
        /// The bundle file to write.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// The PKCS#11 module (or the URI's module-path, or KEYRITE_PKCS11_MODULE).
        #[arg(long, value_name = "PATH")]
        module: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum CrlCommand {
    /// Sign a CRL (or a series of consecutive CRLs) with the root key on the token, carrying
    /// every revocation in the ledger plus the new ones.
    Issue {
        /// PKCS#11 URI of the root key.
        #[arg(long, value_name = "URI")]
        token: String,
        /// The root certificate.
        #[arg(long, value_name = "FILE")]
        root_cert: PathBuf,
        /// The issuance ledger directory.
        #[arg(long, value_name = "DIR", default_value = "ledger")]
        ledger: PathBuf,
        /// Revoke a certificate: SERIAL (hex), optionally :REASON (keyCompromise, superseded,
        /// cessationOfOperation, ...) and :INVALIDITY-DATE (YYYY-MM-DD). Repeatable.
        #[arg(long, value_name = "SERIAL[:REASON[:DATE]]")]
        revoke: Vec<String>,
        /// Revoke serials the ledger does not know.
        #[arg(long)]
        force_unknown: bool,
        /// How long each CRL is valid: 90d.
        #[arg(long, value_name = "PERIOD")]
        next_update: String,
        /// Pre-sign K consecutive CRLs for a long gap between ceremonies.
        #[arg(long, value_name = "K", default_value_t = 1)]
        series: u32,
        /// With --series: the distance between consecutive CRLs (at most --next-update).
        #[arg(long, value_name = "PERIOD")]
        period: Option<String>,
        /// The CRL file (DER); a series numbers its files (root.crl -> root.7.crl).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Also write each CRL as PEM beside the DER file.
        #[arg(long)]
        pem: bool,
        /// PKCS#11 module (default: the URI's module-path, then $KEYRITE_PKCS11_MODULE).
        #[arg(long, value_name = "PATH")]
        module: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum PublisherCommand {
    /// Make a signing key where it will live and a CSR for it: on a token (pkcs11:…;object=LABEL,
    /// generated inside, never extractable, sign-only) or in a file (file:PATH, sealed with age
    /// to a passphrase or --recipient; PATH.pub holds the public key).
    Keygen {
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
        #[arg(long, value_name = "N", default_value_t = keyrite::seal::SCRYPT_LOG_N)]
        scrypt_work_factor: u8,
        /// file: keys: write the private key in clear (only notation's own local signing needs
        /// this; notation-keyrite signs with sealed keys).
        #[arg(long)]
        plaintext: bool,
        /// PKCS#11 module (default: the URI's module-path, then $KEYRITE_PKCS11_MODULE).
        #[arg(long, value_name = "PATH")]
        module: Option<PathBuf>,
    },
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

#[derive(Subcommand)]
enum DelegateCommand {
    /// Issue a certificate from a CSR, signed by the root key on the token; writes
    /// DIR/<csr name>.crt and DIR/<csr name>.chain.pem (leaf, then root) and records it in the ledger.
    Issue {
        /// PKCS#11 URI of the root key (object= or id= when the token holds several keys).
        #[arg(long, value_name = "URI")]
        token: String,
        /// The root certificate.
        #[arg(long, value_name = "FILE")]
        root_cert: PathBuf,
        /// The publisher's CSR (PEM or DER).
        #[arg(long, value_name = "FILE")]
        csr: PathBuf,
        /// signing (a publisher's signing certificate) or ca (a delegate CA, pathLen 0).
        #[arg(long, value_enum)]
        profile: ProfileArg,
        /// Validity, in years or days (never beyond the root's): 1y, 90d.
        #[arg(long)]
        validity: String,
        /// http:// URL of the CRL that will cover this certificate (its CRL distribution point).
        #[arg(long, value_name = "URL")]
        crl_url: Option<String>,
        /// The issuance ledger directory.
        #[arg(long, value_name = "DIR", default_value = "ledger")]
        ledger: PathBuf,
        /// Output directory (created if missing; existing files are never overwritten).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// PKCS#11 module (default: the URI's module-path, then $KEYRITE_PKCS11_MODULE).
        #[arg(long, value_name = "PATH")]
        module: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ProfileArg {
    /// keyUsage digitalSignature, EKU codeSigning, CA=FALSE.
    Signing,
    /// CA=TRUE pathLen 0, keyUsage keyCertSign + cRLSign.
    Ca,
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
    /// Generate the root key and write DIR/root.crt, DIR/root.fingerprint and, when backed
    /// up, one share card (PNG and SVG) per custodian.
    Create {
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
    },
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

#[derive(Subcommand)]
enum SharesCommand {
    /// Check shares against the root certificate without combining them (a custody audit).
    Verify {
        /// The root certificate the shares belong to.
        #[arg(long, value_name = "FILE")]
        root_cert: PathBuf,
        /// age identity file that opens sealed cards (repeatable).
        #[arg(long = "identity", value_name = "FILE")]
        identities: Vec<PathBuf>,
        /// Share files: card PNG or SVG, typed text, or decoded QR text.
        #[arg(value_name = "CARD-or-TEXT", required = true)]
        shares: Vec<PathBuf>,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// Generated inside the token, never extractable, no backup.
    TokenOnly,
    /// Generated in memory, split T-of-N onto custodians' cards, imported into every token.
    BackedUp,
}

fn parse_lineage(text: Option<&str>) -> Result<Option<Fingerprint>, keyrite::Error> {
    text.map(|t| {
        Fingerprint::parse(t).map_err(|e| keyrite::Error::Usage(format!("--lineage: {e}")))
    })
    .transpose()
}

fn print_bundle(made: &Made, out: &std::path::Path) {
    let p = &made.payload;
    println!(
        "{} bundle version {} written to {}",
        p.kind.name(),
        p.version,
        out.display()
    );
    println!("  lineage:  {}", p.lineage);
    println!("  valid:    {} to {}", p.issued_at, p.expires_at);
    for e in &p.entries {
        println!("  entry:    {} ({})", e.name, e.sha256);
    }
    for s in &p.policy {
        println!("  policy:   {} ({})", s.name, s.registry_scopes.join(", "));
    }
    println!("  bundle SHA-256: {}", made.fingerprint);
    println!("{}", made.fingerprint.words_block());
}

/// Runs `ceremony` in the terminal UI on the real terminal, restoring it afterwards.
fn run_tui(ceremony: Ceremony, opening: Option<&str>) -> Result<(), keyrite::Error> {
    let terminal = ratatui::try_init()
        .map_err(|e| keyrite::Error::Usage(format!("the terminal UI needs a terminal: {e}")))?;
    let ui = Rc::new(RefCell::new(Ui::new(terminal, TerminalKeys)));
    let result = keyrite::tui::run_ceremony(ui, ceremony, opening);
    ratatui::restore();
    result.map(drop).map_err(keyrite::Error::from)
}

/// The `*.toml` files in the first of `dirs` that has any.
fn toml_files(dirs: &[PathBuf]) -> Vec<PathBuf> {
    for dir in dirs {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
            .collect();
        if !files.is_empty() {
            files.sort();
            return files;
        }
    }
    Vec::new()
}

/// `keyrite` with no command: pick a script and a profile in the terminal UI, then run it.
fn pick_and_run() -> Result<ExitCode, keyrite::Error> {
    let env_dir = |var: &str| std::env::var_os(var).map(PathBuf::from);
    let scripts = toml_files(
        &[
            env_dir("KEYRITE_SCRIPTS"),
            Some("/usr/share/keyrite/ceremony-scripts".into()),
            Some("ceremony-scripts".into()),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>(),
    );
    let profiles = toml_files(
        &[
            env_dir("KEYRITE_PROFILES"),
            Some("/etc/keyrite/profiles".into()),
            Some("profiles".into()),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>(),
    );
    if scripts.is_empty() || profiles.is_empty() {
        return Err(keyrite::Error::Usage(
            "no ceremony scripts or profiles found: set KEYRITE_SCRIPTS and KEYRITE_PROFILES to their directories, or run `keyrite rehearse` (see keyrite --help)".into(),
        ));
    }
    let names = |files: &[PathBuf]| {
        files
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
    };
    let terminal = ratatui::try_init()
        .map_err(|e| keyrite::Error::Usage(format!("the terminal UI needs a terminal: {e}")))?;
    let ui = Rc::new(RefCell::new(Ui::new(terminal, TerminalKeys)));
    let picked = (|| -> std::io::Result<Option<(usize, usize)>> {
        let mut ui = ui.borrow_mut();
        let Some(s) = ui.pick("Ceremony script", &names(&scripts))? else {
            return Ok(None);
        };
        let Some(p) = ui.pick("Environment profile", &names(&profiles))? else {
            return Ok(None);
        };
        Ok(Some((s, p)))
    })();
    let result = match picked {
        Ok(Some((s, p))) => Ceremony::open(&scripts[s], &profiles[p])
            .and_then(|c| keyrite::tui::run_ceremony(Rc::clone(&ui), c, None))
            .map(drop)
            .map_err(keyrite::Error::from),
        Ok(None) => Ok(()),
        Err(e) => Err(keyrite::Error::Usage(format!("terminal: {e}"))),
    };
    ratatui::restore();
    result.map(|()| ExitCode::SUCCESS)
}

fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let mut cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    if let Some(Command::Bundle(BundleCommand::Revocation {
        crl,
        crl_urls,
        crl_sources,
        ..
    })) = &mut cli.command
    {
        let m = matches
            .subcommand_matches("bundle")
            .and_then(|m| m.subcommand_matches("revocation"));
        match pair_crl_urls(m, crl, crl_urls) {
            Ok(sources) => *crl_sources = sources,
            Err(e) => {
                eprintln!("keyrite: error: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    for warning in keyrite::hygiene::harden_process().warnings {
        eprintln!("keyrite: note: {warning}");
    }
    let result = match cli.command {
        Some(command) => run(command),
        None => pick_and_run(),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("keyrite: error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Gives each `--crl` the `--crl-url` values that follow it on the command line (all of them
/// when there is one CRL). clap's derive keeps no order across two options, so the positions
/// come from the raw matches.
fn pair_crl_urls(
    matches: Option<&clap::ArgMatches>,
    crls: &[PathBuf],
    urls: &[String],
) -> Result<Vec<CrlSource>, keyrite::Error> {
    if let [path] = crls {
        return Ok(vec![CrlSource {
            path: path.clone(),
            urls: urls.to_vec(),
        }]);
    }
    let positions = |id: &str| -> Vec<usize> {
        matches
            .and_then(|m| m.indices_of(id))
            .map(Iterator::collect)
            .unwrap_or_default()
    };
    let (crl_at, url_at) = (positions("crl"), positions("crl_urls"));
    let mut sources: Vec<CrlSource> = crls
        .iter()
        .map(|path| CrlSource {
            path: path.clone(),
            urls: Vec::new(),
        })
        .collect();
    for (url, at) in urls.iter().zip(url_at) {
        let owner = crl_at.iter().rposition(|&c| c < at).ok_or_else(|| {
            keyrite::Error::Usage(format!(
                "--crl-url {url} comes before any --crl: with several CRLs, give each one's URLs right after it"
            ))
        })?;
        sources[owner].urls.push(url.clone());
    }
    Ok(sources)
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
        }) => {
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
                            "backed-up mode needs --shares T-of-N and one --custodian per share"
                                .into(),
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
            Ok(ExitCode::SUCCESS)
        }
        Command::Root(RootCommand::Recover {
            root_cert,
            token,
            identities,
            verify_only,
            module,
            shares,
        }) => {
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
        Command::Publisher(command) => publisher(command),
        Command::Delegate(DelegateCommand::Issue {
            token,
            root_cert,
            csr,
            profile,
            validity,
            crl_url,
            ledger,
            out,
            module,
            json,
        }) => {
            let token: Pkcs11Uri = token.parse()?;
            let made = issue_delegate(&DelegateRequest {
                token: &token,
                module: module.as_deref(),
                root_cert: &root_cert,
                csr: &csr,
                kind: match profile {
                    ProfileArg::Signing => DelegateKind::Signing,
                    ProfileArg::Ca => DelegateKind::Ca,
                },
                validity: validity.parse()?,
                crl_url: crl_url.as_deref(),
                ledger: &ledger,
                out_dir: &out,
            })?;
            if json {
                print_json(&serde_json::json!({
                    "certificate": made.cert_path,
                    "chain": made.chain_path,
                    "issued": made.issued,
                }));
            } else {
                let i = &made.issued;
                println!("Delegate certificate issued ({} profile).", i.profile);
                println!("  subject:      {}", i.subject);
                println!("  serial:       {}", i.serial);
                println!("  valid:        {} to {}", i.not_before, i.not_after);
                println!("  certificate:  {}", made.cert_path.display());
                println!("  chain:        {}", made.chain_path.display());
                println!("  SHA-256:      {}", i.cert_sha256);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Transcript(TranscriptCommand::Verify {
            file,
            root_cert,
            artefacts,
        }) => {
            let verified = transcript::verify(&file, &root_cert, &artefacts)?;
            println!(
                "Transcript verified: {} entries, signed by the root in {}.",
                verified.entries.len(),
                root_cert.display()
            );
            for (path, seq) in &verified.artefacts {
                println!("  {} matches entry {seq}", path.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::MediumHash { path } => {
            let (fp, size) =
                keyrite::medium::iso_fingerprint(&path).map_err(keyrite::Error::Usage)?;
            println!("SHA-256 of the {size}-byte image on {}:", path.display());
            println!("{}", fp.hex());
            println!("{}", fp.words_block());
            Ok(ExitCode::SUCCESS)
        }
        Command::Rehearse {
            batch,
            out,
            output_device,
        } => {
            let out = match out {
                Some(dir) => dir,
                None => tempfile::Builder::new()
                    .prefix("keyrite-rehearsal-")
                    .tempdir()
                    .map_err(|e| {
                        keyrite::Error::Usage(format!("cannot make a temporary directory: {e}"))
                    })?
                    .keep(),
            };
            let script = if batch {
                rehearsal::LIFECYCLE_SCRIPT
            } else {
                rehearsal::ROOT_CREATION_SCRIPT
            };
            let pins = if batch {
                rehearsal::PinEntry::FromFile
            } else {
                rehearsal::PinEntry::Typed
            };
            let setup = rehearsal::prepare(&out, script, pins, output_device.as_deref())?;
            // SAFETY: still single-threaded; the PKCS#11 module reads these when it loads.
            unsafe {
                std::env::set_var("SOFTHSM2_CONF", &setup.softhsm_conf);
                std::env::set_var("KEYRITE_REHEARSAL", "1");
            }
            let mut ceremony = Ceremony::open(&setup.script, &setup.profile)?;
            if !batch {
                let pin =
                    Zeroizing::new(std::fs::read_to_string(&setup.pin_file).map_err(|e| {
                        keyrite::Error::Usage(format!("{}: {e}", setup.pin_file.display()))
                    })?);
                let opening = Zeroizing::new(format!(
                    "A rehearsal on throwaway SoftHSM2 tokens. Their PIN is {}: type it whenever a step asks for a token PIN, as an officer would at a real ceremony.",
                    pin.trim()
                ));
                run_tui(ceremony, Some(&opening))?;
                println!("Rehearsal records are in {}.", out.display());
                return Ok(ExitCode::SUCCESS);
            }
            if ceremony.is_resumed() {
                println!("Resuming the rehearsal in {}.", out.display());
            }
            println!(
                "Script {} SHA-256 {}\n{}",
                ceremony.script.name,
                ceremony.script_hash,
                ceremony.script_hash.words_block()
            );
            let finished = ceremony.run(&mut BatchConfirmer)?;
            let manifest = rehearsal::write_manifest(&out, &finished)?;
            println!(
                "Rehearsal finished. Transcript {} (signature {}), summary {}, manifest {}.",
                finished.transcript.display(),
                finished.signature.display(),
                finished.summary.display(),
                manifest.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Bundle(BundleCommand::Trust {
            token,
            root_cert,
            add_roots,
            cosign,
            retire_signing_root,
            tsa_roots,
            policy,
            lineage,
            version,
            expires,
            out,
            module,
        }) => {
            let token: Pkcs11Uri = token.parse()?;
            let cosign = cosign
                .iter()
                .map(|u| u.parse::<Pkcs11Uri>())
                .collect::<Result<Vec<_>, _>>()?;
            let made = make_trust(&TrustRequest {
                token: &token,
                module: module.as_deref(),
                root_cert: &root_cert,
                lineage: parse_lineage(lineage.as_deref())?,
                add_roots: &add_roots,
                cosign: &cosign,
                retire_signing_root,
                tsa_roots: &tsa_roots,
                policy: policy.as_deref(),
                version,
                expires: expires.parse()?,
                out: &out,
            })?;
            print_bundle(&made, &out);
            Ok(ExitCode::SUCCESS)
        }
        Command::Bundle(BundleCommand::Revocation {
            token,
            root_cert,
            crl_issuer,
            crl_sources,
            lineage,
            version,
            out,
            module,
            ..
        }) => {
            let token: Pkcs11Uri = token.parse()?;
            let made = make_revocation(&RevocationRequest {
                token: &token,
                module: module.as_deref(),
                root_cert: &root_cert,
                lineage: parse_lineage(lineage.as_deref())?,
                crls: &crl_sources,
                crl_issuers: &crl_issuer,
                version,
                out: &out,
            })?;
            print_bundle(&made, &out);
            Ok(ExitCode::SUCCESS)
        }
        Command::Crl(CrlCommand::Issue {
            token,
            root_cert,
            ledger,
            revoke,
            force_unknown,
            next_update,
            series,
            period,
            out,
            pem,
            module,
        }) => {
            let token: Pkcs11Uri = token.parse()?;
            let revoke = revoke
                .iter()
                .map(|r| r.parse::<Revocation>())
                .collect::<Result<Vec<_>, _>>()?;
            let period = period.map(|p| p.parse::<Period>()).transpose()?;
            let crls = issue_crls(&CrlRequest {
                token: &token,
                module: module.as_deref(),
                root_cert: &root_cert,
                ledger: &ledger,
                revoke: &revoke,
                force_unknown,
                next_update: next_update.parse()?,
                series,
                period,
                out: &out,
                pem,
            })?;
            for crl in &crls {
                println!(
                    "CRL {} valid {} to {}: {}",
                    crl.number,
                    crl.this_update,
                    crl.next_update,
                    crl.files
                        .iter()
                        .map(|f| f.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
            if crls.len() > 1 {
                println!(
                    "These {} CRLs are signed now and carry only the revocations known now: a certificate revoked after this ceremony needs a new CRL from a new ceremony.",
                    crls.len()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Shares(SharesCommand::Verify {
            root_cert,
            identities,
            shares,
        }) => {
            let report = verify_shares(&root_cert, &shares, &openers(&identities)?)?;
            print!("{report}");
            Ok(if report.all_good() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}

/// Reads `--custodian NAME[=RECIPIENT]` values; passphrases are asked for here, before any key
/// exists, so a mistyped one stops the ceremony early.
fn publisher(command: PublisherCommand) -> Result<ExitCode, keyrite::Error> {
    use keyrite::publisher::{self, KeyRef};
    match command {
        PublisherCommand::Keygen {
            key,
            algorithm,
            subject,
            out,
            recipient,
            scrypt_work_factor,
            plaintext,
            module,
        } => {
            let key: KeyRef = key.parse()?;
            let algorithm: KeyAlgorithm = algorithm.parse()?;
            let subject = parse_subject(&subject)?;
            let protection = match &key {
                KeyRef::Token(_) if recipient.is_none() && !plaintext => None,
                KeyRef::Token(_) => Some(publisher::file_key::Protection::Plaintext),
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
                "Key id (for notation key add --plugin keyrite --id): {}",
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
                None => keyrite::dirs::notation_config()
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
) -> Result<keyrite::publisher::file_key::Protection, keyrite::Error> {
    use keyrite::publisher::file_key::Protection;
    use keyrite::seal::{SCRYPT_MAX_LOG_N, SealTo, parse_recipient, read_passphrase};
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

fn openers(identities: &[PathBuf]) -> Result<Openers, keyrite::Error> {
    let mut openers = Openers::default();
    for path in identities {
        openers.identities.extend(read_identities(path)?);
    }
    Ok(openers)
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
