//! `token list`: what a module offers, slot by slot, and which mechanisms keyrite needs.

use cryptoki::mechanism::MechanismType;
use serde::Serialize;

use super::{Module, TokenError, ck};

/// Mechanisms keyrite uses, with what for.
const MECHANISMS: &[(MechanismType, &str, &str)] = &[
    (
        MechanismType::ECC_KEY_PAIR_GEN,
        "CKM_EC_KEY_PAIR_GEN",
        "EC key generation",
    ),
    (
        MechanismType::ECDSA,
        "CKM_ECDSA",
        "EC signing (host hashes)",
    ),
    (
        MechanismType::ECDSA_SHA256,
        "CKM_ECDSA_SHA256",
        "P-256 signing on the token",
    ),
    (
        MechanismType::ECDSA_SHA384,
        "CKM_ECDSA_SHA384",
        "P-384 signing on the token",
    ),
    (
        MechanismType::ECDSA_SHA512,
        "CKM_ECDSA_SHA512",
        "P-521 signing on the token",
    ),
    (
        MechanismType::RSA_PKCS_KEY_PAIR_GEN,
        "CKM_RSA_PKCS_KEY_PAIR_GEN",
        "RSA key generation",
    ),
    (
        MechanismType::RSA_PKCS,
        "CKM_RSA_PKCS",
        "RSA signing (host hashes)",
    ),
    (
        MechanismType::SHA384_RSA_PKCS,
        "CKM_SHA384_RSA_PKCS",
        "RSA-3072 signing on the token",
    ),
    (
        MechanismType::SHA512_RSA_PKCS,
        "CKM_SHA512_RSA_PKCS",
        "RSA-4096 signing on the token",
    ),
];

/// One mechanism keyrite needs, and whether the token lists it.
#[derive(Clone, Debug, Serialize)]
pub struct MechanismReport {
    /// PKCS#11 name.
    pub name: &'static str,
    /// What keyrite uses it for.
    pub purpose: &'static str,
    /// Whether the token lists it.
    pub present: bool,
}

/// One slot and the token in it.
#[derive(Clone, Debug, Serialize)]
pub struct SlotReport {
    /// The slot number (not stable across runs: select tokens by label or serial).
    pub slot_id: u64,
    /// Slot description.
    pub slot_description: String,
    /// Token label, when a token is present.
    pub label: Option<String>,
    /// Token serial number.
    pub serial: Option<String>,
    /// Token manufacturer.
    pub manufacturer: Option<String>,
    /// Token model.
    pub model: Option<String>,
    /// Token flags that matter to a ceremony.
    pub flags: Vec<&'static str>,
    /// Mechanisms keyrite needs.
    pub mechanisms: Vec<MechanismReport>,
}

/// Lists every slot of the module at `module`.
pub fn list_slots(module: &Module) -> Result<Vec<SlotReport>, TokenError> {
    let ctx = &module.ctx;
    let mut out = Vec::new();
    for slot in ctx.get_all_slots().map_err(ck("listing slots"))? {
        let sinfo = ctx
            .get_slot_info(slot)
            .map_err(ck("reading slot information"))?;
        let mut report = SlotReport {
            slot_id: slot.id(),
            slot_description: sinfo.slot_description().trim().to_owned(),
            label: None,
            serial: None,
            manufacturer: None,
            model: None,
            flags: Vec::new(),
            mechanisms: Vec::new(),
        };
        if sinfo.token_present() {
            let t = ctx
                .get_token_info(slot)
                .map_err(ck("reading token information"))?;
            report.label = Some(t.label().to_owned());
            report.serial = Some(t.serial_number().to_owned());
            report.manufacturer = Some(t.manufacturer_id().to_owned());
            report.model = Some(t.model().to_owned());
            for (set, name) in [
                (t.token_initialized(), "token-initialized"),
                (t.user_pin_initialized(), "user-pin-initialized"),
                (t.login_required(), "login-required"),
                (
                    t.protected_authentication_path(),
                    "protected-authentication-path",
                ),
                (t.rng(), "rng"),
                (t.write_protected(), "write-protected"),
                (t.user_pin_count_low(), "user-pin-count-low"),
                (t.user_pin_final_try(), "user-pin-final-try"),
                (t.user_pin_locked(), "user-pin-locked"),
                (t.user_pin_to_be_changed(), "user-pin-to-be-changed"),
            ] {
                if set {
                    report.flags.push(name);
                }
            }
            let listed = ctx
                .get_mechanism_list(slot)
                .map_err(ck("listing mechanisms"))?;
            report.mechanisms = MECHANISMS
                .iter()
                .map(|(m, name, purpose)| MechanismReport {
                    name,
                    purpose,
                    present: listed.contains(m),
                })
                .collect();
        }
        out.push(report);
    }
    Ok(out)
}
