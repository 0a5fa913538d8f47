//! The rules a bundle's payload must follow whoever reads it: entry names, URLs, scopes and
//! policy statements notation accepts.

use super::{
    BundleError, Entry, Kind, MAX_ITEMS, MAX_TEXT, MAX_VERSION, Payload, Role, Statement,
    TIMESTAMP_RULE_FORMAT, ThirdParty, parse_time,
};
use crate::notation::{dn, scope};

/// Checks everything about a payload that does not need the importer's state.
pub fn check_payload(p: &Payload) -> Result<(), BundleError> {
    let bad = |m: String| Err(BundleError::Content(m));
    check_sizes(p)?;
    let expected = Payload::format_for(&p.entries, &p.policy, &p.third_parties);
    if p.format != expected {
        return bad(format!(
            "format {} does not match its content, which is written in format {expected}: format {TIMESTAMP_RULE_FORMAT} exactly when a statement or third party names a timestamp rule, else format 3 exactly when a bundle carries a third party's root or CRL",
            p.format
        ));
    }
    if p.lineage.len() != 64
        || !p
            .lineage
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    {
        return bad(format!(
            "lineage '{}' is not a lowercase SHA-256 hex",
            p.lineage
        ));
    }
    if p.version == 0 {
        return bad("version 0: versions start at 1".into());
    }
    if p.version > MAX_VERSION {
        return bad(format!(
            "version {} is above {MAX_VERSION}, the highest a bundle may carry",
            p.version
        ));
    }
    let issued = parse_time("issued_at", &p.issued_at)?;
    let expires = parse_time("expires_at", &p.expires_at)?;
    if expires <= issued {
        return bad("expires_at is not after issued_at".into());
    }
    let mut names = Vec::new();
    for e in &p.entries {
        check_entry_name(e)?;
        if names.contains(&e.name.as_str()) {
            return bad(format!("entry '{}' appears twice", e.name));
        }
        names.push(&e.name);
        let allowed = match p.kind {
            Kind::Trust => !e.role.is_crl(),
            Kind::Revocation => e.role.is_crl(),
        };
        if !allowed {
            return bad(format!(
                "a {} bundle cannot carry entry '{}'",
                p.kind.name(),
                e.name
            ));
        }
        if e.role.is_crl() {
            if e.urls.is_empty() {
                return bad(format!("CRL entry '{}' answers for no CDP URL", e.name));
            }
            if let Some(u) = e.urls.iter().find(|u| !valid_cdp_url(u)) {
                return bad(format!(
                    "CRL entry '{}' names '{u}', which is not an http:// URL",
                    e.name
                ));
            }
        } else if !e.urls.is_empty() {
            return bad(format!(
                "entry '{}' is a certificate but names CDP URLs",
                e.name
            ));
        }
    }
    match p.kind {
        Kind::Trust if !p.entries.iter().any(|e| e.role == Role::Root) => {
            return bad("a trust bundle carries no root".into());
        }
        Kind::Revocation if p.entries.is_empty() => {
            return bad("a revocation bundle carries no CRL".into());
        }
        Kind::Revocation if !p.policy.is_empty() => {
            return bad("a revocation bundle cannot carry trust policy".into());
        }
        Kind::Revocation if !p.crl_urls.is_empty() => {
            return bad(
                "a revocation bundle cannot declare CRL URLs: its lineage's trust bundle does"
                    .into(),
            );
        }
        Kind::Revocation if !p.third_parties.is_empty() => {
            return bad(
                "a revocation bundle cannot declare third parties: its lineage's trust bundle does"
                    .into(),
            );
        }
        _ => {}
    }
    let mut declared: Vec<&str> = p
        .crl_urls
        .iter()
        .chain(p.third_parties.iter().flat_map(|t| &t.crl_urls))
        .map(String::as_str)
        .collect();
    declared.sort_unstable();
    if let Some(w) = declared.windows(2).find(|w| w[0] == w[1]) {
        return bad(format!(
            "CRL URL {} is declared twice (one URL answers for the lineage or one third party)",
            w[0]
        ));
    }
    if let Some(u) = declared.iter().find(|u| !valid_cdp_url(u)) {
        return bad(format!("declared CRL URL '{u}' is not an http:// URL"));
    }
    let has_tsa = p.entries.iter().any(|e| e.role == Role::TsaRoot);
    for (i, s) in p.policy.iter().enumerate() {
        if s.timestamps && p.format >= TIMESTAMP_RULE_FORMAT {
            return bad(format!(
                "policy statement '{}' says timestamps = true, which only formats 2 and 3 say: format {TIMESTAMP_RULE_FORMAT} names the rule in verify_timestamp",
                s.name
            ));
        }
        check_statement(s, has_tsa)
            .map_err(|m| BundleError::Content(format!("policy statement '{}': {m}", s.name)))?;
        if p.policy[..i].iter().any(|o| o.name == s.name) {
            return bad(format!("policy statement '{}' appears twice", s.name));
        }
    }
    check_third_parties(p)
}

