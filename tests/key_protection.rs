//! Whether a key keyrite puts on a token can ever leave it, judged by tools keyrite did not
//! write: pkcs11-tool's reading of the key's attributes, and a probe of this file's own that
//! talks to the token directly and tries every way out (reading CKA_VALUE, flipping
//! CKA_EXTRACTABLE or CKA_SENSITIVE, wrapping the key). Keys generated on the token and keys
//! imported through the library are both covered.

mod common;

use std::path::Path;
use std::process::Stdio;

use common::in_process::InProcess;
use common::*;
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeInfo, AttributeType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;
use der::Decode;
use der::asn1::OctetString;
use keyrite::keys::token::{KeyTemplate, Pkcs11Uri, Token as TokenSession, TokenSigner};
use keyrite::keys::{KeyAlgorithm, KeySigner, PublicKey};
use p384::ecdsa::signature::Verifier;
use p384::elliptic_curve::Generate;
use sha2::{Digest, Sha384};
use zeroize::Zeroizing;

/// The subject of every root made here.
const SUBJECT: &str = "C=US,ST=WA,O=Example,CN=Key Protection Root";
/// The label `keyrite root create` gives the root key when the URI names none.
const ROOT_LABEL: &str = "keyrite-root";
/// DER of the secp384r1 OID, what CKA_EC_PARAMS holds for P-384.
const P384_PARAMS: [u8; 7] = [0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];

/// A logged-in session of this process's own on `hsm`'s token, outside keyrite, with the
/// mechanisms the token lists.
fn probe_session(hsm: &SoftHsm) -> (Session, Vec<MechanismType>) {
    let ctx = Pkcs11::new(SOFTHSM_MODULE).expect("load SoftHSM");
    match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(e) => panic!("C_Initialize: {e}"),
    }
    let slot = ctx
        .get_slots_with_token()
        .expect("list slots")
        .into_iter()
        .find(|s| {
            ctx.get_token_info(*s)
                .is_ok_and(|info| info.label() == hsm.label())
        })
        .unwrap_or_else(|| panic!("no token '{}' in this process", hsm.label()));
    let mechanisms = ctx.get_mechanism_list(slot).expect("list mechanisms");
    let session = ctx.open_rw_session(slot).expect("open a session");
    match session.login(UserType::User, Some(&AuthPin::from(USER_PIN))) {
        Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
        Err(e) => panic!("login: {e}"),
    }
    (session, mechanisms)
}

/// The one object of `class` labelled `label`.
fn find_one(session: &Session, class: ObjectClass, label: &str) -> ObjectHandle {
    let found = session
        .find_objects(&[
            Attribute::Class(class),
            Attribute::Label(label.as_bytes().to_vec()),
        ])
        .expect("search objects");
    assert_eq!(found.len(), 1, "objects of {class} labelled {label}");
    found[0]
}

/// Asserts that the private key's CKA_VALUE cannot be read: the token calls it sensitive and
/// no read returns it.
fn assert_value_unreadable(session: &Session, key: ObjectHandle) {
    let info = session
        .get_attribute_info(key, &[AttributeType::Value])
        .expect("attribute info");
    assert!(
        matches!(info.as_slice(), [AttributeInfo::Sensitive]),
        "CKA_VALUE info: {info:?}"
    );
    let leaked = session
        .get_attributes(key, &[AttributeType::Value])
        .is_ok_and(|attrs| attrs.iter().any(|a| matches!(a, Attribute::Value(_))));
    assert!(!leaked, "the token returned the private key's CKA_VALUE");
}

/// The boolean attributes `types` of `key`, in order; a missing one is a failure.
fn flags(session: &Session, key: ObjectHandle, types: &[AttributeType]) -> Vec<bool> {
    let attrs = session.get_attributes(key, types).expect("read attributes");
    types
        .iter()
        .map(|t| {
            attrs
                .iter()
                .find_map(|a| match a {
                    Attribute::Sensitive(v)
                    | Attribute::Extractable(v)
                    | Attribute::AlwaysSensitive(v)
                    | Attribute::NeverExtractable(v)
                    | Attribute::Local(v)
                        if a.attribute_type() == *t =>
                    {
                        Some(*v)
                    }
                    _ => None,
                })
                .unwrap_or_else(|| panic!("the token does not report {t}"))
        })
        .collect()
}

