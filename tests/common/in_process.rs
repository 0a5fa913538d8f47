//! Exclusive use of the SoftHSM2 module loaded into a test process, for tests that call
//! keyrite's library (which opens tokens in-process) rather than its binary.
//!
//! SoftHSM reads `SOFTHSM2_CONF` when it is initialised and keeps one state per process, and
//! keyrite's `Token` never finalises it, while the tests of a file run in parallel threads.

use std::sync::{Mutex, MutexGuard, PoisonError};

use cryptoki::context::Pkcs11;

use super::{SOFTHSM_MODULE, SoftHsm};

/// Serialises every in-process use of SoftHSM in this test process.
static LOCK: Mutex<()> = Mutex::new(());

/// Holding this guard means: no other test of the process uses the module meanwhile, the
/// module was finalised (so the next C_Initialize reads the `SOFTHSM2_CONF` set here), and it
/// is finalised again when the guard drops. Declare it after the fixture and before any
/// session, so that it drops after the sessions and before the fixture's token directory.
pub struct InProcess {
    _guard: MutexGuard<'static, ()>,
}

impl InProcess {
    /// Takes the module for this test and points `SOFTHSM2_CONF` at `hsm`'s tokens; clears
    /// `vars` (e.g. `KEYRITE_PIN`) from the environment as well.
    pub fn enter(hsm: &SoftHsm, vars: &[&str]) -> InProcess {
        // A test that failed while holding the lock leaves nothing the next one relies on.
        let guard = LOCK.lock().unwrap_or_else(PoisonError::into_inner);
        finalize_softhsm();
        // SAFETY: every test of the process that reads the environment from its own code (the
        // SoftHSM module during C_Initialize, keyrite's library) holds LOCK, and child
        // processes get SOFTHSM2_CONF from their fixture explicitly; std serialises its own
        // environment use.
        unsafe {
            std::env::set_var("SOFTHSM2_CONF", hsm.conf());
            for var in vars {
                std::env::remove_var(var);
            }
        }
        InProcess { _guard: guard }
    }
}

impl Drop for InProcess {
    fn drop(&mut self) {
        finalize_softhsm();
    }
}

/// C_Finalize on the SoftHSM module, whatever state an earlier user left it in.
fn finalize_softhsm() {
    if let Ok(ctx) = Pkcs11::new(SOFTHSM_MODULE) {
        // CKR_CRYPTOKI_NOT_INITIALIZED is the expected answer when nothing was left open.
        let _ = ctx.finalize();
    }
}
