//! Signing through the library's token layer: a signature the token returns is used only
//! after it verifies against the key's public key. The token here holds a private key whose
//! public key object was swapped for another key's (made with OpenSC's pkcs11-tool).
//!
//! One test per file: SoftHSM2 reads SOFTHSM2_CONF once per process.

mod common;

use common::*;
use keyrite::keys::token::{Pkcs11Uri, TokenSigner};
use keyrite::keys::{KeySigner, PublicKey, SignatureScheme};

#[test]
fn a_signature_that_does_not_match_the_public_key_is_never_used() {
    let hsm = SoftHsm::new("mixup");
    let tool = |args: &[&str]| {
        run_ok(
            hsm.pkcs11_tool()
                .args(["--login", "--pin", USER_PIN])
                .args(args),
        )
    };
    tool(&[
        "--keypairgen",
        "--key-type",
        "EC:secp384r1",
        "--label",
        "a",
        "--id",
        "01",
    ]);
    tool(&[
        "--keypairgen",
        "--key-type",
        "EC:secp384r1",
        "--label",
        "b",
        "--id",
        "02",
    ]);
    tool(&[
        "--keypairgen",
        "--key-type",
        "EC:secp384r1",
        "--label",
        "c",
        "--id",
        "03",
    ]);
    // Key a's public key object now carries key b's point.
    tool(&["--delete-object", "--type", "pubkey", "--id", "01"]);
    tool(&["--set-id", "01", "--id", "02", "--type", "pubkey"]);

    // SAFETY: this test binary runs this one test, on one thread, before any token is opened.
    unsafe { std::env::set_var("SOFTHSM2_CONF", hsm.conf()) };
    let uri = |object: &str| -> Pkcs11Uri {
        format!(
            "pkcs11:token=mixup;object={object}?pin-source=file:{}",
            hsm.pin_file().display()
        )
        .parse()
        .unwrap()
    };
    let module = std::path::PathBuf::from(SOFTHSM_MODULE);
    let token = keyrite::keys::token::Token::open(&uri("a"), Some(&module)).unwrap();
    token.login(&uri("a")).unwrap();

    // Key a signs, but its signature does not verify against the (wrong) public key: refused.
    let key_a = token.find_key(&uri("a")).unwrap();
    let signer = TokenSigner::new(&token, key_a).unwrap();
    let err = signer.sign(b"to be signed").unwrap_err().to_string();
    assert!(
        err.contains("returned a signature that does not verify"),
        "{err}"
    );

    // Key c is whole: its signature verifies, also with p384's own verifier.
    let signer_c = TokenSigner::new(&token, token.find_key(&uri("c")).unwrap()).unwrap();
    assert_eq!(signer_c.scheme(), SignatureScheme::EcdsaSha384);
    let sig = signer_c.sign(b"to be signed").unwrap();
    let PublicKey::P384(vk) = signer_c.public_key() else {
        panic!("expected a P-384 key");
    };
    let der = p384::ecdsa::DerSignature::from_bytes(&sig).unwrap();
    signature::Verifier::verify(vk, b"to be signed", &der).unwrap();
}