/// The P-384 public key of the public key object `public` (EC_POINT raw or DER-wrapped).
fn ec_public_key(session: &Session, public: ObjectHandle) -> p384::ecdsa::VerifyingKey {
    let attrs = session
        .get_attributes(public, &[AttributeType::EcPoint])
        .expect("read EC_POINT");
    let point = attrs
        .into_iter()
        .find_map(|a| match a {
            Attribute::EcPoint(p) => Some(p),
            _ => None,
        })
        .expect("the public key has an EC_POINT");
    let raw = OctetString::from_der(&point)
        .map(|o| o.as_bytes().to_vec())
        .unwrap_or(point);
    p384::ecdsa::VerifyingKey::from_sec1_bytes(&raw).expect("a P-384 point")
}

/// `pkcs11:token=L;object=LABEL?pin-source=...` for `hsm`.
fn object_uri(hsm: &SoftHsm, label: &str) -> String {
    let uri = hsm.pin_uri();
    let (path, query) = uri.split_once('?').expect("the fixture URI has a query");
    format!("{path};object={label}?{query}")
}

/// Creates a root of `algorithm` on `hsm` with the keyrite binary.
fn create_root(hsm: &SoftHsm, algorithm: &str) {
    let out = hsm.dir().join("out");
    run_ok(
        hsm.command()
            .args(["root", "create", "--token"])
            .arg(hsm.pin_uri())
            .args(["--subject", SUBJECT, "--validity", "20y", "--out"])
            .arg(&out)
            .args(["--algorithm", algorithm]),
    );
}

/// `keyrite token audit --json` of the key `label`, which must exit 0.
fn audit_json(hsm: &SoftHsm, label: &str) -> serde_json::Value {
    let out = hsm
        .command()
        .args(["token", "audit", "--json"])
        .arg(object_uri(hsm, label))
        .stdin(Stdio::null())
        .output()
        .expect("run keyrite token audit");
    assert!(
        out.status.success(),
        "keyrite token audit failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("audit prints JSON")
}

/// The lines of the first `pkcs11-tool --list-objects` section whose heading starts with
/// `heading`, heading excluded.
fn section<'a>(listing: &'a str, heading: &str) -> Vec<&'a str> {
    listing
        .lines()
        .skip_while(|l| !l.starts_with(heading))
        .skip(1)
        .take_while(|l| l.starts_with(char::is_whitespace))
        .collect()
}

/// The comma-separated words of field `name` in a section, spacing ignored.
fn field_words(section: &[&str], name: &str) -> Vec<String> {
    let line = section
        .iter()
        .find_map(|l| l.trim_start().strip_prefix(&format!("{name}:")))
        .unwrap_or_else(|| panic!("no {name}: line in {section:#?}"));
    line.split(',')
        .map(|w| w.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|w| !w.is_empty())
        .collect()
}

/// A fresh software P-384 key: its scalar, and its public key as keyrite and p384 see it.
fn software_p384_key() -> (Zeroizing<Vec<u8>>, PublicKey, p384::ecdsa::VerifyingKey) {
    let secret = p384::SecretKey::try_generate_from_rng(&mut getrandom::SysRng)
        .expect("system random numbers");
    let scalar = Zeroizing::new(secret.to_bytes().to_vec());
    let verifying = p384::ecdsa::VerifyingKey::from(secret.public_key());
    (scalar, PublicKey::P384(verifying), verifying)
}

/// Opens `hsm`'s token through keyrite's library and logs in with the fixture PIN.
fn open_token(hsm: &SoftHsm) -> TokenSession {
    let uri: Pkcs11Uri = hsm.pin_uri().parse().expect("fixture URI parses");
    let token = TokenSession::open(&uri, Some(Path::new(SOFTHSM_MODULE))).expect("open token");
    token.login(&uri).expect("log in");
    token
}

#[test]
fn pkcs11_tool_sees_the_root_key_as_sensitive_never_extractable_and_local() {
    let hsm = SoftHsm::new("kp-listed");
    create_root(&hsm, "p384");
    let listing = pkcs11_tool_list_objects(&hsm);
    assert_eq!(
        listing
            .lines()
            .filter(|l| l.starts_with("Private Key Object"))
            .count(),
        1,
        "{listing}"
    );
    let private = section(&listing, "Private Key Object");
    assert_eq!(field_words(&private, "label"), [ROOT_LABEL], "{listing}");
    assert_eq!(
        field_words(&private, "Access"),
        [
            "sensitive",
            "always sensitive",
            "never extractable",
            "local"
        ],
        "{listing}"
    );
    assert_eq!(field_words(&private, "Usage"), ["sign"], "{listing}");
}

