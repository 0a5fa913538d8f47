//! `keyrite crl`: revocation lists signed by the root.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use keyrite::ca::crl::{CrlRequest, Revocation, issue_crls, plan_crls};
use keyrite::keys::token::Pkcs11Uri;
use keyrite::pki::validity::Period;

use crate::print_preview;

#[derive(Subcommand)]
pub(crate) enum CrlCommand {
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

/// Issues one CRL or a series.
pub(crate) fn run(command: CrlCommand) -> Result<ExitCode, keyrite::Error> {
    match command {
        CrlCommand::Issue {
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
        } => {
            let token: Pkcs11Uri = token.parse()?;
            let revoke = revoke
                .iter()
                .map(|r| r.parse::<Revocation>())
                .collect::<Result<Vec<_>, _>>()?;
            let period = period.map(|p| p.parse::<Period>()).transpose()?;
            let request = CrlRequest {
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
            };
            let plan = plan_crls(&request)?;
            print_preview(plan.lines());
            let crls = issue_crls(&request, plan)?;
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
    }
}
