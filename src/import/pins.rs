//! Pins: what a site decided for each lineage before its first bundle arrived. A pin names
//! the lineage, the one root that may open it on first contact, the registries the lineage
//! may speak for, and what happens when its trust bundle expires.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::state::Installed;
use super::{ImportError, Importer};
use crate::fingerprint::Fingerprint;
use crate::notation::scope;

/// What a site does when a lineage's trust bundle expires.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnExpiry {
    /// `keyrite-import enforce` turns the lineage's statements into refusals.
    #[default]
    Enforce,
    /// Only `status` and `check` say so.
    Warn,
}

/// One lineage as the site pinned it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pin {
    /// The lineage: the SHA-256 (hex) of its first root's certificate.
    pub lineage: String,
    /// The root that may open the lineage on first contact: the SHA-256 (hex) of its
    /// certificate, read at the lineage's latest ceremony.
    pub root: String,
    /// The registries the lineage may speak for: exact repositories, prefixes ending in `/`,
    /// or `*`.
    pub scopes: Vec<String>,
    /// What happens when its trust bundle expires.
    #[serde(default)]
    pub on_expiry: OnExpiry,
}

/// Checks a scope grant: `*`, a repository notation accepts, or a prefix ending in `/`
/// (a registry, or a repository path) under which every repository is granted.
pub fn check_grant(grant: &str) -> Result<(), String> {
    if grant == "*" {
        return Ok(());
    }
    // notation compares scopes as strings: a registry written in capitals would be another
    // registry to the overlap check while the network takes it for the same one.
    if grant.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(format!(
            "--scope {grant}: write registries and repositories in lower case, as references name them"
        ));
    }
    if let Some(prefix) = grant.strip_suffix('/') {
        let as_repository = if prefix.contains('/') {
            prefix.to_owned()
        } else {
            format!("{prefix}/x")
        };
        return if scope::valid(&as_repository) {
            Ok(())
        } else {
            Err(format!(
                "--scope {grant} is not a registry or repository prefix (registry.example/ or registry.example/team/)"
            ))
        };
    }
    scope::check(grant)
        .map_err(|e| format!("--scope {grant}: {e}; a prefix ends in '/' (registry.example/team/)"))
}

/// Whether `grant` covers the statement scope `scope`: the same repository, one under a
/// prefix, or anything under `*` (a statement's own `*` only under `*`).
pub fn covers(grant: &str, scope: &str) -> bool {
    grant == "*"
        || grant == scope
        || (grant.ends_with('/') && scope != "*" && scope.starts_with(grant))
}

/// Whether two grants share a repository.
pub fn overlap(a: &str, b: &str) -> bool {
    a == "*"
        || b == "*"
        || a == b
        || (a.ends_with('/') && b.starts_with(a))
        || (b.ends_with('/') && a.starts_with(b))
}

impl Pin {
    /// What the pin binds, as `pin`, `pins` and `status` show it: lineage, root (hex and
    /// words), scopes and the expiry rule, one per line.
    pub fn describe(&self) -> Vec<String> {
        let mut lines = vec![format!("lineage   {}", self.lineage)];
        lines.push(format!("root      {}", self.root));
        if let Ok(fp) = Fingerprint::parse(&self.root) {
            lines.extend(fp.words_block().lines().map(|l| format!("          {l}")));
        }
        lines.push(format!("scopes    {}", self.scopes.join(", ")));
        lines.push(format!(
            "on expiry {}",
            match self.on_expiry {
                OnExpiry::Enforce => {
                    "enforce (keyrite-import enforce refuses the lineage's signatures)"
                }
                OnExpiry::Warn => "warn",
            }
        ));
        lines
    }

    /// The scope of `scopes` (a statement's) that this pin does not grant, if any.
    pub fn ungranted<'a>(&self, scopes: &'a [String]) -> Option<&'a String> {
        scopes
            .iter()
            .find(|s| !self.scopes.iter().any(|g| covers(g, s)))
    }

    /// The first statement installed for this pin's lineage, and its scope, that the pin
    /// does not grant.
    pub fn ungranted_installed(&self, installed: &Installed) -> Option<(String, String)> {
        let trust = installed.lineages.get(&self.lineage)?.trust.as_ref()?;
        trust.policy.iter().find_map(|s| {
            let scopes: Vec<String> = s
                .get("registryScopes")
                .and_then(|v| serde_json::from_value(v.clone()).ok())
                .unwrap_or_default();
            let name = s.get("name").and_then(|n| n.as_str()).unwrap_or_default();
            self.ungranted(&scopes)
                .map(|scope| (name.to_owned(), scope.clone()))
        })
    }

    /// Refuses a pin whose grants are malformed, or overlap a grant of another lineage.
    pub fn check(&self, others: &[Pin]) -> Result<(), String> {
        for f in [&self.lineage, &self.root] {
            Fingerprint::parse(f).map_err(|e| format!("'{f}': {e}"))?;
        }
        if self.scopes.is_empty() {
            return Err(
                "a pin grants the registries its lineage may speak for: give --scope registry.example/team/ (a prefix), an exact repository, or '*'"
                    .into(),
            );
        }
        for grant in &self.scopes {
            check_grant(grant)?;
        }
        for other in others.iter().filter(|o| o.lineage != self.lineage) {
            if other.root == self.root {
                return Err(format!(
                    "root {} is already pinned for lineage {}: a root speaks for one lineage",
                    self.root, other.lineage
                ));
            }
            for g in &self.scopes {
                if let Some(o) = other.scopes.iter().find(|o| overlap(g, o)) {
                    return Err(format!(
                        "--scope {g} overlaps {o}, granted to lineage {}: a registry is granted to one lineage",
                        other.lineage
                    ));
                }
            }
        }
        Ok(())
    }
}

