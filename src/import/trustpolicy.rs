//! notation's trust policy documents: validating them, and merging keyrite's statements into
//! the user's own without breaking them.

use serde_json::{Map, Value, json};

use super::verdict::{Action, Enforcement};
use crate::bundle::Statement;
use crate::pki::name::parse_subject;

/// The trust policy files notation reads (v1.x the first, v2 the second); both are written.
pub const POLICY_FILES: [&str; 2] = ["trustpolicy.json", "trustpolicy.oci.json"];

/// A store name notation accepts.
pub fn valid_store_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

/// The notation statement for one of a bundle's statements, pointing at the lineage's stores.
pub fn notation_statement(s: &Statement, store: &str) -> Value {
    let mut verification = Map::new();
    verification.insert("level".into(), json!(s.level));
    if let Some(r) = &s.revocation {
        verification.insert("override".into(), json!({ "revocation": r }));
    }
    let mut stores = vec![format!("ca:{store}")];
    if s.timestamps {
        stores.push(format!("tsa:{store}"));
    }
    json!({
        "name": s.name,
        "registryScopes": s.registry_scopes,
        "signatureVerification": verification,
        "trustStores": stores,
        "trustedIdentities": s.trusted_identities,
    })
}

fn strings<'a>(v: Option<&'a Value>, what: &str, name: &str) -> Result<Vec<&'a str>, String> {
    match v {
        None => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .ok_or_else(|| format!("statement '{name}': {what} holds a non-string"))
            })
            .collect(),
        Some(_) => Err(format!("statement '{name}': {what} is not a list")),
    }
}

/// Checks a trust policy document against notation's rules.
pub fn validate(doc: &Value) -> Result<(), String> {
    let obj = doc.as_object().ok_or("the document is not a JSON object")?;
    if obj.get("version").and_then(Value::as_str) != Some("1.0") {
        return Err("\"version\" is not \"1.0\"".into());
    }
    let statements = obj
        .get("trustPolicies")
        .and_then(Value::as_array)
        .ok_or("\"trustPolicies\" is missing or not a list")?;
    let mut names: Vec<&str> = Vec::new();
    let mut scopes: Vec<&str> = Vec::new();
    for s in statements {
        let name = s
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .ok_or("a statement has no name")?;
        if names.contains(&name) {
            return Err(format!("two statements are named '{name}'"));
        }
        names.push(name);
        let own = strings(s.get("registryScopes"), "registryScopes", name)?;
        if own.is_empty() {
            return Err(format!("statement '{name}' has no registryScopes"));
        }
        for scope in &own {
            if *scope == "*" && own.len() > 1 {
                return Err(format!("statement '{name}': '*' must be its only scope"));
            }
            if scopes.contains(scope) {
                return Err(format!(
                    "scope '{scope}' appears in more than one statement"
                ));
            }
            scopes.push(scope);
        }
        let verification = s
            .get("signatureVerification")
            .and_then(Value::as_object)
            .ok_or_else(|| format!("statement '{name}' has no signatureVerification"))?;
        let level = verification
            .get("level")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !matches!(level, "strict" | "permissive" | "audit" | "skip") {
            return Err(format!(
                "statement '{name}': level '{level}' is not strict, permissive, audit or skip"
            ));
        }
        if let Some(o) = verification.get("override") {
            let o = o
                .as_object()
                .ok_or_else(|| format!("statement '{name}': override is not an object"))?;
            for (k, v) in o {
                let allowed: &[&str] = match k.as_str() {
                    "authenticity" | "authenticTimestamp" | "expiry" => &["enforce", "log"],
                    "revocation" => &["enforce", "log", "skip"],
                    _ => return Err(format!("statement '{name}': unknown override '{k}'")),
                };
                if !v.as_str().is_some_and(|v| allowed.contains(&v)) {
                    return Err(format!(
                        "statement '{name}': override {k} is not one of {}",
                        allowed.join(", ")
                    ));
                }
            }
        }
        let stores = strings(s.get("trustStores"), "trustStores", name)?;
        let identities = strings(s.get("trustedIdentities"), "trustedIdentities", name)?;
        if level == "skip" {
            if !stores.is_empty() || !identities.is_empty() {
                return Err(format!(
                    "statement '{name}' skips verification but names stores or identities"
                ));
            }
            continue;
        }
        if stores.is_empty() || identities.is_empty() {
            return Err(format!(
                "statement '{name}' needs both trustStores and trustedIdentities"
            ));
        }
        for store in stores {
            let ok = store.split_once(':').is_some_and(|(t, n)| {
                matches!(t, "ca" | "signingAuthority" | "tsa") && valid_store_name(n)
            });
            if !ok {
                return Err(format!(
                    "statement '{name}': trust store '{store}' is not ca:, signingAuthority: or tsa: and a store name"
                ));
            }
        }
        if identities.contains(&"*") && identities.len() > 1 {
            return Err(format!(
                "statement '{name}': '*' must be its only trusted identity"
            ));
        }
    }
    if statements
        .iter()
        .filter(|s| {
            s.get("registryScopes")
                .and_then(Value::as_array)
                .is_some_and(|a| a.iter().any(|v| v == "*"))
        })
        .count()
        > 1
    {
        return Err("more than one statement uses the scope '*'".into());
    }
    Ok(())
}

