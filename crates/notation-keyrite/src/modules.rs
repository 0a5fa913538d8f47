//! Which PKCS#11 modules a key id may make the plugin load.
//!
//! A key id is data: notation passes it from `signingkeys.json`, which whoever can edit the
//! user's notation configuration can write. Its `module-path=` would have the plugin load any
//! shared object, so it is followed only to a module the plugin's own environment names
//! (`KEYRITE_PKCS11_MODULE`), or to one directly inside a system module directory or a
//! directory `KEYRITE_PKCS11_MODULE_DIRS` lists. The path is resolved (links included) before
//! the check, and the module is loaded by the resolved path.

use std::path::{Path, PathBuf};

use keyrite::keys::token::{MODULE_ENV, Pkcs11Uri};

use crate::protocol::{ErrorCode, PluginError};

/// Environment variable listing more directories (separated by `:`) whose modules a key id's
/// `module-path` may name.
pub const MODULE_DIRS_ENV: &str = "KEYRITE_PKCS11_MODULE_DIRS";

/// Where distributions install PKCS#11 modules (p11-kit's module directories among them).
fn system_dirs() -> Vec<PathBuf> {
    let triple = format!("/usr/lib/{}-linux-gnu", std::env::consts::ARCH);
    let mut dirs: Vec<PathBuf> = [
        "/usr/lib/pkcs11",
        "/usr/lib64/pkcs11",
        "/usr/lib/softhsm",
        "/usr/lib64/softhsm",
    ]
    .iter()
    .map(PathBuf::from)
    .collect();
    dirs.push(Path::new(&triple).join("pkcs11"));
    dirs.push(Path::new(&triple).join("softhsm"));
    dirs
}

/// Modules that are never loaded for a key id: they load another module and log every call
/// made to it, PINs included.
const REFUSED: &[&str] = &["pkcs11-spy.so", "libpkcs11-spy.so"];

/// Checks the `module-path` of `uri` against the rule and replaces it with the resolved path;
/// a URI without one is left as it is (the module then comes from `KEYRITE_PKCS11_MODULE`).
pub fn confine(uri: &mut Pkcs11Uri) -> Result<(), PluginError> {
    let Some(given) = uri.module_path.clone() else {
        return Ok(());
    };
    let refused = |why: &str| {
        PluginError::new(
            ErrorCode::Validation,
            format!(
                "keyId: module-path {} {why}: a key id may name only a module in a system \
                 module directory ({}) or a directory {MODULE_DIRS_ENV} lists, or the module \
                 {MODULE_ENV} names; set one of these in the plugin's environment, or remove \
                 module-path from the key id and set {MODULE_ENV}",
                given.display(),
                system_dirs()
                    .iter()
                    .map(|d| d.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
    };
    if !given.is_absolute() {
        return Err(refused("is not an absolute path"));
    }
    let resolved = given
        .canonicalize()
        .map_err(|e| refused(&format!("cannot be resolved ({e})")))?;
    let name = resolved
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if REFUSED.contains(&name.as_str()) {
        return Err(refused(
            "is a module that logs every call, PINs included, and is never loaded for a key id",
        ));
    }
    let named_by_env = std::env::var_os(MODULE_ENV)
        .filter(|v| !v.is_empty())
        .and_then(|m| Path::new(&m).canonicalize().ok())
        .is_some_and(|m| m == resolved);
    let extra: Vec<PathBuf> = std::env::var_os(MODULE_DIRS_ENV)
        .map(|v| std::env::split_paths(&v).collect())
        .unwrap_or_default();
    let in_allowed_dir = resolved.parent().is_some_and(|parent| {
        system_dirs()
            .into_iter()
            .chain(extra.into_iter().filter(|d| d.is_absolute()))
            .filter_map(|d| d.canonicalize().ok())
            .any(|d| d == parent)
    });
    if !named_by_env && !in_allowed_dir {
        return Err(refused(&format!(
            "(resolved: {}) is outside the directories a key id may load modules from",
            resolved.display()
        )));
    }
    uri.module_path = Some(resolved);
    Ok(())
}
