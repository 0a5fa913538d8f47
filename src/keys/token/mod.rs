//! PKCS#11 tokens: loading a module, selecting a token by URI, logging in, and the keys on it.
//!
//! Key generation, import, signing and the attribute audit live in their own submodules; this
//! one holds the session every one of them works through.

mod audit;
mod error;
mod find;
mod keys;
mod list;
pub mod pin;
mod records;
mod sign;
pub mod uri;

use std::path::{Path, PathBuf};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::MechanismType;
use cryptoki::session::{Session, SessionState, UserType};
use cryptoki::slot::{Slot, TokenInfo};
use cryptoki::types::RawAuthPin;

pub use audit::{KeyAudit, KeyOrigin};
pub use error::TokenError;
use error::ck;
pub use keys::{KeyTemplate, TokenKey};
pub use list::{MechanismReport, SlotReport, list_slots};
pub use records::Anchored;
pub use sign::TokenSigner;
pub use uri::{Pkcs11Uri, UriError};

/// Environment variable naming the PKCS#11 module when neither `--module` nor the URI does.
pub const MODULE_ENV: &str = "KEYRITE_PKCS11_MODULE";

/// Resolves which module to load: the URI's `module-path`, `--module`, or `KEYRITE_PKCS11_MODULE`.
pub fn resolve_module(uri: Option<&Pkcs11Uri>, flag: Option<&Path>) -> Result<PathBuf, TokenError> {
    let from_uri = uri.and_then(|u| u.module_path.clone());
    match (from_uri, flag) {
        (Some(u), Some(f)) if u != f => Err(TokenError::ConflictingModules {
            flag: f.to_owned(),
            uri: u,
        }),
        (Some(u), _) => Ok(u),
        (None, Some(f)) => Ok(f.to_owned()),
        (None, None) => std::env::var_os(MODULE_ENV)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .ok_or(TokenError::NoModule),
    }
}

/// A loaded and initialised PKCS#11 module.
pub struct Module {
    ctx: Pkcs11,
    path: PathBuf,
}

