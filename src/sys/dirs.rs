//! Where notation and keyrite keep per-user files, found the way notation (Go's
//! `os.UserConfigDir` / `os.UserCacheDir`) finds them.

use std::path::PathBuf;

/// The directory an environment variable names, when it is set and not empty.
pub fn env_dir(var: &str) -> Option<PathBuf> {
    std::env::var_os(var)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// The user's base directory: `$xdg`, else `$HOME/fallback`.
pub fn user_dir(xdg: &str, fallback: &str) -> Result<PathBuf, String> {
    env_dir(xdg)
        .or_else(|| env_dir("HOME").map(|h| h.join(fallback)))
        .ok_or_else(|| format!("neither {xdg} nor HOME is set"))
}

/// notation's configuration directory: `$NOTATION_CONFIG`, else the user's
/// `~/.config/notation`.
pub fn notation_config() -> Result<PathBuf, String> {
    env_dir("NOTATION_CONFIG").map_or_else(
        || user_dir("XDG_CONFIG_HOME", ".config").map(|d| d.join("notation")),
        Ok,
    )
}
