//! PKCS#11 URIs (RFC 7512): which module, which token, which object, where the PIN comes from.
//!
//! Written here rather than taken from a crate: no maintained Rust crate parses RFC 7512, and
//! the grammar is small. Unknown attributes are refused rather than ignored, so a typo never
//! silently widens a selection.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use zeroize::Zeroizing;

/// A parsed PKCS#11 URI.
///
/// `Debug` and `Display` never show a `pin-value`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Pkcs11Uri {
    /// `token`: the token label.
    pub token: Option<String>,
    /// `serial`: the token serial number.
    pub serial: Option<String>,
    /// `manufacturer`: the token manufacturer.
    pub manufacturer: Option<String>,
    /// `model`: the token model.
    pub model: Option<String>,
    /// `slot-id`: the slot number (discouraged: slot numbers are not stable).
    pub slot_id: Option<u64>,
    /// `object`: the object label.
    pub object: Option<String>,
    /// `id`: the object's CKA_ID bytes.
    pub id: Option<Vec<u8>>,
    /// `type`: the object class.
    pub object_type: Option<ObjectType>,
    /// `module-path`: the PKCS#11 module to load.
    pub module_path: Option<PathBuf>,
    /// `pin-source`: where to read the PIN from (a `file:` URI or a path).
    pub pin_source: Option<String>,
    /// `pin-value`: the PIN itself (rehearsals only: it ends up in argv and shell history).
    pub pin_value: Option<Zeroizing<String>>,
}

/// The `type` attribute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObjectType {
    /// A private key.
    Private,
    /// A public key.
    Public,
    /// A certificate.
    Cert,
    /// A secret key.
    SecretKey,
    /// A data object.
    Data,
}

impl ObjectType {
    fn as_str(self) -> &'static str {
        match self {
            Self::Private => "private",
            Self::Public => "public",
            Self::Cert => "cert",
            Self::SecretKey => "secret-key",
            Self::Data => "data",
        }
    }
}

/// A PKCS#11 URI that does not parse.
#[derive(Debug, thiserror::Error)]
#[error(
    "bad PKCS#11 URI: {reason} (expected e.g. pkcs11:token=LABEL;object=KEY?pin-source=file:/path/to/pin)"
)]
pub struct UriError {
    /// What is wrong.
    pub reason: String,
}

fn err(reason: impl Into<String>) -> UriError {
    UriError {
        reason: reason.into(),
    }
}

fn decode(name: &str, value: &str) -> Result<String, UriError> {
    let bytes = decode_bytes(name, value)?;
    String::from_utf8(bytes).map_err(|_| err(format!("'{name}' is not valid UTF-8")))
}

fn decode_bytes(name: &str, value: &str) -> Result<Vec<u8>, UriError> {
    // percent_decode_str passes a malformed escape through; check first so "%zz" is refused.
    let raw = value.as_bytes();
    for (i, b) in raw.iter().enumerate() {
        if *b == b'%'
            && !(raw.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && raw.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
        {
            return Err(err(format!("'{name}' has a malformed %-escape")));
        }
    }
    Ok(percent_decode_str(value).collect())
}

fn set_once<T>(slot: &mut Option<T>, name: &str, value: T) -> Result<(), UriError> {
    if slot.is_some() {
        return Err(err(format!("attribute '{name}' appears twice")));
    }
    *slot = Some(value);
    Ok(())
}

impl FromStr for Pkcs11Uri {
    type Err = UriError;

    fn from_str(s: &str) -> Result<Self, UriError> {
        let rest = s
            .strip_prefix("pkcs11:")
            .ok_or_else(|| err("it must start with 'pkcs11:'"))?;
        let (path, query) = match rest.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (rest, None),
        };
        let mut uri = Pkcs11Uri::default();
        for attr in path.split(';').filter(|a| !a.is_empty()) {
            let (name, value) = attr
                .split_once('=')
                .ok_or_else(|| err(format!("'{attr}' is not NAME=VALUE")))?;
            match name {
                "token" => set_once(&mut uri.token, name, decode(name, value)?)?,
                "serial" => set_once(&mut uri.serial, name, decode(name, value)?)?,
                "manufacturer" => set_once(&mut uri.manufacturer, name, decode(name, value)?)?,
                "model" => set_once(&mut uri.model, name, decode(name, value)?)?,
                "object" => set_once(&mut uri.object, name, decode(name, value)?)?,
                "id" => set_once(&mut uri.id, name, decode_bytes(name, value)?)?,
                "slot-id" => {
                    let id = decode(name, value)?
                        .parse()
                        .map_err(|_| err("'slot-id' must be a decimal number"))?;
                    set_once(&mut uri.slot_id, name, id)?
                }
                "type" => {
                    let t = match decode(name, value)?.as_str() {
                        "private" => ObjectType::Private,
                        "public" => ObjectType::Public,
                        "cert" => ObjectType::Cert,
                        "secret-key" => ObjectType::SecretKey,
                        "data" => ObjectType::Data,
                        other => return Err(err(format!("unknown object type '{other}'"))),
                    };
                    set_once(&mut uri.object_type, name, t)?
                }
                "library-manufacturer"
                | "library-description"
                | "library-version"
                | "slot-description"
                | "slot-manufacturer" => {
                    return Err(err(format!(
                        "'{name}' is not supported: select the token by token=, serial=, \
                         manufacturer= or model=, and the module by module-path="
                    )));
                }
                other => return Err(err(format!("unknown path attribute '{other}'"))),
            }
        }
        for attr in query.into_iter().flat_map(|q| q.split('&')) {
            if attr.is_empty() {
                continue;
            }
            // Never echo a query segment: it may be part of a PIN.
            let (name, value) = attr.split_once('=').ok_or_else(|| {
                err("a query attribute is not NAME=VALUE (write '&' inside a value as %26)")
            })?;
            match name {
                "pin-source" => set_once(&mut uri.pin_source, name, decode(name, value)?)?,
                "pin-value" => set_once(
                    &mut uri.pin_value,
                    name,
                    Zeroizing::new(decode(name, value)?),
                )?,
                "module-path" => set_once(
                    &mut uri.module_path,
                    name,
                    PathBuf::from(decode(name, value)?),
                )?,
                "module-name" => {
                    return Err(err(
                        "'module-name' is not supported: give the module's full path with module-path=",
                    ));
                }
                // Not even its name: in `pin-value=ab&cd=ef` the "name" `cd` is part of a PIN.
                _ => {
                    return Err(err(
                        "unknown query attribute: keyrite reads pin-source, pin-value and \
                         module-path (write '&' inside a value as %26)",
                    ));
                }
            }
        }
        if uri.pin_source.is_some() && uri.pin_value.is_some() {
            return Err(err("give either pin-source or pin-value, not both"));
        }
        Ok(uri)
    }
}