/// What `pin` did.
pub enum Pinned {
    /// A new pin.
    Added,
    /// The lineage's pin was replaced; the old one.
    Replaced(Pin),
    /// The same pin was there.
    Unchanged,
}

impl Importer {
    /// Pins `pin`: replaces the lineage's pin if there is one.
    pub fn pin(&self, pin: Pin) -> Result<Pinned, ImportError> {
        if self.site.config_pins.is_some() {
            return Err(ImportError::Site(
                "this site's pins come from its site config (--config): change them there".into(),
            ));
        }
        let mut pins = self.state.pins()?;
        pin.check(&pins).map_err(ImportError::Input)?;
        let installed = self.state.installed(&self.site.targets)?;
        if let Some((name, scope)) = pin.ungranted_installed(&installed) {
            return Err(ImportError::Input(format!(
                "lineage {}'s installed statement '{name}' speaks for {scope}, which this pin would not grant: keep a --scope that covers it, or install a trust bundle without it first",
                pin.lineage
            )));
        }
        let done = match pins.iter().position(|p| p.lineage == pin.lineage) {
            Some(i) if pins[i] == pin => return Ok(Pinned::Unchanged),
            Some(i) => Pinned::Replaced(std::mem::replace(&mut pins[i], pin.clone())),
            None => {
                pins.push(pin.clone());
                Pinned::Added
            }
        };
        self.state.write_pins(&pins)?;
        self.state.check_serves(&self.site.targets, true)?;
        self.log(json!({
            "event": "pin", "lineage": pin.lineage, "root": pin.root,
            "scopes": pin.scopes, "on_expiry": pin.on_expiry,
        }))?;
        Ok(done)
    }

    /// Removes the pin of a lineage (named by its lineage or its pinned root). A lineage with
    /// bundles installed under the pin is in use: refused unless `force`, and then what is
    /// installed stays until a later bundle or the site removes it. Recorded in the log.
    pub fn unpin(&self, fingerprint: &Fingerprint, force: bool) -> Result<Pin, ImportError> {
        if self.site.config_pins.is_some() {
            return Err(ImportError::Site(
                "this site's pins come from its site config (--config): change them there".into(),
            ));
        }
        let mut pins = self.state.pins()?;
        let hex = fingerprint.hex();
        let i = pins
            .iter()
            .position(|p| p.lineage == hex || p.root == hex)
            .ok_or_else(|| {
                ImportError::Input(format!(
                    "{hex} is not pinned here (pinned: {}): `keyrite-import pins` lists the pins",
                    if pins.is_empty() {
                        "none".to_owned()
                    } else {
                        pins.iter()
                            .map(|p| p.lineage.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    }
                ))
            })?;
        let installed = self.state.installed(&self.site.targets)?;
        let in_use = installed
            .lineages
            .get(&pins[i].lineage)
            .is_some_and(|l| l.trust.is_some() || l.revocation.is_some());
        if in_use && !force {
            return Err(ImportError::Input(format!(
                "lineage {} has bundles installed under this pin, which notation uses: unpinning \
                 it leaves them in place and refuses its later bundles. Pass --force if that is \
                 what the site decided",
                pins[i].lineage
            )));
        }
        let removed = pins.remove(i);
        self.state.write_pins(&pins)?;
        self.log(json!({
            "event": "unpin", "lineage": removed.lineage, "root": removed.root,
            "scopes": removed.scopes, "forced": in_use,
        }))?;
        Ok(removed)
    }

    /// The site's pins: from its site config, else from the state.
    pub fn pins(&self) -> Result<Vec<Pin>, ImportError> {
        match &self.site.config_pins {
            Some(p) => Ok(p.clone()),
            None => self.state.pins(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_cover_and_overlap() {
        assert!(covers(
            "registry.example/team/",
            "registry.example/team/app"
        ));
        assert!(!covers(
            "registry.example/team/",
            "registry.example/teams/app"
        ));
        assert!(!covers("registry.example/team/", "*"));
        assert!(covers("*", "*"));
        assert!(covers("registry.example/app", "registry.example/app"));
        assert!(!covers("registry.example/app", "registry.example/app/sub"));
        assert!(overlap("registry.example/", "registry.example/team/app"));
        assert!(!overlap("registry.example/a/", "registry.example/b/"));
        for ok in [
            "*",
            "registry.example/",
            "registry.example:5000/team/",
            "r.example/app",
        ] {
            assert!(check_grant(ok).is_ok(), "{ok}");
        }
        for bad in [
            "registry.example/*",
            "registry.example/App/",
            "/",
            "r.example/a:tag",
        ] {
            assert!(check_grant(bad).is_err(), "{bad}");
        }
    }
}
