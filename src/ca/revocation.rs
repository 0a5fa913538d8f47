//! A revocation as the officers request it: `SERIAL[:REASON[:INVALIDITY-DATE]]`.

use std::str::FromStr;

use der::DateTime;

use crate::pki::crl;

/// A `--revoke SERIAL[:REASON[:INVALIDITY-DATE]]` request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Revocation {
    /// Serial, lowercase hex.
    pub serial: String,
    /// The reason's RFC 5280 name.
    pub reason: String,
    /// The invalidity date, when given.
    pub invalidity_date: Option<DateTime>,
}

/// A `--revoke` value that does not parse.
#[derive(Debug, thiserror::Error)]
#[error("bad --revoke '{value}': {reason}")]
pub struct RevocationError {
    /// The value.
    pub value: String,
    /// What is wrong.
    pub reason: String,
}

impl FromStr for Revocation {
    type Err = RevocationError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let fail = |reason: String| RevocationError {
            value: value.to_owned(),
            reason,
        };
        let mut parts = value.splitn(3, ':');
        let serial = parts.next().unwrap_or_default().to_ascii_lowercase();
        if serial.is_empty() || !serial.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(fail(
                "the serial must be hex, as the ledger and `openssl x509 -serial` show it".into(),
            ));
        }
        // The ledger's form: the DER integer's content without leading zero octets.
        let serial = serial.trim_start_matches('0');
        let serial = if serial.len() % 2 == 1 {
            format!("0{serial}")
        } else {
            serial.to_owned()
        };
        let reason = match parts.next() {
            None | Some("") => "unspecified".to_owned(),
            Some(r) => crl::REASONS
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(r))
                .map(|(name, _)| (*name).to_owned())
                .ok_or_else(|| {
                    fail(format!(
                        "unknown reason '{r}': use one of {}",
                        crl::REASONS
                            .iter()
                            .map(|(n, _)| *n)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                })?,
        };
        let invalidity_date = parts
            .next()
            .map(|d| {
                let full = if d.len() == 10 {
                    format!("{d}T00:00:00Z")
                } else {
                    d.to_owned()
                };
                DateTime::from_str(&full).map_err(|_| {
                    fail(format!(
                        "invalidity date '{d}' is not YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ"
                    ))
                })
            })
            .transpose()?;
        Ok(Self {
            serial,
            reason,
            invalidity_date,
        })
    }
}
