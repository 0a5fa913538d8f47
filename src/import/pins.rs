//! Pins: the roots a site trusts to open a lineage on first contact.

use serde_json::json;

use super::{ImportError, Importer};
use crate::fingerprint::Fingerprint;

impl Importer {
    /// Pins a root fingerprint: bundles signed by it may start a lineage here.
    pub fn pin(&self, fp: Fingerprint) -> Result<bool, ImportError> {
        if self.site.config_pins.is_some() {
            return Err(ImportError::Site(
                "this site's pins come from its site config (--config): add the fingerprint there"
                    .into(),
            ));
        }
        let added = self.state.add_pin(fp)?;
        if added {
            self.log(json!({ "event": "pin", "fingerprint": fp.hex() }))?;
        }
        Ok(added)
    }

    pub(super) fn pins(&self) -> Result<Vec<Fingerprint>, ImportError> {
        match &self.site.config_pins {
            Some(p) => Ok(p.clone()),
            None => self.state.pins(),
        }
    }
}
