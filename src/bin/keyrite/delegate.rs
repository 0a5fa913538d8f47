//! `keyrite delegate`: delegate certificates from publishers' CSRs.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Subcommand, ValueEnum};
use keyrite::ca::delegate::{DelegateRequest, issue_delegate, plan_delegate};
use keyrite::keys::token::Pkcs11Uri;
use keyrite::pki::name::ascii_escaped;
use keyrite::pki::profile::DelegateKind;

use crate::{print_json, print_preview};

#[derive(Subcommand)]
pub(crate) enum DelegateCommand {
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
        /// Issue even when another key holds an active certificate for the CSR's subject
        /// (a key rollover where both keys must sign for a while).
        #[arg(long)]
        allow_subject_held_by_another_key: bool,
        /// Issue even when the CSR's key holds an active certificate for another subject (one
        /// key shared by two publishers, or a publisher renamed before its old certificate is
        /// revoked).
        #[arg(long)]
        allow_key_certified_for_another_subject: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ProfileArg {
    /// keyUsage digitalSignature, EKU codeSigning, CA=FALSE.
    Signing,
    /// CA=TRUE pathLen 0, keyUsage keyCertSign + cRLSign.
    Ca,
}

impl From<ProfileArg> for DelegateKind {
    fn from(profile: ProfileArg) -> Self {
        match profile {
            ProfileArg::Signing => DelegateKind::Signing,
            ProfileArg::Ca => DelegateKind::Ca,
        }
    }
}

/// Issues a delegate certificate.
pub(crate) fn run(command: DelegateCommand) -> Result<ExitCode, keyrite::Error> {
    match command {
        DelegateCommand::Issue {
            token,
            root_cert,
            csr,
            profile,
            validity,
            crl_url,
            ledger,
            out,
            module,
            allow_subject_held_by_another_key,
            allow_key_certified_for_another_subject,
            json,
        } => {
            let token: Pkcs11Uri = token.parse()?;
            let request = DelegateRequest {
                token: &token,
                module: module.as_deref(),
                root_cert: &root_cert,
                csr: &csr,
                kind: profile.into(),
                validity: validity.parse()?,
                crl_url: crl_url.as_deref(),
                ledger: &ledger,
                out_dir: &out,
                allow_shared_subject: allow_subject_held_by_another_key,
                allow_shared_key: allow_key_certified_for_another_subject,
            };
            let plan = plan_delegate(&request)?;
            print_preview(plan.lines());
            let made = issue_delegate(&request, plan)?;
            for warning in &made.warnings {
                eprintln!("keyrite: warning: CSR {}: {warning}", csr.display());
            }
            if json {
                print_json(&serde_json::json!({
                    "certificate": made.cert_path,
                    "chain": made.chain_path,
                    "issued": made.issued,
                    "warnings": made.warnings,
                }));
            } else {
                let i = &made.issued;
                println!("Delegate certificate issued ({} profile).", i.profile);
                println!("  subject:      {}", ascii_escaped(&i.subject));
                println!("  serial:       {}", i.serial);
                println!("  valid:        {} to {}", i.not_before, i.not_after);
                println!("  certificate:  {}", made.cert_path.display());
                println!("  chain:        {}", made.chain_path.display());
                println!("  SHA-256:      {}", i.cert_sha256);
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