/// Whether `name` may name a third party: 1 to 32 lowercase letters, digits and '-', not
/// starting with '-'. It becomes part of a trust store's name and of file names on every
/// host, so nothing that a file system or notation could read differently is allowed.
pub fn valid_third_party_name(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && !name.starts_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Each third party once, with a safe name, exactly one root and at most one TSA root among
/// the entries, a timestamp rule exactly when it has a TSA root (format 4), a statement
/// notation accepts, and no scope another statement of the bundle
/// covers (notation allows one statement per scope); and no third-party entry for a third
/// party the payload does not declare.
fn check_third_parties(p: &Payload) -> Result<(), BundleError> {
    let bad = |m: String| Err(BundleError::Content(m));
    for e in p.entries.iter().filter(|e| e.role.is_third_party()) {
        let name = e.third_party().unwrap_or_default();
        if p.kind == Kind::Trust && !p.third_parties.iter().any(|t| t.name == name) {
            return bad(format!(
                "entry '{}' belongs to third party '{name}', which the bundle does not declare",
                e.name
            ));
        }
    }
    for (i, t) in p.third_parties.iter().enumerate() {
        let what = format!("third party '{}'", t.name.escape_debug());
        if !valid_third_party_name(&t.name) {
            return bad(format!(
                "{what}: a third party's name is 1 to 32 lowercase letters, digits and '-' (it names files and a trust store)"
            ));
        }
        if p.third_parties[..i].iter().any(|o| o.name == t.name) {
            return bad(format!("{what} appears twice"));
        }
        if p.third_party_entry(&t.name, Role::ThirdPartyRoot).is_none() {
            return bad(format!("{what} has no root entry"));
        }
        let has_tsa = p
            .third_party_entry(&t.name, Role::ThirdPartyTsaRoot)
            .is_some();
        if has_tsa && t.verify_timestamp.is_none() && p.format >= TIMESTAMP_RULE_FORMAT {
            return bad(format!(
                "{what} has a TSA root but names no verify_timestamp rule (always or afterCertExpiry), which format {TIMESTAMP_RULE_FORMAT} requires"
            ));
        }
        let statement = t.statement(&p.lineage, has_tsa);
        check_statement(&statement, has_tsa)
            .map_err(|m| BundleError::Content(format!("{what}: {m}")))?;
        let others = p
            .policy
            .iter()
            .map(|s| (s.name.as_str(), &s.registry_scopes))
            .chain(
                p.third_parties[..i]
                    .iter()
                    .map(|o: &ThirdParty| (o.name.as_str(), &o.registry_scopes)),
            );
        for (other, scopes) in others {
            if let Some(scope) = t.registry_scopes.iter().find(|s| scopes.contains(s)) {
                return bad(format!(
                    "{what} is given scope {scope}, which '{other}' covers too: notation allows one statement per scope"
                ));
            }
        }
    }
    Ok(())
}

/// Refuses, before any other check, a payload with more items or longer texts than a bundle
/// may hold, so that every later check is small and bounded.
fn check_sizes(p: &Payload) -> Result<(), BundleError> {
    let too_many = |what: &str, n: usize| {
        Err(BundleError::Content(format!(
            "{n} {what}: a bundle may hold at most {MAX_ITEMS}"
        )))
    };
    let too_long = |what: &str| {
        Err(BundleError::Content(format!(
            "{what} is longer than {MAX_TEXT} bytes"
        )))
    };
    for (what, n) in [
        ("entries", p.entries.len()),
        ("policy statements", p.policy.len()),
        ("declared CRL URLs", p.crl_urls.len()),
        ("third parties", p.third_parties.len()),
    ] {
        if n > MAX_ITEMS {
            return too_many(what, n);
        }
    }
    for e in &p.entries {
        if e.urls.len() > MAX_ITEMS {
            return too_many("CDP URLs on one CRL", e.urls.len());
        }
        if e.name.len() > MAX_TEXT || e.urls.iter().any(|u| u.len() > MAX_TEXT) {
            return too_long("an entry's name or URL");
        }
    }
    for s in &p.policy {
        for (what, n) in [
            ("registry scopes in one statement", s.registry_scopes.len()),
            (
                "trusted identities in one statement",
                s.trusted_identities.len(),
            ),
        ] {
            if n > MAX_ITEMS {
                return too_many(what, n);
            }
        }
        let texts = std::iter::once(&s.name)
            .chain(&s.registry_scopes)
            .chain(&s.trusted_identities);
        if texts.into_iter().any(|t| t.len() > MAX_TEXT) {
            return too_long("a statement's name, scope or identity");
        }
    }
    for t in &p.third_parties {
        for (what, n) in [
            ("scopes of one third party", t.registry_scopes.len()),
            ("identities of one third party", t.trusted_identities.len()),
            ("CRL URLs of one third party", t.crl_urls.len()),
        ] {
            if n > MAX_ITEMS {
                return too_many(what, n);
            }
        }
        let texts = std::iter::once(&t.name)
            .chain(&t.registry_scopes)
            .chain(&t.trusted_identities)
            .chain(&t.crl_urls);
        if texts.into_iter().any(|t| t.len() > MAX_TEXT) {
            return too_long("a third party's name, scope, identity or URL");
        }
    }
    if p.crl_urls.iter().any(|u| u.len() > MAX_TEXT) {
        return too_long("a declared CRL URL");
    }
    Ok(())
}

/// Whether `url` is a CDP URL notation fetches (and so looks up in its cache).
pub fn valid_cdp_url(url: &str) -> bool {
    url.starts_with("http://")
        && url.len() > 7
        && !url.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// Entry names become file names in notation's directories: one plain component under the
/// role's directory, never a path that climbs out or starts at `/`.
fn check_entry_name(e: &Entry) -> Result<(), BundleError> {
    let bad = || {
        BundleError::Content(format!(
            "entry name '{}' is not {}/<name> with letters, digits, '-', '_' and '.' only",
            e.name.escape_debug(),
            e.role.directory()
        ))
    };
    let (dir, file) = e.name.split_once('/').ok_or_else(bad)?;
    let suffix = if e.role.is_crl() { ".crl" } else { ".crt" };
    if e.role.is_third_party() {
        let named = file
            .strip_suffix(suffix)
            .is_some_and(valid_third_party_name);
        if dir != e.role.directory() || !named {
            return Err(BundleError::Content(format!(
                "entry name '{}' is not {}/<third party>{suffix}, the third party's name being 1 to 32 lowercase letters, digits and '-'",
                e.name.escape_debug(),
                e.role.directory()
            )));
        }
        return Ok(());
    }
    let plain = file.len() <= 100
        && file.ends_with(suffix)
        && !file.starts_with('.')
        && file
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if dir != e.role.directory() || !plain {
        return Err(bad());
    }
    Ok(())
}

/// Checks a trust policy statement against notation's rules for statements keyrite installs.
pub fn check_statement(s: &Statement, has_tsa: bool) -> Result<(), String> {
    if s.name.is_empty()
        || !s
            .name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    {
        return Err("the name must be letters, digits, '-', '_' or '.'".into());
    }
    if !matches!(s.level.as_str(), "strict" | "permissive" | "audit") {
        return Err(format!(
            "level '{}' is not strict, permissive or audit (a skip statement needs no roots; write it yourself)",
            s.level
        ));
    }
    if let Some(r) = &s.revocation
        && !matches!(r.as_str(), "enforce" | "log" | "skip")
    {
        return Err(format!(
            "revocation override '{r}' is not enforce, log or skip"
        ));
    }
    if s.registry_scopes.is_empty() {
        return Err("it has no registry scopes".into());
    }
    for (i, scope) in s.registry_scopes.iter().enumerate() {
        if s.registry_scopes[..i].contains(scope) {
            return Err(format!("scope '{scope}' appears twice"));
        }
        if scope == "*" {
            if s.registry_scopes.len() > 1 {
                return Err("'*' must be the statement's only scope".into());
            }
        } else {
            scope::check(scope)?;
        }
    }
    check_identities(&s.trusted_identities)?;
    if let Some(rule) = s.timestamp_rule()
        && !has_tsa
    {
        return Err(match s.verify_timestamp {
            Some(_) => format!(
                "verify_timestamp = \"{}\", but the bundle carries no TSA root to check timestamps against",
                rule.name()
            ),
            None => "timestamps = true, but the bundle carries no TSA root".into(),
        });
    }
    Ok(())
}

/// The trusted identities of a statement keyrite writes: `*` alone, or `x509.subject:` DNs
/// that notation parses, that can match a certificate subject as notation renders it, and no
/// two of which overlap (notation rejects the whole policy then).
fn check_identities(ids: &[String]) -> Result<(), String> {
    if ids.is_empty() {
        return Err("it has no trusted identities".into());
    }
    let mut parsed: Vec<(&str, dn::Dn)> = Vec::new();
    for id in ids {
        if id == "*" {
            if ids.len() > 1 {
                return Err("'*' must be the only trusted identity".into());
            }
            continue;
        }
        let value = id
            .strip_prefix("x509.subject:")
            .ok_or_else(|| format!("trusted identity '{id}' is not '*' or 'x509.subject: <DN>'"))?;
        let parsed_dn = dn::parse(value).map_err(|e| format!("trusted identity {e}"))?;
        let odd = dn::unmatchable_types(&parsed_dn);
        if !odd.is_empty() {
            return Err(format!(
                "trusted identity '{id}' names {}, which no certificate subject carries as notation reads it (types are C, ST, L, STREET, POSTALCODE, O, OU, CN, SERIALNUMBER, in capitals, or the dotted OID of any other type, such as 1.2.840.113549.1.9.1 for an e-mail address): it could never match",
                odd.join(", ")
            ));
        }
        if let Some((other, _)) = parsed
            .iter()
            .find(|(_, d)| dn::is_subset(d, &parsed_dn) || dn::is_subset(&parsed_dn, d))
        {
            return Err(format!(
                "trusted identities '{other}' and '{id}' overlap (every attribute of one is in the other), which makes notation reject the whole trust policy: keep the broader one"
            ));
        }
        parsed.push((id, parsed_dn));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check_identities;
    use crate::bundle::{
        Entry, Kind, Payload, Role, Statement, ThirdParty, VerifyTimestamp, check_payload,
    };

    fn entry(name: &str, role: Role) -> Entry {
        Entry {
            name: name.into(),
            role,
            sha256: "00".repeat(32),
            der: String::new(),
            urls: Vec::new(),
        }
    }

    /// A trust payload with a root, statement `prod` under `rule`, and third party `acme`
    /// with a TSA root (when `vendor_tsa`) under `vendor_rule`; in the format its content
    /// needs.
    fn payload(
        rule: Option<VerifyTimestamp>,
        vendor_tsa: bool,
        vendor_rule: Option<VerifyTimestamp>,
    ) -> Payload {
        let mut entries = vec![
            entry("ca/root.crt", Role::Root),
            entry("tsa/tsa.crt", Role::TsaRoot),
            entry("third-party-ca/acme.crt", Role::ThirdPartyRoot),
        ];
        if vendor_tsa {
            entries.push(entry("third-party-tsa/acme.crt", Role::ThirdPartyTsaRoot));
        }
        let policy = vec![Statement {
            name: "prod".into(),
            registry_scopes: vec!["registry.example/prod/app".into()],
            level: "strict".into(),
            trusted_identities: vec!["*".into()],
            revocation: None,
            timestamps: false,
            verify_timestamp: rule,
        }];
        let third_parties = vec![ThirdParty {
            name: "acme".into(),
            registry_scopes: vec!["registry.example/vendor/app".into()],
            trusted_identities: vec!["*".into()],
            crl_urls: Vec::new(),
            verify_timestamp: vendor_rule,
        }];
        Payload {
            format: Payload::format_for(&entries, &policy, &third_parties),
            kind: Kind::Trust,
            lineage: "ab".repeat(32),
            version: 1,
            issued_at: "2026-01-01T00:00:00Z".into(),
            expires_at: "2099-01-01T00:00:00Z".into(),
            entries,
            policy,
            crl_urls: Vec::new(),
            third_parties,
        }
    }

    #[test]
    fn format_4_is_written_exactly_when_a_rule_is_named_and_every_tsa_root_has_one() {
        use VerifyTimestamp::*;
        // A format 3 bundle's vendor TSA root keeps notation's default rule.
        let p = payload(None, true, None);
        assert_eq!(p.format, 3);
        check_payload(&p).unwrap();
        assert_eq!(
            p.third_parties[0]
                .statement(&p.lineage, true)
                .timestamp_rule(),
            Some(Always)
        );
        let p = payload(Some(AfterCertExpiry), true, Some(Always));
        assert_eq!(p.format, 4);
        check_payload(&p).unwrap();
        // In format 4, a TSA root without a rule, or a rule without a TSA root, is refused.
        let err = check_payload(&payload(Some(Always), true, None)).unwrap_err();
        assert!(
            err.to_string().contains("names no verify_timestamp rule"),
            "{err}"
        );
        let err = check_payload(&payload(None, false, Some(Always))).unwrap_err();
        assert!(err.to_string().contains("carries no TSA root"), "{err}");
        // A format 4 statement cannot say the older timestamps = true.
        let mut p = payload(Some(Always), true, Some(Always));
        p.policy[0].timestamps = true;
        let err = check_payload(&p).unwrap_err();
        assert!(
            err.to_string().contains("only formats 2 and 3 say"),
            "{err}"
        );
    }

    #[test]
    fn identities_that_go_can_match_are_accepted() {
        let ids = |list: &[&str]| {
            check_identities(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        };
        // Go renders an e-mail address in a subject under its dotted OID: it can match.
        assert!(
            ids(&["x509.subject: C=US, ST=WA, O=Acme, 1.2.840.113549.1.9.1=a@b.example"]).is_ok()
        );
        for never in ["E=a@b.example", "cn=a", "2.5.4.3=a"] {
            let err = ids(&[&format!("x509.subject: C=US, ST=WA, O=Acme, {never}")]).unwrap_err();
            assert!(err.contains("could never match"), "{never}: {err}");
        }
        // An empty attribute reads as absent: the two overlap.
        let err = ids(&[
            "x509.subject: C=US, ST=WA, O=Acme, OU=",
            "x509.subject: C=US, ST=WA, O=Acme, CN=a",
        ])
        .unwrap_err();
        assert!(err.contains("overlap"), "{err}");
    }
}