#[test]
fn a_probe_cannot_read_flip_or_wrap_the_root_key_out() {
    let hsm = SoftHsm::new("kp-probed");
    create_root(&hsm, "p384");
    {
        let _in_process = InProcess::enter(&hsm, &[]);
        let (session, mechanisms) = probe_session(&hsm);
        let key = find_one(&session, ObjectClass::PRIVATE_KEY, ROOT_LABEL);
        let protection = [
            AttributeType::Sensitive,
            AttributeType::Extractable,
            AttributeType::AlwaysSensitive,
            AttributeType::NeverExtractable,
            AttributeType::Local,
        ];
        assert_eq!(
            flags(&session, key, &protection),
            [true, false, true, true, true]
        );

        assert_value_unreadable(&session, key);

        for (change, what) in [
            (Attribute::Extractable(true), "CKA_EXTRACTABLE to true"),
            (Attribute::Sensitive(false), "CKA_SENSITIVE to false"),
        ] {
            match session.update_attributes(key, &[change]) {
                Err(CkError::Pkcs11(RvError::AttributeReadOnly, _)) => {}
                other => panic!("setting {what}: expected CKR_ATTRIBUTE_READ_ONLY, got {other:?}"),
            }
        }
        assert_eq!(
            flags(&session, key, &protection),
            [true, false, true, true, true],
            "the refused changes left a trace"
        );

        let wrap = if mechanisms.contains(&MechanismType::AES_KEY_WRAP_PAD) {
            Mechanism::AesKeyWrapPad
        } else if mechanisms.contains(&MechanismType::AES_CBC_PAD) {
            Mechanism::AesCbcPad([0; 16])
        } else {
            panic!("SoftHSM lists neither CKM_AES_KEY_WRAP_PAD nor CKM_AES_CBC_PAD: {mechanisms:?}")
        };
        let wrapping_key = session
            .generate_key(
                &Mechanism::AesKeyGen,
                &[
                    Attribute::Token(false),
                    Attribute::ValueLen(32u64.into()),
                    Attribute::Encrypt(true),
                    Attribute::Wrap(true),
                ],
            )
            .expect("generate an AES-256 wrapping key");
        // Control: the same wrapping key and mechanism do take out a key that allows it, so
        // the refusal below is the root key's protection, not an unusable mechanism.
        let (_, extractable) = session
            .generate_key_pair(
                &Mechanism::EccKeyPairGen,
                &[
                    Attribute::Token(false),
                    Attribute::EcParams(P384_PARAMS.to_vec()),
                ],
                &[
                    Attribute::Token(false),
                    Attribute::Private(true),
                    Attribute::Sensitive(true),
                    Attribute::Extractable(true),
                    Attribute::Sign(true),
                ],
            )
            .expect("generate an extractable control key");
        let wrapped = session
            .wrap_key(&wrap, wrapping_key, extractable)
            .expect("wrap the extractable control key");
        assert!(!wrapped.is_empty());
        match session.wrap_key(&wrap, wrapping_key, key) {
            Err(CkError::Pkcs11(RvError::KeyUnextractable, _)) => {}
            other => panic!(
                "wrapping the root key with {}: expected CKR_KEY_UNEXTRACTABLE, got {other:?}",
                wrap.mechanism_type()
            ),
        }

        // The key still signs, and its signature verifies against the public key beside it.
        let message = b"the probe changed nothing";
        let raw = session
            .sign(&Mechanism::Ecdsa, key, &Sha384::digest(message))
            .expect("the root key still signs");
        let signature = p384::ecdsa::Signature::from_slice(&raw).expect("r || s");
        let public = find_one(&session, ObjectClass::PUBLIC_KEY, ROOT_LABEL);
        ec_public_key(&session, public)
            .verify(message, &signature)
            .expect("the root key's signature verifies");
    }

    let audit = audit_json(&hsm, ROOT_LABEL);
    assert_eq!(audit["origin"], "generated-on-token", "{audit:#}");
    assert_eq!(audit["problems"], serde_json::json!([]), "{audit:#}");
}

