//! notation's trust policy documents: validating them, and merging keyrite's statements into
//! the user's own without breaking them.

use serde_json::{Map, Value, json};

use crate::bundle::Statement;
use crate::notation::policy::Document;

/// The trust policy files notation reads (v1.x the first, v2 the second); both are written.
pub const POLICY_FILES: [&str; 2] = ["trustpolicy.json", "trustpolicy.oci.json"];

/// The notation statement for one of a bundle's statements, pointing at the lineage's stores.
pub fn notation_statement(s: &Statement, store: &str) -> Value {
    let mut verification = Map::new();
    verification.insert("level".into(), json!(s.level));
    if let Some(r) = &s.revocation {
        verification.insert("override".into(), json!({ "revocation": r }));
    }
    let mut stores = vec![format!("ca:{store}")];
    if let Some(rule) = s.timestamp_rule() {
        // Written even for `always`, notation's default: the rule the officers approved is
        // in the file for anyone reading it.
        verification.insert("verifyTimestamp".into(), json!(rule.name()));
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

/// Validates a trust policy document by notation's rules.
fn validate(bytes: &[u8]) -> Result<(), String> {
    Document::parse(bytes)?.validate()
}

/// Refuses a document that notation's Go JSON decoder reads differently from the plain JSON
/// reading keyrite rewrites it from (a repeated key, whose values Go merges or takes the last
/// of): rewriting it would change what the user's statements say.
fn check_rewritable(bytes: &[u8], doc: &Value) -> Result<(), String> {
    let plain = serde_json::to_vec(doc).map_err(|e| e.to_string())?;
    if Document::parse(bytes)? != Document::parse(&plain)? {
        return Err(
            "it repeats a key, which notation reads in its own way (the values of a repeated object merge): keyrite cannot rewrite it without changing it; write each key once".into(),
        );
    }
    Ok(())
}

/// Merges keyrite's statements into the document in `existing` (or a new one): removes the
/// statements in `replace` (as they were installed), adds `add`, and refuses when one of
/// `replace` was edited by hand, a statement of the user's shares a name or a scope with an
/// added one, or the result is not a valid document. A result with no statement is `None`:
/// notation rejects an empty document, so the file is removed instead (to the same effect:
/// nothing verifies without a statement).
pub fn merge(
    existing: Option<&[u8]>,
    replace: &[Value],
    add: &[Value],
) -> Result<Option<Vec<u8>>, String> {
    merge_with(existing, replace, add, false)
}

/// [`merge`]; with `repair`, a statement of `replace` edited by hand is replaced too (its
/// name says it is keyrite's) instead of refused.
pub fn merge_with(
    existing: Option<&[u8]>,
    replace: &[Value],
    add: &[Value],
    repair: bool,
) -> Result<Option<Vec<u8>>, String> {
    let mut doc: Value = match existing {
        Some(bytes) => {
            let doc: Value = serde_json::from_slice(bytes)
                .map_err(|e| format!("it does not parse as JSON ({e})"))?;
            validate(bytes).map_err(|e| format!("it is not a valid trust policy already: {e}"))?;
            check_rewritable(bytes, &doc)?;
            doc
        }
        None => json!({ "version": "1.0", "trustPolicies": [] }),
    };
    let list = doc
        .get_mut("trustPolicies")
        .and_then(Value::as_array_mut)
        .ok_or("\"trustPolicies\" is missing")?;
    let name_of = |s: &Value| s.get("name").and_then(Value::as_str).map(str::to_owned);
    let edited = |s: &Value| replace.iter().any(|r| name_of(r) == name_of(s) && r != s);
    if !repair && let Some(s) = list.iter().find(|s| edited(s)) {
        return Err(format!(
            "statement '{}', which keyrite-import installed, was edited by hand: `keyrite-import install --repair` with the trust bundle installed writes it again (or restore it as `keyrite-import status` expects, or remove it, then install again)",
            name_of(s).unwrap_or_default()
        ));
    }
    list.retain(|s| !replace.contains(s) && !edited(s));
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
    if list.is_empty() {
        return Ok(None);
    }
    let mut out = serde_json::to_vec_pretty(&doc).map_err(|e| e.to_string())?;
    out.push(b'\n');
    validate(&out).map_err(|e| format!("the merged trust policy would be invalid: {e}"))?;
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ours(name: &str, scope: &str) -> Value {
        json!({"name": name, "registryScopes": [scope], "signatureVerification": {"level": "strict"},
               "trustStores": ["ca:k"], "trustedIdentities": ["*"]})
    }

    #[test]
    fn a_statement_with_tsa_roots_names_its_rule_in_the_trust_policy() {
        use crate::bundle::VerifyTimestamp;
        let statement = |timestamps, verify_timestamp| Statement {
            name: "prod".into(),
            registry_scopes: vec!["r.example/a".into()],
            level: "strict".into(),
            trusted_identities: vec!["*".into()],
            revocation: None,
            timestamps,
            verify_timestamp,
        };
        for (s, rule) in [
            (statement(false, None), None),
            // What a format 2 or 3 bundle said: notation's default, now written out.
            (statement(true, None), Some("always")),
            (
                statement(false, Some(VerifyTimestamp::AfterCertExpiry)),
                Some("afterCertExpiry"),
            ),
            (
                statement(false, Some(VerifyTimestamp::Always)),
                Some("always"),
            ),
        ] {
            let v = notation_statement(&s, "k");
            assert_eq!(
                v["signatureVerification"].get("verifyTimestamp"),
                rule.map(|r| json!(r)).as_ref()
            );
            let stores = if rule.is_some() {
                json!(["ca:k", "tsa:k"])
            } else {
                json!(["ca:k"])
            };
            assert_eq!(v["trustStores"], stores);
        }
    }

    #[test]
    fn keeps_the_users_statements_and_replaces_its_own() {
        let user =
            br#"{"version":"1.0","trustPolicies":[{"name":"mine","registryScopes":["r.example/a"],
            "signatureVerification":{"level":"skip"}, "x-note": "kept"}]}"#;
        let first = merge(Some(user), &[], &[ours("k", "r.example/b")])
            .unwrap()
            .unwrap();
        let second = merge(
            Some(&first),
            &[ours("k", "r.example/b")],
            &[ours("k", "r.example/c")],
        )
        .unwrap()
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
        // A repeated key notation reads in its own way is not rewritten.
        let repeated = br#"{"version":"1.0","trustPolicies":[{"name":"mine","registryScopes":["r.example/a"],
            "signatureVerification":{"level":"strict","override":{"revocation":"log"}},
            "signatureVerification":{"level":"strict"},"trustStores":["ca:s"],"trustedIdentities":["*"]}]}"#;
        assert!(
            merge(Some(repeated), &[], &[ours("k", "r.example/b")])
                .unwrap_err()
                .contains("repeats a key")
        );
        let two_stars =
            serde_json::to_vec(&json!({"version":"1.0","trustPolicies":[ours("mine", "*")]}))
                .unwrap();
        assert!(merge(Some(&two_stars), &[], &[ours("k", "*")]).is_err());
    }
}
