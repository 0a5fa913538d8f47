//! Installing `notation-keyrite` where notation looks for its plugins.

use std::path::{Path, PathBuf};

use super::PublisherError;
use crate::sys::output;

/// The plugin's file name under `{NOTATION_CONFIG}/plugins/keyrite/`.
pub const PLUGIN_FILE: &str = "notation-keyrite";

/// Copies `plugin` to `{notation_config}/plugins/keyrite/notation-keyrite` as a regular,
/// executable file; an existing one is replaced only when `replace` is set.
pub fn install_plugin(
    plugin: &Path,
    notation_config: &Path,
    replace: bool,
) -> Result<PathBuf, PublisherError> {
    let bytes = std::fs::read(plugin).map_err(|e| {
        PublisherError::Refused(format!(
            "cannot read the plugin {}: {e}; it is built beside keyrite as notation-keyrite",
            plugin.display()
        ))
    })?;
    let dir = notation_config.join("plugins/keyrite");
    let target = dir.join(PLUGIN_FILE);
    if replace && target.symlink_metadata().is_ok() {
        output::replace_file(&dir, PLUGIN_FILE, &bytes, output::EXECUTABLE)?;
    } else {
        output::write_new_files(&dir, &[(PLUGIN_FILE, &bytes, output::EXECUTABLE)]).map_err(
            |e| match e {
                output::OutputError::Exists(p) => PublisherError::Refused(format!(
                    "{} already exists: give --replace to install this build over it",
                    p.display()
                )),
                other => other.into(),
            },
        )?;
    }
    Ok(target)
}
