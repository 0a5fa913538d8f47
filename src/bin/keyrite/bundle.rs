//! `keyrite bundle`: trust and revocation bundles for keyrite-import on air-gapped hosts.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use keyrite::bundle::make::{
    CrlSource, Made, RevocationRequest, ThirdPartyCrlSource, ThirdPartySource, TrustRequest,
    make_revocation, make_trust,
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
        /// A timestamping authority's root. The policy's statements trust it under
        /// verifyTimestamp afterCertExpiry unless they name another rule.
        #[arg(long = "tsa-root", value_name = "CERT")]
        tsa_roots: Vec<PathBuf>,
        /// A TSA's timestamping certificate (PEM, its intermediates after it), checked
        /// against notation's rules and the --tsa-root it chains to before the root signs;
        /// not carried in the bundle.
        #[arg(long = "tsa-cert", value_name = "CERT")]
        tsa_certs: Vec<PathBuf>,
        /// Trust policy statements (TOML, see bundles/README.md).
        #[arg(long, value_name = "POLICY.toml")]
        policy: Option<PathBuf>,
        /// A CRL distribution point URL the lineage's delegates carry (repeatable): hosts let
        /// the lineage's revocation bundles fill notation's CRL cache for these URLs only.
        #[arg(long = "crl-url", value_name = "URL")]
        crl_urls: Vec<String>,
        /// A third party's root the site vouches for (a vendor with its own notation root),
        /// as NAME=CERT: the site's root signs for it, the third party never cosigns.
        #[arg(long = "third-party", value_name = "NAME=CERT")]
        third_party: Vec<String>,
        /// A repository third party NAME is trusted for (repeatable; at least one each):
        /// inside the scopes sites grant this lineage.
        #[arg(long = "third-party-scope", value_name = "NAME=REGISTRY/REPO")]
        third_party_scope: Vec<String>,
        /// An identity third party NAME's signing certificates must match
        /// ('x509.subject: C=…, O=…, CN=…'); any certificate its root issued without one.
        #[arg(long = "third-party-identity", value_name = "NAME=IDENTITY")]
        third_party_identity: Vec<String>,
        /// Third party NAME's timestamping root.
        #[arg(long = "third-party-tsa", value_name = "NAME=CERT")]
        third_party_tsa: Vec<String>,
        /// When third party NAME's signatures need a timestamp from its TSA, as NAME=RULE:
        /// afterCertExpiry (the default: once a certificate has expired) or always. Only with
        /// --third-party-tsa NAME=…; never, which would leave the TSA root unused, is refused.
        #[arg(long = "third-party-verify-timestamp", value_name = "NAME=RULE")]
        third_party_verify_timestamp: Vec<String>,
        /// A CRL distribution point URL third party NAME's certificates carry: its CRLs in
        /// revocation bundles may fill notation's CRL cache for it.
        #[arg(long = "third-party-crl-url", value_name = "NAME=URL")]
        third_party_crl_url: Vec<String>,
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
        /// A third party's own CRL, as NAME=FILE, carried as it published it.
        #[arg(long = "third-party-crl", value_name = "NAME=FILE")]
        third_party_crl: Vec<String>,
        /// Third party NAME's root (NAME=CERT), which must have signed its CRL.
        #[arg(long = "third-party", value_name = "NAME=CERT")]
        third_party: Vec<String>,
        /// A CRL distribution point URL third party NAME's CRL answers for.
        #[arg(long = "third-party-crl-url", value_name = "NAME=URL")]
        third_party_crl_url: Vec<String>,
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
            tsa_certs,
            policy,
            crl_urls,
            third_party,
            third_party_scope,
            third_party_identity,
            third_party_tsa,
            third_party_verify_timestamp,
            third_party_crl_url,
            lineage,
            version,
            expires,
            out,
            module,
        } => {
            let mut third_parties: Vec<ThirdPartySource> = named("--third-party", &third_party)?
                .into_iter()
                .map(|(name, root)| ThirdPartySource {
                    name,
                    root: root.into(),
                    ..Default::default()
                })
                .collect();
            for (flag, values) in [
                ("--third-party-scope", &third_party_scope),
                ("--third-party-identity", &third_party_identity),
                ("--third-party-tsa", &third_party_tsa),
                (
                    "--third-party-verify-timestamp",
                    &third_party_verify_timestamp,
                ),
                ("--third-party-crl-url", &third_party_crl_url),
            ] {
                for (name, value) in named(flag, values)? {
                    let t = of(&mut third_parties, flag, &name, |t| &t.name)?;
                    match flag {
                        "--third-party-scope" => t.scopes.push(value),
                        "--third-party-identity" => t.identities.push(value),
                        "--third-party-crl-url" => t.crl_urls.push(value),
                        "--third-party-verify-timestamp" if t.verify_timestamp.is_some() => {
                            return Err(keyrite::Error::Usage(format!(
                                "--third-party-verify-timestamp {name}= is given twice: a third party has one timestamp rule"
                            )));
                        }
                        "--third-party-verify-timestamp" => {
                            t.verify_timestamp = Some(value.parse().map_err(|e| {
                                keyrite::Error::Usage(format!(
                                    "--third-party-verify-timestamp {name}=: {e}"
                                ))
                            })?);
                        }
                        _ if t.tsa_root.is_some() => {
                            return Err(keyrite::Error::Usage(format!(
                                "--third-party-tsa {name}= is given twice: a third party has one TSA root"
                            )));
                        }
                        _ => t.tsa_root = Some(value.into()),
                    }
                }
            }
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
                tsa_certs: &tsa_certs,
                policy: policy.as_deref(),
                crl_urls: &crl_urls,
                third_parties: &third_parties,
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
            third_party_crl,
            third_party,
            third_party_crl_url,
            lineage,
            version,
            out,
            module,
            ..
        } => {
            let token: Pkcs11Uri = token.parse()?;
            let mut third_party_crls: Vec<ThirdPartyCrlSource> =
                named("--third-party-crl", &third_party_crl)?
                    .into_iter()
                    .map(|(name, crl)| ThirdPartyCrlSource {
                        name,
                        crl: crl.into(),
                        ..Default::default()
                    })
                    .collect();
            for (name, root) in named("--third-party", &third_party)? {
                let t = of(&mut third_party_crls, "--third-party", &name, |t| &t.name)?;
                t.root = root.into();
            }
            for (name, url) in named("--third-party-crl-url", &third_party_crl_url)? {
                of(&mut third_party_crls, "--third-party-crl-url", &name, |t| {
                    &t.name
                })?
                .urls
                .push(url);
            }
            if let Some(t) = third_party_crls
                .iter()
                .find(|t| t.root.as_os_str().is_empty())
            {
                return Err(keyrite::Error::Usage(format!(
                    "--third-party-crl {}=… needs --third-party {}=CERT, the third party's root its CRL must verify under",
                    t.name, t.name
                )));
            }
            let made = make_revocation(&RevocationRequest {
                token: &token,
                module: module.as_deref(),
                root_cert: &root_cert,
                lineage: parse_lineage(lineage.as_deref())?,
                crls: &crl_sources,
                crl_issuers: &crl_issuer,
                third_party_crls: &third_party_crls,
                version,
                out: &out,
            })?;
            print_bundle(&made, &out);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Splits each `NAME=VALUE` of `flag`.
fn named(flag: &str, values: &[String]) -> Result<Vec<(String, String)>, keyrite::Error> {
    values
        .iter()
        .map(|v| match v.split_once('=') {
            Some((name, value)) if !name.is_empty() && !value.is_empty() => {
                Ok((name.to_owned(), value.to_owned()))
            }
            _ => Err(keyrite::Error::Usage(format!(
                "{flag} '{}' is not NAME=VALUE: give the third party's name, '=', then the value",
                keyrite::pki::name::ascii_escaped(v)
            ))),
        })
        .collect()
}

/// The third party `name` among `all` (named by `name_of`), for `flag`.
fn of<'a, T>(
    all: &'a mut [T],
    flag: &str,
    name: &str,
    name_of: impl Fn(&T) -> &String,
) -> Result<&'a mut T, keyrite::Error> {
    let known: Vec<String> = all.iter().map(|t| name_of(t).clone()).collect();
    all.iter_mut().find(|t| name_of(t) == name).ok_or_else(|| {
        keyrite::Error::Usage(format!(
            "{flag} names third party '{}', which this command does not give (given: {}): \
             name each third party first with --third-party NAME=CERT (for a revocation \
             bundle, --third-party-crl NAME=FILE)",
            keyrite::pki::name::ascii_escaped(name),
            if known.is_empty() {
                "none".to_owned()
            } else {
                known.join(", ")
            }
        ))
    })
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
        if e.role == keyrite::bundle::Role::ThirdPartyRoot
            && let Ok(fp) = Fingerprint::parse(&e.sha256)
        {
            println!("            {}", fp.words().join(" "));
        }
    }
    for u in &p.crl_urls {
        println!("  CRL URL:  {u}");
    }
    let rule = |r: Option<keyrite::bundle::VerifyTimestamp>| {
        r.map_or_else(
            || "no TSA root".to_owned(),
            |r| format!("verifyTimestamp {}", r.name()),
        )
    };
    for s in &p.policy {
        println!(
            "  policy:   {} ({}); {}",
            s.name,
            s.registry_scopes.join(", "),
            rule(s.timestamp_rule())
        );
    }
    for t in &p.third_parties {
        println!(
            "  third party: {} ({}); {}",
            t.name,
            t.registry_scopes.join(", "),
            rule(t.verify_timestamp)
        );
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