/// Merges keyrite's statements into the document in `existing` (or a new one): removes the
/// statements in `replace` (as they were installed), adds `add`, and refuses when one of
/// `replace` was edited by hand, a statement of the user's shares a name or a scope with an
/// added one, or the result is not a valid document.
pub fn merge(existing: Option<&[u8]>, replace: &[Value], add: &[Value]) -> Result<Vec<u8>, String> {
    let mut doc: Value = match existing {
        Some(bytes) => {
            let doc: Value = serde_json::from_slice(bytes)
                .map_err(|e| format!("it does not parse as JSON ({e})"))?;
            validate(&doc).map_err(|e| format!("it is not a valid trust policy already: {e}"))?;
            doc
        }
        None => json!({ "version": "1.0", "trustPolicies": [] }),
    };
    let list = doc
        .get_mut("trustPolicies")
        .and_then(Value::as_array_mut)
        .ok_or("\"trustPolicies\" is missing")?;
    let name_of = |s: &Value| s.get("name").and_then(Value::as_str).map(str::to_owned);
    for s in list.iter() {
        let edited = replace.iter().any(|r| name_of(r) == name_of(s) && r != s);
        if edited {
            return Err(format!(
                "statement '{}', which keyrite-import installed, was edited by hand: restore it as `keyrite-import status` expects or remove it, then install again",
                name_of(s).unwrap_or_default()
            ));
        }
    }
    list.retain(|s| !replace.contains(s));
    for new in add {
        let name = new.get("name").and_then(Value::as_str).unwrap_or_default();
        let new_scopes = new
            .get("registryScopes")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for user in list.iter() {
            let user_name = user.get("name").and_then(Value::as_str).unwrap_or_default();
            if user_name == name {
                return Err(format!(
                    "the bundle's statement '{name}' has the name of a statement already there (yours, or another lineage's): rename or remove that one"
                ));
            }
            let user_scopes = user.get("registryScopes").and_then(Value::as_array);
            if let Some(scope) = new_scopes
                .iter()
                .find(|s| user_scopes.is_some_and(|u| u.contains(s)))
            {
                return Err(format!(
                    "the bundle's statement '{name}' covers scope {scope}, which statement '{user_name}' already covers: notation allows one statement per scope"
                ));
            }
        }
        list.push(new.clone());
    }
    validate(&doc).map_err(|e| format!("the merged trust policy would be invalid: {e}"))?;
    let mut out = serde_json::to_vec_pretty(&doc).map_err(|e| e.to_string())?;
    out.push(b'\n');
    Ok(out)
}

/// What notation does for an artifact in a repository, by the trust policy statement that
/// applies to it.
pub enum Applicable {
    /// No statement applies: notation refuses to verify.
    None,
    /// The named statement's level is `skip`.
    Skip(String),
    /// The statement's x509 trust stores (`ca/NAME`, `signingAuthority/NAME` under
    /// `truststore/x509`) and how it treats each check.
    Statement {
        /// The trust stores, as directories under `truststore/x509`.
        stores: Vec<String>,
        /// Its level and overrides, and its trusted identities.
        enforcement: Enforcement,
    },
}

fn action(word: &str, name: &str) -> Result<Action, String> {
    match word {
        "enforce" => Ok(Action::Enforce),
        "log" => Ok(Action::Log),
        "skip" => Ok(Action::Skip),
        _ => Err(format!(
            "statement '{name}': unknown override action '{word}'"
        )),
    }
}

