//! Process hygiene for anything that handles a PIN or a key: no core dumps, no ptrace by the
//! same user, and memory locked so secrets are not swapped out where the OS allows it.

use rustix::mm::{MlockAllFlags, mlockall};
use rustix::process::{
    DumpableBehavior, Resource, Rlimit, geteuid, getrlimit, set_dumpable_behavior, setrlimit,
};

/// What could not be hardened; each entry is a sentence for the operator.
#[derive(Debug, Default)]
pub struct HygieneReport {
    /// Hardening steps the OS refused, with the reason.
    pub warnings: Vec<String>,
}

/// Disables core dumps and locks memory; reports (never aborts on) what the OS refuses.
pub fn harden_process() -> HygieneReport {
    let mut report = HygieneReport::default();
    if let Err(e) = setrlimit(
        Resource::Core,
        Rlimit {
            current: Some(0),
            maximum: Some(0),
        },
    ) {
        report
            .warnings
            .push(format!("core dumps could not be disabled (setrlimit: {e})"));
    }
    if let Err(e) = set_dumpable_behavior(DumpableBehavior::NotDumpable) {
        report.warnings.push(format!(
            "the process could not be marked non-dumpable ({e})"
        ));
    }
    // Locking future mappings under a small RLIMIT_MEMLOCK would make later allocations
    // fail, so lock only when the limit cannot bite: as root, or with an unlimited limit.
    let limit = getrlimit(Resource::Memlock);
    if geteuid().is_root() || limit.current.is_none() {
        if let Err(e) = mlockall(MlockAllFlags::CURRENT | MlockAllFlags::FUTURE) {
            report.warnings.push(format!(
                "memory could not be locked (mlockall: {e}); secrets may reach swap: disable swap on the ceremony machine"
            ));
        }
    } else {
        report.warnings.push(format!(
            "memory not locked: RLIMIT_MEMLOCK is {} bytes; run as root or raise the limit (ulimit -l unlimited), or disable swap",
            limit.current.unwrap_or_default()
        ));
    }
    report
}
