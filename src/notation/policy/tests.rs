use super::*;

fn doc(statements: &str) -> Result<(), String> {
    Document::parse(format!(r#"{{"version":"1.0","trustPolicies":[{statements}]}}"#).as_bytes())?
        .validate()
}

const OK: &str = r#"{"name":"a","registryScopes":["r.example/a"],"signatureVerification":{"level":"strict"},"trustStores":["ca:s"],"trustedIdentities":["*"]}"#;

#[test]
fn validation_follows_notation() {
    assert!(doc(OK).is_ok());
    let cases = [
        (OK.replace("\"a\",", "\"\","), "no name"),
        (format!("{OK},{OK}"), "named"),
        (OK.replace("strict", "loose"), "level"),
        (
            OK.replace(r#""strict""#, r#""skip","override":{"revocation":"log"}"#),
            "override",
        ),
        (
            OK.replace(r#""strict""#, r#""strict","override":{"integrity":"log"}"#),
            "integrity",
        ),
        (
            OK.replace(r#""strict""#, r#""strict","override":{"expiry":"skip"}"#),
            "only revocation",
        ),
        (
            OK.replace(r#""strict""#, r#""strict","verifyTimestamp":"never""#),
            "verifyTimestamp",
        ),
        (OK.replace("ca:s", "foo:s"), "type"),
        (OK.replace("ca:s", "ca:a/b"), "name"),
        (
            OK.replace(r#"["*"]"#, r#"["*","x509.subject: C=US,ST=WA,O=A"]"#),
            "alone",
        ),
        (
            OK.replace(
                r#"["*"]"#,
                r#"["x509.subject: C=US,ST=WA,O=A","x509.subject: C=US,ST=WA,O=A,CN=B"]"#,
            ),
            "overlap",
        ),
        (
            OK.replace(r#"["*"]"#, r#"["x509.subject: C=US,O=A"]"#),
            "ST",
        ),
        (OK.replace("r.example/a", "r.example/team/*"), "wildcard"),
        (
            OK.replace(r#"["r.example/a"]"#, r#"["*","r.example/b"]"#),
            "alone",
        ),
        (
            format!("{OK},{}", OK.replace("\"a\",", "\"b\",")),
            "more than one statement",
        ),
    ];
    for (text, says) in cases {
        let err = doc(&text).expect_err(&text);
        assert!(err.contains(says), "{text}: {err}");
    }
    // Across two statements, overlapping identities are fine.
    let two = format!(
        "{},{}",
        OK.replace(r#"["*"]"#, r#"["x509.subject: C=US,ST=WA,O=A"]"#),
        OK.replace("\"a\",", "\"b\",")
            .replace("r.example/a", "r.example/b")
            .replace(r#"["*"]"#, r#"["x509.subject: C=US,ST=WA,O=A,CN=B"]"#)
    );
    assert!(doc(&two).is_ok());
}

#[test]
fn decoding_follows_go() {
    // Keys in any case, unknown fields ignored, trailing bytes after the document ignored.
    let d =
        Document::parse(br#"{"Version":"1.0","TRUSTPOLICIES":[],"x":1} and then some"#).unwrap();
    assert_eq!(d.version, "1.0");
    assert!(Document::parse(br#"{"version":1}"#).is_err());
    let one = |text: &str| {
        let doc = format!(r#"{{"version":"1.0","trustPolicies":[{text}]}}"#);
        Document::parse(doc.as_bytes()).map(|d| d.statements[0].clone())
    };
    // Go's case folding reaches the long s; the last of repeated keys wins, in document
    // order, whatever their case.
    let s =
        one(r#"{"trustedIdentities":["a"],"tru\u017ftedIdentities":["b"],"Name":"x","NAME":"y"}"#)
            .unwrap();
    assert_eq!(s.trusted_identities, ["b"]);
    assert_eq!(s.name, "y");
    // Repeated objects and maps merge; null leaves a string as it was.
    let s = one(
        r#"{"signatureVerification":{"level":"strict","override":{"integrity":"log"}},
        "signatureVerification":{"level":null,"override":{"authenticity":"log"}}}"#,
    )
    .unwrap();
    assert_eq!(s.level, "strict");
    assert_eq!(s.overrides.len(), 2);
    // An array decodes over the elements already there.
    let s = one(r#"{"trustStores":["ca:a","ca:b"],"trustStores":[null]}"#).unwrap();
    assert_eq!(s.trust_stores, ["ca:a"]);
    // Invalid UTF-8 and lone surrogates read as U+FFFD.
    let d = Document::parse(b"{\"version\":\"1.0\xff\\ud800\"}").unwrap();
    assert_eq!(d.version, "1.0\u{fffd}\u{fffd}");
    // Deep nesting in an unknown field is fine up to Go's limit.
    let deep = format!(r#"{{"x":{}{}}}"#, "[".repeat(5000), "]".repeat(5000));
    assert!(one(&deep).is_ok());
    for bad in [
        r#"{"name":1}"#,
        r#"{"trustStores":"ca:s"}"#,
        r#"{"trustStores":[1]}"#,
    ] {
        assert!(one(bad).is_err(), "{bad}");
    }
    assert!(one(r#"{"signatureVerification":{"override":[]}}"#).is_err());
}