#[test]
fn an_imported_key_is_sensitive_and_sign_only_but_marked_imported() {
    const LABEL: &str = "imported-root";
    let hsm = SoftHsm::new("kp-imported");
    let (scalar, public_key, verifying) = software_p384_key();
    let message = b"signed by an imported key";
    {
        let _in_process = InProcess::enter(&hsm, &[]);
        {
            let token = open_token(&hsm);
            let template = KeyTemplate {
                label: LABEL.to_owned(),
                id: vec![0x1a; 16],
                notation: false,
            };
            let key = token
                .import_ec_key(KeyAlgorithm::P384, &scalar, &public_key, &template)
                .expect("import the software key");
            assert_eq!(key.public_key, public_key);
            let signer = TokenSigner::new(&token, key).expect("a signer for the imported key");
            let der = signer.sign(message).expect("sign with the imported key");
            let signature = p384::ecdsa::DerSignature::from_bytes(&der).expect("a DER signature");
            verifying
                .verify(message, &signature)
                .expect("the token's signature verifies against the software public key");
        }
        let (session, _) = probe_session(&hsm);
        let key = find_one(&session, ObjectClass::PRIVATE_KEY, LABEL);
        assert_value_unreadable(&session, key);
    }

    let audit = audit_json(&hsm, LABEL);
    let expected = [
        ("sensitive", true),
        ("extractable", false),
        ("always_sensitive", false),
        ("never_extractable", false),
        ("local", false),
        ("sign", true),
        ("decrypt", false),
        ("unwrap", false),
        ("derive", false),
    ];
    for (field, value) in expected {
        assert_eq!(audit[field], value, "{field} in {audit:#}");
    }
    assert_eq!(audit["origin"], "imported", "{audit:#}");
    assert_eq!(audit["problems"], serde_json::json!([]), "{audit:#}");
}

#[test]
fn importing_over_an_existing_label_is_refused_and_adds_nothing() {
    const LABEL: &str = "taken";
    let hsm = SoftHsm::new("kp-collide");
    let _in_process = InProcess::enter(&hsm, &[]);
    let token = open_token(&hsm);

    let (scalar, public_key, _) = software_p384_key();
    let first = KeyTemplate {
        label: LABEL.to_owned(),
        id: vec![0x01; 16],
        notation: false,
    };
    token
        .import_ec_key(KeyAlgorithm::P384, &scalar, &public_key, &first)
        .expect("first import");
    let before = count_objects(&hsm);
    assert_eq!(
        before, 2,
        "the first import makes a private and a public key"
    );

    // Another key, another id: only the label collides.
    let (scalar, public_key, _) = software_p384_key();
    let second = KeyTemplate {
        label: LABEL.to_owned(),
        id: vec![0x02; 16],
        notation: false,
    };
    let refused = token
        .import_ec_key(KeyAlgorithm::P384, &scalar, &public_key, &second)
        .expect_err("a second key with the same label is refused");
    assert!(
        refused
            .to_string()
            .contains("already holds an object with label"),
        "{refused}"
    );
    assert_eq!(count_objects(&hsm), before);
}

#[test]
fn an_rsa_root_key_cannot_be_driven_through_raw_rsa() {
    let hsm = SoftHsm::new("kp-rsa");
    create_root(&hsm, "rsa3072");
    let audit = audit_json(&hsm, ROOT_LABEL);
    assert_eq!(audit["sign_recover"], false, "{audit}");
    assert_eq!(
        audit["allowed_mechanisms"],
        serde_json::json!(["CKM_RSA_PKCS", "CKM_SHA384_RSA_PKCS"]),
        "{audit}"
    );

    let _in_process = InProcess::enter(&hsm, &[]);
    let (session, _) = probe_session(&hsm);
    let key = find_one(&session, ObjectClass::PRIVATE_KEY, ROOT_LABEL);
    // Raw RSA is the private-key operation itself: with it, "signing" decrypts.
    let ciphertext = vec![0x01; 384];
    let raw = session.sign(&Mechanism::RsaX509, key, &ciphertext);
    assert!(raw.is_err(), "the token ran raw RSA with the root key");
    let recover = session.decrypt(&Mechanism::RsaPkcs, key, &ciphertext);
    assert!(recover.is_err(), "the token decrypted with the root key");
    // Signing as allowed still works.
    let signature = session
        .sign(&Mechanism::Sha384RsaPkcs, key, b"allowed")
        .expect("allowed signing mechanism");
    assert_eq!(signature.len(), 384);
}