impl Module {
    /// Loads and initialises the module at `path`.
    pub fn load(path: &Path) -> Result<Self, TokenError> {
        if !path.exists() {
            return Err(TokenError::ModuleNotFound(path.to_owned()));
        }
        let ctx = Pkcs11::new(path).map_err(|e| TokenError::NotAModule {
            path: path.to_owned(),
            detail: e.to_string(),
        })?;
        match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
            Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
            Err(e) => {
                return Err(TokenError::NotAModule {
                    path: path.to_owned(),
                    detail: format!("C_Initialize failed: {e}"),
                });
            }
        }
        Ok(Self {
            ctx,
            path: path.to_owned(),
        })
    }

    /// The module's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Finds the one token `uri` selects.
    pub fn select_token(&self, uri: &Pkcs11Uri) -> Result<(Slot, TokenInfo), TokenError> {
        let slots = self
            .ctx
            .get_slots_with_token()
            .map_err(ck("listing slots"))?;
        let mut seen = Vec::new();
        let mut matches = Vec::new();
        for slot in slots {
            let info = self
                .ctx
                .get_token_info(slot)
                .map_err(ck("reading token information"))?;
            seen.push(format!(
                "'{}' (serial {})",
                info.label(),
                info.serial_number()
            ));
            let wanted =
                |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
            if wanted(&uri.token, info.label())
                && wanted(&uri.serial, info.serial_number())
                && wanted(&uri.manufacturer, info.manufacturer_id())
                && wanted(&uri.model, info.model())
                && uri.slot_id.is_none_or(|id| id == slot.id())
            {
                matches.push((slot, info));
            }
        }
        let shown = uri.to_string();
        match matches.len() {
            1 => Ok(matches.remove(0)),
            0 => Err(TokenError::NoSuchToken {
                uri: shown,
                present: if seen.is_empty() {
                    "none".into()
                } else {
                    seen.join(", ")
                },
            }),
            _ => Err(TokenError::AmbiguousToken {
                uri: shown,
                matches: matches
                    .iter()
                    .map(|(_, i)| format!("'{}' (serial {})", i.label(), i.serial_number()))
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    }
}

/// An open read-write session on one token.
pub struct Token {
    module: Module,
    slot: Slot,
    label: String,
    serial: String,
    session: Session,
    mechanisms: Vec<MechanismType>,
}

impl Token {
    /// Loads the module and opens a session on the token `uri` selects (not yet logged in).
    pub fn open(uri: &Pkcs11Uri, module_flag: Option<&Path>) -> Result<Self, TokenError> {
        let module = Module::load(&resolve_module(Some(uri), module_flag)?)?;
        let (slot, info) = module.select_token(uri)?;
        let session = module
            .ctx
            .open_rw_session(slot)
            .map_err(ck("opening a session"))?;
        let mechanisms = module
            .ctx
            .get_mechanism_list(slot)
            .map_err(ck("listing mechanisms"))?;
        Ok(Self {
            label: info.label().to_owned(),
            serial: info.serial_number().to_owned(),
            module,
            slot,
            session,
            mechanisms,
        })
    }

    /// The token's label.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The token's serial number.
    pub fn serial(&self) -> &str {
        &self.serial
    }

    /// Whether the token lists `mechanism`.
    pub fn has_mechanism(&self, mechanism: MechanismType) -> bool {
        self.mechanisms.contains(&mechanism)
    }

    /// Logs the user in with the PIN from `uri`'s source; a wrong PIN is never retried. A
    /// token this process is logged in to already (a ceremony keeps its root token logged in
    /// from the start) asks for no PIN again.
    pub fn login(&self, uri: &Pkcs11Uri) -> Result<(), TokenError> {
        if self
            .session
            .get_session_info()
            .is_ok_and(|i| i.session_state() == SessionState::RwUser)
        {
            return Ok(());
        }
        let info = self
            .module
            .ctx
            .get_token_info(self.slot)
            .map_err(ck("reading token information"))?;
        if info.user_pin_locked() {
            return Err(TokenError::PinLocked(self.label.clone()));
        }
        let pin = pin::user_pin(uri, &self.label)?;
        let secret = RawAuthPin::new(Box::new(pin.to_vec()));
        drop(pin);
        match self.session.login_with_raw(UserType::User, &secret) {
            Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(()),
            Err(CkError::Pkcs11(RvError::PinIncorrect, _)) => Err(TokenError::WrongPin {
                token: self.label.clone(),
                tries: self.remaining_tries(),
            }),
            Err(CkError::Pkcs11(RvError::PinLocked, _)) => {
                Err(TokenError::PinLocked(self.label.clone()))
            }
            Err(e) => Err(ck("logging in")(e)),
        }
    }

    fn remaining_tries(&self) -> String {
        match self.module.ctx.get_token_info(self.slot) {
            Ok(info) if info.user_pin_locked() => "the token reports the PIN is now LOCKED".into(),
            Ok(info) if info.user_pin_final_try() => {
                "the token reports ONE try left before the PIN locks".into()
            }
            Ok(info) if info.user_pin_count_low() => {
                "the token reports few tries left before the PIN locks".into()
            }
            Ok(_) => "the token does not report a low retry count".into(),
            Err(_) => "the token's retry count could not be read".into(),
        }
    }

    pub(crate) fn session(&self) -> &Session {
        &self.session
    }
}

impl Token {
    /// Refuses unless the token lists `mechanism`.
    fn require(
        &self,
        mechanism: cryptoki::mechanism::Mechanism<'_>,
        purpose: &str,
    ) -> Result<(), TokenError> {
        if self.has_mechanism(mechanism.mechanism_type()) {
            Ok(())
        } else {
            Err(TokenError::MissingMechanism {
                token: self.label.clone(),
                needed: mechanism.mechanism_type().to_string(),
                purpose: purpose.to_owned(),
            })
        }
    }
}
