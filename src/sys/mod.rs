//! The process and its file system: atomic, never-overwriting outputs; the user's and
//! notation's directories; the clock; reading input files safely; secret prompts; process
//! hardening; shell completions and man pages; and the crash points tests pause at. Nothing
//! here knows about certificates or keys.

pub mod clock;
pub mod crash_points;
pub mod dirs;
pub mod hygiene;
pub mod input;
pub mod output;
pub mod prompt;
pub mod shell;
