//! The trust policy files in a notation config, as keyrite-import merges its statements into
//! them beside the site's own.

use std::fs;
use std::path::Path;

use crate::notation::MAX_POLICY_BYTES;
use crate::sys::input::Links;

use super::install::Plan;
use super::journal::NewFile;
use super::site::Target;
use super::trustpolicy::{self, POLICY_FILES};
use super::{ImportError, is_symlink, refused};

/// Plans `target`'s trust policy files: the lineage's statements `old_policy` replaced by
/// `new_policy` in each policy file that exists, the site's own statements kept, and each
/// file's mode kept. When neither exists, only `trustpolicy.json` is created: notation v1.3
/// reads only that file and the next major falls back to it, whereas a `trustpolicy.oci.json`
/// written beside it would hide every later edit of `trustpolicy.json` from the next major.
pub(super) fn plan_policy(
    plan: &mut Plan,
    target: &Target,
    old_policy: &[serde_json::Value],
    new_policy: &[serde_json::Value],
    mode: u32,
    repair: bool,
) -> Result<(), ImportError> {
    if new_policy.is_empty() && old_policy.is_empty() {
        return Ok(());
    }
    let mut existing = Vec::new();
    for name in POLICY_FILES {
        let path = target.config.join(name);
        if let Some(bytes) = read_policy(&path)? {
            existing.push((path, Some(bytes)));
        }
    }
    if existing.is_empty() {
        existing.push((target.config.join(POLICY_FILES[0]), None));
    }
    for (path, current) in existing {
        let merged = trustpolicy::merge_with(current.as_deref(), old_policy, new_policy, repair)
            .map_err(|e| refused(format!("{}: {e}", path.display())))?;
        let Some(merged) = merged else {
            if current.is_some() {
                plan.removals.push(path);
            }
            continue;
        };
        let file_mode = fs::metadata(&path)
            .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o7777)
            .unwrap_or(mode);
        plan.files.push(NewFile {
            path: path.clone(),
            content: merged,
            mode: file_mode,
        });
        plan.policy_files.push(path);
    }
    plan.mkdirs.push(target.config.clone());
    Ok(())
}

/// A trust policy file's content, `None` when it does not exist; refused when it is a link or
/// larger than notation would read.
fn read_policy(path: &Path) -> Result<Option<Vec<u8>>, ImportError> {
    if is_symlink(path) {
        return Err(refused(format!(
            "{} is a symbolic link: notation's trust policy must be a plain file",
            path.display()
        )));
    }
    crate::sys::input::read_if_present(path, MAX_POLICY_BYTES, Links::Refuse)
        .map_err(|e| refused(e.to_string()))
}
