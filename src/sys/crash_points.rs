//! Pauses between the steps of multi-step work, in debug builds only, when an environment
//! variable asks for them: the crash tests kill a process during a pause to prove that an
//! interruption at any step leaves a state the next run completes or undoes.

/// Sleeps for the milliseconds in `var`, in debug builds; does nothing in release builds.
pub fn pause(var: &str) {
    #[cfg(debug_assertions)]
    if let Some(ms) = std::env::var(var).ok().and_then(|v| v.parse::<u64>().ok()) {
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
    #[cfg(not(debug_assertions))]
    let _ = var;
}
