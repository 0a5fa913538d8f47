use super::*;

/// Real generate-signature payloads from notation v1.3.2 (tests/fixtures/notation-payloads).
const JWS_EC384: &str = include_str!("../../../tests/fixtures/notation-payloads/jws-ec384.b64");
const COSE_RSA3072: &str =
    include_str!("../../../tests/fixtures/notation-payloads/cose-rsa3072.b64");
const JWS_RSA3072_EXPIRY: &str =
    include_str!("../../../tests/fixtures/notation-payloads/jws-rsa3072-expiry-metadata.b64");
const COSE_EC384_EXPIRY: &str =
    include_str!("../../../tests/fixtures/notation-payloads/cose-ec384-expiry-metadata.b64");

/// The manifest every fixture signs.
fn fixture_target() -> TargetArtifact {
    TargetArtifact {
        media_type: "application/vnd.oci.image.manifest.v1+json".into(),
        digest: "sha256:56949ff7cfdfeacf3d236fe476e1d9951a01e23156e91fe16edd56ca10e36a09".into(),
        size: 247,
    }
}

fn fixture(b64: &str) -> Vec<u8> {
    data_encoding::BASE64
        .decode(b64.trim().as_bytes())
        .expect("fixture is base64")
}

fn refusal(input: &[u8]) -> String {
    match recognize(input) {
        Ok(got) => panic!("recognised {got:?}"),
        Err(e) => e.to_string(),
    }
}

// JWS helpers: the header and payload JSON of a fixture, and a signing input from them.

fn jws_parts(b64: &str) -> (serde_json::Value, serde_json::Value) {
    let input = fixture(b64);
    let text = String::from_utf8(input).expect("ASCII");
    let (h, p) = text.split_once('.').expect("two parts");
    let json = |s: &str| {
        serde_json::from_slice(&BASE64URL_NOPAD.decode(s.as_bytes()).expect("base64url"))
            .expect("JSON")
    };
    (json(h), json(p))
}

fn jws_from(header: &serde_json::Value, payload: &serde_json::Value) -> Vec<u8> {
    jws_raw(
        serde_json::to_string(header).expect("JSON").as_bytes(),
        serde_json::to_string(payload).expect("JSON").as_bytes(),
    )
}

fn jws_raw(header: &[u8], payload: &[u8]) -> Vec<u8> {
    format!(
        "{}.{}",
        BASE64URL_NOPAD.encode(header),
        BASE64URL_NOPAD.encode(payload)
    )
    .into_bytes()
}

// COSE helpers: a fixture's Sig_structure items and protected map, and re-encoding.

use ciborium::Value;

fn cbor(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::ser::into_writer(value, &mut out).expect("encode");
    out
}

fn cose_items(b64: &str) -> Vec<Value> {
    let input = fixture(b64);
    match ciborium::de::from_reader::<Value, _>(&input[..]).expect("CBOR") {
        Value::Array(items) => items,
        _ => panic!("not an array"),
    }
}

fn cose_protected(items: &[Value]) -> Vec<(Value, Value)> {
    let Value::Bytes(p) = &items[1] else {
        panic!("protected not bytes")
    };
    match ciborium::de::from_reader::<Value, _>(&p[..]).expect("CBOR") {
        Value::Map(entries) => entries,
        _ => panic!("not a map"),
    }
}

fn with_protected(mut items: Vec<Value>, entries: Vec<(Value, Value)>) -> Vec<u8> {
    items[1] = Value::Bytes(cbor(&Value::Map(entries)));
    cbor(&Value::Array(items))
}

fn text(s: &str) -> Value {
    Value::Text(s.into())
}

// Recognition of what notation really sends.

#[test]
fn notation_jws_ec384_signing_input_is_recognised() {
    let got = recognize(&fixture(JWS_EC384)).expect("recognised");
    assert_eq!(
        got,
        SigningInput {
            format: EnvelopeFormat::Jws,
            signing_algorithm: "ECDSA-SHA-384",
            target: fixture_target(),
        }
    );
}

#[test]
fn notation_cose_rsa3072_sig_structure_is_recognised() {
    let got = recognize(&fixture(COSE_RSA3072)).expect("recognised");
    assert_eq!(
        got,
        SigningInput {
            format: EnvelopeFormat::Cose,
            signing_algorithm: "RSASSA-PSS-SHA-384",
            target: fixture_target(),
        }
    );
}