/// Characters left unescaped in path attribute values (RFC 7512 `pk11-unreserved`).
const PATH_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');
/// Characters escaped in query values: query values may also carry `/` and `:` unescaped
/// (RFC 7512 `pk11-qchar`), so file paths stay readable.
pub const QUERY_VALUE: &AsciiSet = &PATH_VALUE.remove(b'/').remove(b':');

impl Pkcs11Uri {
    /// The URI that names one object on the token this URI selects, without any PIN.
    pub fn for_object(&self, label: &str, id: &[u8]) -> Pkcs11Uri {
        Pkcs11Uri {
            object: Some(label.to_owned()),
            id: Some(id.to_vec()),
            object_type: None,
            pin_value: None,
            ..self.clone()
        }
    }
}

impl fmt::Display for Pkcs11Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let enc = |v: &str| utf8_percent_encode(v, PATH_VALUE).to_string();
        let enc_query = |v: &str| utf8_percent_encode(v, QUERY_VALUE).to_string();
        let mut path = Vec::new();
        for (name, value) in [
            ("token", &self.token),
            ("serial", &self.serial),
            ("manufacturer", &self.manufacturer),
            ("model", &self.model),
            ("object", &self.object),
        ] {
            if let Some(v) = value {
                path.push(format!("{name}={}", enc(v)));
            }
        }
        if let Some(id) = &self.id {
            let hex: String = id.iter().map(|b| format!("%{b:02x}")).collect();
            path.push(format!("id={hex}"));
        }
        if let Some(t) = self.object_type {
            path.push(format!("type={}", t.as_str()));
        }
        if let Some(s) = self.slot_id {
            path.push(format!("slot-id={s}"));
        }
        write!(f, "pkcs11:{}", path.join(";"))?;
        let mut query = Vec::new();
        if let Some(m) = &self.module_path {
            query.push(format!("module-path={}", enc_query(&m.to_string_lossy())));
        }
        if let Some(p) = &self.pin_source {
            query.push(format!("pin-source={}", enc_query(p)));
        }
        if !query.is_empty() {
            write!(f, "?{}", query.join("&"))?;
        }
        Ok(())
    }
}

impl fmt::Debug for Pkcs11Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pkcs11Uri({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_path_and_query_attributes() {
        let uri: Pkcs11Uri =
            "pkcs11:token=Root%20CA;object=root;id=%01%a2?pin-source=file:/run/pin&module-path=/usr/lib/x.so"
                .parse()
                .unwrap();
        assert_eq!(uri.token.as_deref(), Some("Root CA"));
        assert_eq!(uri.object.as_deref(), Some("root"));
        assert_eq!(uri.id.as_deref(), Some(&[0x01, 0xa2][..]));
        assert_eq!(uri.pin_source.as_deref(), Some("file:/run/pin"));
        assert_eq!(uri.module_path, Some(PathBuf::from("/usr/lib/x.so")));
    }

    #[test]
    fn display_round_trips_and_never_shows_the_pin() {
        let uri: Pkcs11Uri = "pkcs11:token=a%3Bb;id=%ff?pin-value=1234".parse().unwrap();
        let shown = uri.to_string();
        assert!(!shown.contains("1234"), "{shown}");
        assert!(!format!("{uri:?}").contains("1234"));
        let back: Pkcs11Uri = shown.parse().unwrap();
        assert_eq!(back.token.as_deref(), Some("a;b"));
        assert_eq!(back.id.as_deref(), Some(&[0xff][..]));
    }

    #[test]
    fn refuses_bad_syntax() {
        for (bad, why) in [
            ("token=x", "must start with 'pkcs11:'"),
            ("pkcs11:tokn=x", "unknown path attribute 'tokn'"),
            ("pkcs11:token", "is not NAME=VALUE"),
            ("pkcs11:token=a;token=b", "appears twice"),
            ("pkcs11:token=a%zz", "malformed %-escape"),
            ("pkcs11:token=a?pin-value=1&pin-source=/p", "not both"),
            ("pkcs11:type=key", "unknown object type"),
            ("pkcs11:token=a?pinsource=/p", "unknown query attribute"),
            (
                "pkcs11:token=a?pin-value=12&34",
                "a query attribute is not NAME=VALUE",
            ),
            (
                "pkcs11:slot-description=x",
                "'slot-description' is not supported",
            ),
        ] {
            let e = bad.parse::<Pkcs11Uri>().unwrap_err().to_string();
            assert!(e.contains(why), "{bad}: {e}");
            assert!(!e.contains("34"), "a query value was echoed: {e}");
        }
    }
}
