//! Every JSON example in docs/signd-api.md is a body of the type its code block names
//! (```json TYPE), read with the API's own types, which refuse unknown fields.

use keyrite_signd_api::{ErrorBody, Health, KeyList, SignRequest, SignResponse};
use serde::de::DeserializeOwned;

/// The examples: (type named, JSON text).
fn examples() -> Vec<(String, String)> {
    let doc = include_str!("../../../docs/signd-api.md");
    doc.split("```json ")
        .skip(1)
        .map(|block| {
            let (tag, rest) = block.split_once('\n').expect("a tagged block");
            let body = rest.split("```").next().expect("a closed block");
            (tag.trim().to_owned(), body.to_owned())
        })
        .collect()
}

fn reads<T: DeserializeOwned>(tag: &str, text: &str) -> T {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("the {tag} example: {e}\n{text}"))
}

#[test]
fn every_documented_body_reads_as_its_type() {
    let examples = examples();
    let mut seen = Vec::new();
    for (tag, text) in &examples {
        match tag.as_str() {
            "Health" => assert_eq!(reads::<Health>(tag, text).status, "ok"),
            "KeyList" => assert!(!reads::<KeyList>(tag, text).keys.is_empty()),
            "SignRequest" => assert_eq!(reads::<SignRequest>(tag, text).key_spec, "EC-384"),
            "SignResponse" => assert_eq!(reads::<SignResponse>(tag, text).audit_id, 1042),
            "ErrorBody" => assert_eq!(reads::<ErrorBody>(tag, text).audit_id, Some(1043)),
            // Checked with the log's own type in keyrite-signd's audit tests.
            "AuditEntry" => {}
            other => panic!("docs/signd-api.md has a json block of unknown type {other}"),
        }
        seen.push(tag.as_str());
    }
    for tag in [
        "Health",
        "KeyList",
        "SignRequest",
        "SignResponse",
        "ErrorBody",
        "AuditEntry",
    ] {
        assert!(seen.contains(&tag), "docs/signd-api.md shows no {tag}");
    }
}

#[test]
fn a_body_with_an_unknown_field_is_not_read() {
    let (_, text) = examples()
        .into_iter()
        .find(|(tag, _)| tag == "SignRequest")
        .expect("a SignRequest example");
    let extra = text.replacen('{', "{\"keyId\": \"x\",", 1);
    assert!(serde_json::from_str::<SignRequest>(&extra).is_err());
}