#[test]
fn notation_jws_with_expiry_and_user_metadata_is_recognised() {
    let got = recognize(&fixture(JWS_RSA3072_EXPIRY)).expect("recognised");
    assert_eq!(got.format, EnvelopeFormat::Jws);
    assert_eq!(got.signing_algorithm, "RSASSA-PSS-SHA-384");
    assert_eq!(got.target, fixture_target());
}

#[test]
fn notation_cose_with_expiry_and_user_metadata_is_recognised() {
    let got = recognize(&fixture(COSE_EC384_EXPIRY)).expect("recognised");
    assert_eq!(got.format, EnvelopeFormat::Cose);
    assert_eq!(got.signing_algorithm, "ECDSA-SHA-384");
    assert_eq!(got.target, fixture_target());
}

#[test]
fn a_re_encoded_notation_jws_with_every_algorithm_is_recognised() {
    let (mut header, payload) = jws_parts(JWS_EC384);
    for (alg, _, name) in ALGORITHMS {
        header["alg"] = alg.into();
        let got = recognize(&jws_from(&header, &payload)).expect("recognised");
        assert_eq!(got.signing_algorithm, name);
    }
}

#[test]
fn a_notation_cose_with_every_algorithm_is_recognised() {
    let items = cose_items(COSE_RSA3072);
    for (_, alg, name) in ALGORITHMS {
        let mut entries = cose_protected(&items);
        entries[0].1 = Value::Integer(alg.into());
        let got = recognize(&with_protected(items.clone(), entries)).expect("recognised");
        assert_eq!(got.signing_algorithm, name);
    }
}

// Refusals of what is not a notation signing input.

#[test]
fn an_x509_tbs_certificate_is_refused_as_der() {
    use der::{Decode, DecodePem, Encode};
    let pem = include_str!("../../../bundles/examples/rehearsal-root.crt");
    let cert = x509_cert::Certificate::from_pem(pem.as_bytes()).expect("certificate");
    let tbs = cert.tbs_certificate().to_der().expect("DER");
    assert!(x509_cert::certificate::TbsCertificate::from_der(&tbs).is_ok());
    assert_eq!(
        refusal(&tbs),
        "the payload is not a notation signing input: it is DER (an X.509 structure?), not a JWS signing input or a COSE Sig_structure"
    );
    // The whole certificate too.
    assert_eq!(refusal(&cert.to_der().expect("DER")), refusal(&tbs));
}

#[test]
fn random_bytes_are_refused() {
    use sha2::{Digest, Sha256};
    let mut bytes = Vec::new();
    let mut block = Sha256::digest(b"keyrite payload random bytes").to_vec();
    while bytes.len() < 512 {
        bytes.extend_from_slice(&block);
        block = Sha256::digest(&block).to_vec();
    }
    bytes[0] = 0xa7; // not a DER SEQUENCE, not a CBOR array
    assert_eq!(
        refusal(&bytes),
        "the payload is not a notation signing input: it is neither a JWS signing input (BASE64URL(header).BASE64URL(payload)) nor a COSE Sig_structure"
    );
}

#[test]
fn an_empty_payload_is_refused() {
    assert_eq!(
        refusal(b""),
        "the payload is empty: notation never asks a plugin to sign nothing"
    );
}

#[test]
fn an_oversize_payload_is_refused_unread() {
    let mut input = fixture(JWS_EC384);
    input.resize(MAX_INPUT_BYTES + 1, b'A');
    assert_eq!(
        refusal(&input),
        "the payload is 65537 bytes, more than the 65536 a notation signing input may have"
    );
}

#[test]
fn a_jws_with_another_content_type_is_refused() {
    let (mut header, payload) = jws_parts(JWS_EC384);
    header["cty"] = "application/json".into();
    assert_eq!(
        refusal(&jws_from(&header, &payload)),
        "the payload is not a notation signing input: its JWS content type is \"application/json\", not application/vnd.cncf.notary.payload.v1+json"
    );
}

#[test]
fn a_jws_without_crit_is_refused() {
    let (mut header, payload) = jws_parts(JWS_EC384);
    header.as_object_mut().expect("object").remove("crit");
    assert_eq!(
        refusal(&jws_from(&header, &payload)),
        "the payload is not a notation JWS signing input: its protected header has no \"crit\" (notation marks io.cncf.notary.signingScheme critical)"
    );
}

