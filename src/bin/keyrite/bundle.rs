//! `keyrite bundle`: trust and revocation bundles for keyrite-import on air-gapped hosts.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use keyrite::bundle::make::{
    CrlSource, Made, RevocationRequest, TrustRequest, make_revocation, make_trust,
};
use keyrite::fingerprint::Fingerprint;
use keyrite::keys::token::Pkcs11Uri;

#[derive(Subcommand)]
pub(crate) enum BundleCommand {
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
        /// A CRL distribution point URL the lineage's delegates carry (repeatable): hosts let
        /// the lineage's revocation bundles fill notation's CRL cache for these URLs only.
        #[arg(long = "crl-url", value_name = "URL")]
        crl_urls: Vec<String>,
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

/// Signs a trust or revocation bundle.
pub(crate) fn run(command: BundleCommand) -> Result<ExitCode, keyrite::Error> {
    match command {
        BundleCommand::Trust {
            token,
            root_cert,
            add_roots,
            cosign,
            retire_signing_root,
            tsa_roots,
            policy,
            crl_urls,
            lineage,
            version,
            expires,
            out,
            module,
        } => {
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
                crl_urls: &crl_urls,
                version,
                expires: expires.parse()?,
                out: &out,
            })?;
            print_bundle(&made, &out);
            Ok(ExitCode::SUCCESS)
        }
        BundleCommand::Revocation {
            token,
            root_cert,
            crl_issuer,
            crl_sources,
            lineage,
            version,
            out,
            module,
            ..
        } => {
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
    }
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
    for u in &p.crl_urls {
        println!("  CRL URL:  {u}");
    }
    for s in &p.policy {
        println!("  policy:   {} ({})", s.name, s.registry_scopes.join(", "));
    }
    println!("  bundle SHA-256: {}", made.fingerprint);
    println!("{}", made.fingerprint.words_block());
    if let Some(pin) = p.pin_command() {
        println!("A host meeting this lineage for the first time pins its newest root:");
        println!("  {pin}");
    }
}

impl BundleCommand {
    /// Gives a revocation bundle's CRLs their URLs, from where they stand on the command line.
    pub(crate) fn pair_crl_urls(
        &mut self,
        matches: &clap::ArgMatches,
    ) -> Result<(), keyrite::Error> {
        if let BundleCommand::Revocation {
            crl,
            crl_urls,
            crl_sources,
            ..
        } = self
        {
            let m = matches
                .subcommand_matches("bundle")
                .and_then(|m| m.subcommand_matches("revocation"));
            *crl_sources = pair_crl_urls(m, crl, crl_urls)?;
        }
        Ok(())
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
