//! The clock, in the whole seconds that bundles, transcripts and installed records carry.

use std::time::{Duration, SystemTime};

use der::DateTime;

/// A system clock keyrite cannot use.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ClockError(String);

/// The current time in whole seconds.
pub fn now() -> Result<DateTime, ClockError> {
    let secs = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_err(|_| ClockError("the system clock is before 1970".into()))?
        .as_secs();
    DateTime::from_unix_duration(Duration::from_secs(secs)).map_err(|e| ClockError(e.to_string()))
}