#[test]
fn a_jws_whose_crit_names_an_absent_header_is_refused() {
    let (mut header, payload) = jws_parts(JWS_EC384);
    header["crit"] = serde_json::json!([SIGNING_SCHEME, "org.example.absent"]);
    assert_eq!(
        refusal(&jws_from(&header, &payload)),
        "the payload is not a notation JWS signing input: its protected header marks \"org.example.absent\" critical, which notation-core-go refuses (absent, or a header it does not allow there)"
    );
}

#[test]
fn a_jws_with_expiry_not_marked_critical_is_refused() {
    let (mut header, payload) = jws_parts(JWS_RSA3072_EXPIRY);
    header["crit"] = serde_json::json!([SIGNING_SCHEME]);
    assert_eq!(
        refusal(&jws_from(&header, &payload)),
        "the payload is not a notation JWS signing input: its protected header does not mark \"io.cncf.notary.expiry\" critical"
    );
}

#[test]
fn a_jws_with_an_extended_critical_attribute_that_is_present_is_recognised() {
    let (mut header, payload) = jws_parts(JWS_EC384);
    header["org.example.extra"] = "x".into();
    header["crit"] = serde_json::json!([SIGNING_SCHEME, "org.example.extra"]);
    assert!(recognize(&jws_from(&header, &payload)).is_ok());
}

#[test]
fn a_jws_with_a_header_name_differing_only_in_case_is_refused() {
    let (mut header, payload) = jws_parts(JWS_EC384);
    header["CTY"] = "application/json".into();
    assert_eq!(
        refusal(&jws_from(&header, &payload)),
        "the payload is not a notation JWS signing input: its protected header has \"CTY\", which notation would read as \"cty\""
    );
}

#[test]
fn a_jws_with_another_algorithm_is_refused() {
    let (mut header, payload) = jws_parts(JWS_EC384);
    header["alg"] = "HS256".into();
    assert_eq!(
        refusal(&jws_from(&header, &payload)),
        "the payload is not a notation JWS signing input: its protected header's alg \"HS256\" is none of notation's PS256, PS384, PS512, ES256, ES384, ES512"
    );
}

#[test]
fn a_jws_with_another_signing_scheme_is_refused() {
    let (mut header, payload) = jws_parts(JWS_EC384);
    header[SIGNING_SCHEME] = "notary.other".into();
    assert_eq!(
        refusal(&jws_from(&header, &payload)),
        "the payload is not a notation JWS signing input: its signing scheme \"notary.other\" is neither notary.x509 nor notary.x509.signingAuthority"
    );
}

#[test]
fn a_jws_without_a_signing_time_is_refused() {
    let (mut header, payload) = jws_parts(JWS_EC384);
    header.as_object_mut().expect("object").remove(SIGNING_TIME);
    assert_eq!(
        refusal(&jws_from(&header, &payload)),
        "the payload is not a notation JWS signing input: its protected header has no \"io.cncf.notary.signingTime\", which the notary.x509 scheme requires"
    );
}