/// The statement notation applies to `scope` (`registry/repository`): the one that lists it,
/// else the one with the wildcard scope; its level, overrides, stores and identities as
/// notation reads them.
pub fn applicable(doc: &Value, scope: &str) -> Result<Applicable, String> {
    validate(doc)?;
    let statements = doc
        .get("trustPolicies")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let lists = |s: &&Value, want: &str| {
        s.get("registryScopes")
            .and_then(Value::as_array)
            .is_some_and(|l| l.iter().any(|v| v.as_str() == Some(want)))
    };
    let Some(s) = statements
        .iter()
        .find(|s| lists(s, scope))
        .or_else(|| statements.iter().find(|s| lists(s, "*")))
    else {
        return Ok(Applicable::None);
    };
    let name = s.get("name").and_then(Value::as_str).unwrap_or_default();
    let verification = s.get("signatureVerification");
    let level = verification
        .and_then(|v| v.get("level"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    let (authenticity, authentic_timestamp, revocation) = match level {
        "strict" => (Action::Enforce, Action::Enforce, Action::Enforce),
        "permissive" => (Action::Enforce, Action::Log, Action::Log),
        "audit" => (Action::Log, Action::Log, Action::Log),
        "skip" => return Ok(Applicable::Skip(name.to_owned())),
        other => return Err(format!("statement '{name}': unknown level '{other}'")),
    };
    let mut enforcement = Enforcement {
        authenticity,
        authentic_timestamp,
        revocation,
        identities: None,
    };
    if let Some(overrides) = verification
        .and_then(|v| v.get("override"))
        .and_then(Value::as_object)
    {
        for (check, word) in overrides {
            let word = action(word.as_str().unwrap_or_default(), name)?;
            match check.as_str() {
                "authenticity" => enforcement.authenticity = word,
                "authenticTimestamp" => enforcement.authentic_timestamp = word,
                "revocation" => enforcement.revocation = word,
                // A signature's own expiry: a chain alone has none to judge.
                "expiry" => {}
                other => {
                    return Err(format!("statement '{name}': unknown override '{other}'"));
                }
            }
        }
    }
    let stores = strings(s.get("trustStores"), "trustStores", name)?
        .into_iter()
        .filter_map(|store| {
            let (kind, store_name) = store.split_once(':')?;
            matches!(kind, "ca" | "signingAuthority").then(|| format!("{kind}/{store_name}"))
        })
        .collect();
    let identities = strings(s.get("trustedIdentities"), "trustedIdentities", name)?;
    if !identities.contains(&"*") {
        enforcement.identities = Some(
            identities
                .iter()
                .map(|id| {
                    id.strip_prefix("x509.subject:")
                        .and_then(|dn| parse_subject(dn.trim()).ok())
                        .ok_or_else(|| {
                            format!("statement '{name}': trusted identity '{id}' is not an x509.subject DN")
                        })
                })
                .collect::<Result<_, _>>()?,
        );
    }
    Ok(Applicable::Statement {
        stores,
        enforcement,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ours(name: &str, scope: &str) -> Value {
        json!({"name": name, "registryScopes": [scope], "signatureVerification": {"level": "strict"},
               "trustStores": ["ca:k"], "trustedIdentities": ["*"]})
    }

    #[test]
    fn keeps_the_users_statements_and_replaces_its_own() {
        let user =
            br#"{"version":"1.0","trustPolicies":[{"name":"mine","registryScopes":["r.example/a"],
            "signatureVerification":{"level":"skip"}, "x-note": "kept"}]}"#;
        let first = merge(Some(user), &[], &[ours("k", "r.example/b")]).unwrap();
        let second = merge(
            Some(&first),
            &[ours("k", "r.example/b")],
            &[ours("k", "r.example/c")],
        )
        .unwrap();
        let doc: Value = serde_json::from_slice(&second).unwrap();
        let list = doc["trustPolicies"].as_array().unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(list[0]["x-note"], "kept");
        assert_eq!(list[1]["registryScopes"][0], "r.example/c");
    }

    #[test]
    fn refuses_a_clash_with_the_users_statements() {
        let user = serde_json::to_vec(
            &json!({"version":"1.0","trustPolicies":[ours("mine", "r.example/a")]}),
        )
        .unwrap();
        assert!(
            merge(Some(&user), &[], &[ours("mine", "r.example/b")])
                .unwrap_err()
                .contains("name")
        );
        assert!(
            merge(Some(&user), &[], &[ours("k", "r.example/a")])
                .unwrap_err()
                .contains("scope")
        );
        assert!(merge(Some(b"{"), &[], &[]).unwrap_err().contains("JSON"));
        // One of keyrite's statements edited by hand is refused, not silently replaced.
        let mine = serde_json::to_vec(
            &json!({"version":"1.0","trustPolicies":[ours("k", "r.example/z")]}),
        )
        .unwrap();
        assert!(
            merge(
                Some(&mine),
                &[ours("k", "r.example/b")],
                &[ours("k", "r.example/c")]
            )
            .unwrap_err()
            .contains("edited by hand")
        );
        let two_stars =
            serde_json::to_vec(&json!({"version":"1.0","trustPolicies":[ours("mine", "*")]}))
                .unwrap();
        assert!(merge(Some(&two_stars), &[], &[ours("k", "*")]).is_err());
    }
}
