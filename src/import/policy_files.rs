//! The trust policy files in a notation config, as keyrite-import merges its statements into
//! them beside the site's own.

use std::fs;
use std::path::PathBuf;

use super::install::Plan;
use super::journal::NewFile;
use super::site::Target;
use super::trustpolicy::{self, POLICY_FILES};
use super::{ImportError, is_symlink, refused};

/// Plans `target`'s trust policy files: the lineage's statements `old_policy` replaced by
/// `new_policy`, the site's own statements kept, and a file's mode kept when it exists.
pub(super) fn plan_policy(
    plan: &mut Plan,
    target: &Target,
    old_policy: &[serde_json::Value],
    new_policy: &[serde_json::Value],
    mode: u32,
) -> Result<(), ImportError> {
    if new_policy.is_empty() && old_policy.is_empty() {
        return Ok(());
    }
    let paths: Vec<PathBuf> = POLICY_FILES.iter().map(|f| target.config.join(f)).collect();
    let mut existing = Vec::new();
    for path in &paths {
        if is_symlink(path) {
            return Err(refused(format!(
                "{} is a symbolic link: notation's trust policy must be a plain file",
                path.display()
            )));
        }
        existing.push(match fs::read(path) {
            Ok(b) => Some(b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(ImportError::Install(format!("{}: {e}", path.display()))),
        });
    }
    // With only one file present, the other is written with the same statements, so
    // notation v1 and v2 see one policy.
    let only = existing.iter().flatten().next().cloned();
    for (path, current) in paths.iter().zip(&existing) {
        let base = current.clone().or_else(|| only.clone());
        let merged = trustpolicy::merge(base.as_deref(), old_policy, new_policy)
            .map_err(|e| refused(format!("{}: {e}", path.display())))?;
        let Some(merged) = merged else {
            if current.is_some() {
                plan.removals.push(path.clone());
            }
            continue;
        };
        let file_mode = fs::metadata(path)
            .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o7777)
            .unwrap_or(mode);
        plan.files.push(NewFile {
            path: path.clone(),
            content: merged,
            mode: file_mode,
        });
        plan.policy_files.push(path.clone());
    }
    plan.mkdirs.push(target.config.clone());
    Ok(())
}