#[test]
fn a_jws_with_a_repeated_header_name_is_refused() {
    let (_, payload) = jws_parts(JWS_EC384);
    let header = fixture(JWS_EC384);
    let header = &header[..header.iter().position(|&b| b == b'.').expect("dot")];
    let mut json = BASE64URL_NOPAD.decode(header).expect("base64url");
    json.pop(); // the closing brace
    json.extend_from_slice(br#","cty":"application/json"}"#);
    let input = jws_raw(
        &json,
        serde_json::to_string(&payload).expect("JSON").as_bytes(),
    );
    let message = refusal(&input);
    assert!(
        message.starts_with(
            "the payload is not a notation JWS signing input: its protected header is not a JSON object: the name \"cty\" appears twice in one object"
        ),
        "{message}"
    );
}

#[test]
fn a_jws_payload_without_target_artifact_is_refused() {
    let (header, _) = jws_parts(JWS_EC384);
    let payload = serde_json::json!({"subject": fixture_target().digest});
    assert_eq!(
        refusal(&jws_from(&header, &payload)),
        "the signed payload is not notation's {\"targetArtifact\": …}: it has \"subject\" beside targetArtifact"
    );
    assert_eq!(
        refusal(&jws_from(&header, &serde_json::json!({}))),
        "the signed payload is not notation's {\"targetArtifact\": …}: it has no targetArtifact"
    );
}

#[test]
fn a_jws_payload_with_an_extra_top_level_field_is_refused() {
    let (header, mut payload) = jws_parts(JWS_EC384);
    payload["iss"] = "https://issuer.example".into();
    assert_eq!(
        refusal(&jws_from(&header, &payload)),
        "the signed payload is not notation's {\"targetArtifact\": …}: it has \"iss\" beside targetArtifact"
    );
}

#[test]
fn a_jws_payload_with_a_bad_digest_is_refused() {
    let (header, mut payload) = jws_parts(JWS_EC384);
    for digest in [
        "sha256:56949FF7CFDFEACF3D236FE476E1D9951A01E23156E91FE16EDD56CA10E36A09",
        "sha256:56949ff7",
        "md5:d41d8cd98f00b204e9800998ecf8427e",
        "56949ff7cfdfeacf3d236fe476e1d9951a01e23156e91fe16edd56ca10e36a09",
    ] {
        payload["targetArtifact"]["digest"] = digest.into();
        assert_eq!(
            refusal(&jws_from(&header, &payload)),
            format!(
                "the signed payload is not notation's {{\"targetArtifact\": …}}: its targetArtifact's digest \"{digest}\" is not sha256:, sha384: or sha512: and lowercase hex of that length"
            )
        );
    }
}

#[test]
fn a_jws_payload_with_descriptor_fields_notation_drops_is_refused() {
    let (header, mut payload) = jws_parts(JWS_EC384);
    payload["targetArtifact"]["urls"] = serde_json::json!(["https://example.invalid/blob"]);
    assert_eq!(
        refusal(&jws_from(&header, &payload)),
        "the signed payload is not notation's {\"targetArtifact\": …}: its targetArtifact has \"urls\", which notation never signs (it keeps mediaType, digest, size and annotations)"
    );
}

#[test]
fn a_jws_payload_with_a_negative_or_fractional_size_is_refused() {
    let (header, mut payload) = jws_parts(JWS_EC384);
    for size in [serde_json::json!(-1), serde_json::json!(1.5), "247".into()] {
        payload["targetArtifact"]["size"] = size;
        assert_eq!(
            refusal(&jws_from(&header, &payload)),
            "the signed payload is not notation's {\"targetArtifact\": …}: its targetArtifact's size is not a non-negative integer"
        );
    }
}

#[test]
fn a_compact_jws_with_its_signature_is_refused() {
    let mut input = fixture(JWS_EC384);
    input.extend_from_slice(b".c2lnbmF0dXJl");
    assert_eq!(
        refusal(&input),
        "the payload is not a notation JWS signing input: it has three dot-separated parts: it is a compact JWS carrying its signature, not the header.payload that is signed"
    );
}

#[test]
fn a_padded_jws_is_refused() {
    let mut input = fixture(JWS_EC384);
    input.extend_from_slice(b"==");
    assert_eq!(
        refusal(&input),
        "the payload is not a notation JWS signing input: it is padded base64, where a JWS uses unpadded base64url"
    );
}

#[test]
fn a_cose_with_another_content_type_is_refused() {
    let items = cose_items(COSE_RSA3072);
    let mut entries = cose_protected(&items);
    let ct = entries
        .iter_mut()
        .find(|(k, _)| *k == Value::Integer(3.into()))
        .expect("content type");
    ct.1 = text("application/json");
    assert_eq!(
        refusal(&with_protected(items, entries)),
        "the payload is not a notation signing input: its COSE content type is \"application/json\", not application/vnd.cncf.notary.payload.v1+json"
    );
}

#[test]
fn a_cose_with_external_aad_is_refused() {
    let mut items = cose_items(COSE_RSA3072);
    items[2] = Value::Bytes(b"aad".to_vec());
    assert_eq!(
        refusal(&cbor(&Value::Array(items))),
        "the payload is not a notation COSE Sig_structure: its external_aad has 3 bytes, where notation's is empty"
    );
}

#[test]
fn a_cose_signature_context_instead_of_signature1_is_refused() {
    let mut items = cose_items(COSE_RSA3072);
    items[0] = text("Signature");
    // A COSE_Sign Sig_structure has a fifth item, sign_protected; refused either way.
    assert_eq!(
        refusal(&cbor(&Value::Array(items.clone()))),
        "the payload is not a notation COSE Sig_structure: its context is \"Signature\" (a COSE_Sign for several signers), not notation's \"Signature1\""
    );
    items.insert(2, Value::Bytes(Vec::new()));
    assert_eq!(
        refusal(&cbor(&Value::Array(items))),
        "the payload is not a notation COSE Sig_structure: it is a CBOR array of 5 items, not the four of [context, protected, external_aad, payload]"
    );
}

#[test]
fn a_cose_with_trailing_bytes_is_refused() {
    let mut input = fixture(COSE_RSA3072);
    input.extend_from_slice(&[0x00, 0x00]);
    assert_eq!(
        refusal(&input),
        "the payload is not a notation COSE Sig_structure: 2 trailing bytes follow the Sig_structure"
    );
}

#[test]
fn a_cose_without_critical_signing_scheme_is_refused() {
    let items = cose_items(COSE_RSA3072);
    let mut entries = cose_protected(&items);
    let crit = entries
        .iter_mut()
        .find(|(k, _)| *k == Value::Integer(2.into()))
        .expect("crit");
    crit.1 = Value::Array(vec![Value::Integer(3.into())]);
    assert_eq!(
        refusal(&with_protected(items, entries)),
        "the payload is not a notation COSE Sig_structure: its protected header does not mark \"io.cncf.notary.signingScheme\" critical"
    );
}

#[test]
fn a_cose_signing_time_without_its_tag_is_refused() {
    let items = cose_items(COSE_RSA3072);
    let mut entries = cose_protected(&items);
    let time = entries
        .iter_mut()
        .find(|(k, _)| *k == text(SIGNING_TIME))
        .expect("signing time");
    let Value::Tag(1, inner) = time.1.clone() else {
        panic!("notation tags its signing time")
    };
    time.1 = *inner;
    assert_eq!(
        refusal(&with_protected(items, entries)),
        "the payload is not a notation COSE Sig_structure: its \"io.cncf.notary.signingTime\" is not a tag 1 date/time over integer seconds"
    );
}

#[test]
fn a_cose_protected_header_out_of_deterministic_order_is_refused() {
    let items = cose_items(COSE_RSA3072);
    let mut entries = cose_protected(&items);
    entries.swap(0, 1);
    assert_eq!(
        refusal(&with_protected(items, entries)),
        "the payload is not a notation COSE Sig_structure: its protected header's labels are repeated or not in deterministic order"
    );
}

#[test]
fn a_cose_with_a_registered_label_notation_never_sets_is_refused() {
    let items = cose_items(COSE_RSA3072);
    let mut entries = cose_protected(&items);
    entries.insert(3, (Value::Integer(4.into()), Value::Bytes(b"kid".to_vec())));
    assert_eq!(
        refusal(&with_protected(items, entries)),
        "the payload is not a notation COSE Sig_structure: its protected header has label 4, which notation never sets"
    );
}

#[test]
fn a_cose_in_a_longer_encoding_is_refused() {
    // The array head 0x84 written as 0x98 0x04: the same value, not the shortest form.
    let input = fixture(COSE_RSA3072);
    let mut long = vec![0x98, 0x04];
    long.extend_from_slice(&input[1..]);
    assert_eq!(
        refusal(&long),
        "the payload is not a notation COSE Sig_structure: it is not in the deterministic CBOR encoding notation writes"
    );
}

#[test]
fn no_truncation_or_bit_flip_of_a_real_input_panics() {
    for b64 in [
        JWS_EC384,
        COSE_RSA3072,
        JWS_RSA3072_EXPIRY,
        COSE_EC384_EXPIRY,
    ] {
        let input = fixture(b64);
        for len in 0..input.len() {
            assert!(recognize(&input[..len]).is_err(), "a prefix of {len} bytes");
        }
        for i in 0..input.len() {
            for bit in 0..8 {
                let mut flipped = input.clone();
                flipped[i] ^= 1 << bit;
                let _ = recognize(&flipped);
            }
        }
    }
}

#[test]
fn deeply_nested_inputs_are_refused_without_overflow() {
    let (header, _) = jws_parts(JWS_EC384);
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let input = jws_raw(
        serde_json::to_string(&header).expect("JSON").as_bytes(),
        deep.as_bytes(),
    );
    assert!(refusal(&input).starts_with("the signed payload is not notation's"));
    let mut cose = vec![0x84];
    cose.extend(std::iter::repeat_n(0x81u8, 20_000));
    assert!(recognize(&cose).is_err());
}
