//! Records keyrite keeps on a token: small private data objects that say what a file on
//! removable media must hold (a ceremony transcript's head, a ledger's digest). Media leave the
//! room; the token does not, and writing to it takes the PIN. A record is the station's
//! memory of its own past that no one holding only the media can change.
//!
//! A write never modifies an object in place (tokens differ on whether CKA_VALUE of a data
//! object may change): it creates the next generation, then removes the older ones. An
//! interruption in between leaves two generations, and the newest is the record.

use cryptoki::object::{Attribute, AttributeType, ObjectClass, ObjectHandle};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Token, TokenError, ck};

/// CKA_APPLICATION of every record.
const APPLICATION: &[u8] = b"keyrite";
/// The largest record value read back.
const MAX_RECORD: usize = 64 * 1024;

impl Token {
    fn record_objects(&self, name: &str) -> Result<Vec<(u64, ObjectHandle, Vec<u8>)>, TokenError> {
        let found = self
            .session()
            .find_objects(&[
                Attribute::Class(ObjectClass::DATA),
                Attribute::Private(true),
                Attribute::Application(APPLICATION.to_vec()),
                Attribute::Label(record_label(name).into_bytes()),
            ])
            .map_err(ck("searching for keyrite's records"))?;
        let mut records = Vec::new();
        for obj in found {
            let value = self
                .session()
                .get_attributes(obj, &[AttributeType::Value])
                .map_err(ck("reading a keyrite record"))?
                .into_iter()
                .find_map(|a| match a {
                    Attribute::Value(v) => Some(v),
                    _ => None,
                })
                .unwrap_or_default();
            let bad = || TokenError::Encoding(format!("the token's record '{name}' is malformed"));
            if value.len() < 8 || value.len() > MAX_RECORD {
                return Err(bad());
            }
            let (generation, body) = value.split_at(8);
            let generation = u64::from_be_bytes(generation.try_into().map_err(|_| bad())?);
            records.push((generation, obj, body.to_vec()));
        }
        records.sort_by_key(|(g, _, _)| *g);
        Ok(records)
    }

    /// The newest value of the record `name`, if the token holds one. Needs a login.
    pub fn read_record(&self, name: &str) -> Result<Option<Vec<u8>>, TokenError> {
        Ok(self.record_objects(name)?.pop().map(|(_, _, v)| v))
    }

    /// Writes `value` as the record `name`: a private data object only a logged-in session
    /// reads or writes. Needs a login.
    pub fn write_record(&self, name: &str, value: &[u8]) -> Result<(), TokenError> {
        let old = self.record_objects(name)?;
        let generation = old.last().map_or(Some(0), |(g, _, _)| g.checked_add(1));
        let generation = generation.ok_or_else(|| {
            TokenError::Encoding(format!(
                "the token's record '{name}' has no next generation"
            ))
        })?;
        let mut stored = generation.to_be_bytes().to_vec();
        stored.extend_from_slice(value);
        self.session()
            .create_object(&[
                Attribute::Class(ObjectClass::DATA),
                Attribute::Token(true),
                Attribute::Private(true),
                Attribute::Application(APPLICATION.to_vec()),
                Attribute::Label(record_label(name).into_bytes()),
                Attribute::Value(stored),
            ])
            .map_err(ck("writing a keyrite record"))?;
        for (_, obj, _) in old {
            self.session()
                .destroy_object(obj)
                .map_err(ck("removing an older keyrite record"))?;
        }
        Ok(())
    }
}

impl Token {
    /// Removes every generation of the record `name`. Needs a login.
    pub fn delete_record(&self, name: &str) -> Result<(), TokenError> {
        for (_, obj, _) in self.record_objects(name)? {
            self.session()
                .destroy_object(obj)
                .map_err(ck("removing a keyrite record"))?;
        }
        Ok(())
    }
}

fn record_label(name: &str) -> String {
    format!("keyrite:{name}")
}

/// What a record says a file on the media holds: the facts of its last state written, and
/// while a write is under way, of the state being written. A file is written only between
/// `begin` and `commit`, so after any interruption it is in one of the two states.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Anchored<F> {
    /// The last state written in full.
    pub current: F,
    /// The state being written, until it is.
    pub pending: Option<F>,
}

impl<F: Serialize + DeserializeOwned + PartialEq + Clone> Anchored<F> {
    /// Reads the record `name` from the token; `None` when there is none.
    pub fn read(token: &Token, name: &str) -> Result<Option<Self>, TokenError> {
        token
            .read_record(name)?
            .map(|bytes| {
                serde_json::from_slice(&bytes).map_err(|_| {
                    TokenError::Encoding(format!("the token's record '{name}' is malformed"))
                })
            })
            .transpose()
    }

    /// Whether `facts` are those of a state the record allows: the current one, or the
    /// pending one (then the record is moved on to it).
    pub fn matches(&mut self, facts: &F) -> bool {
        if *facts == self.current {
            return true;
        }
        if self.pending.as_ref() == Some(facts) {
            self.current = facts.clone();
            self.pending = None;
            return true;
        }
        false
    }

    /// Records on `token` that the file is about to become `next`.
    pub fn begin(&mut self, token: &Token, name: &str, next: F) -> Result<(), TokenError> {
        self.pending = Some(next);
        self.write(token, name)
    }

    /// Records on `token` that the file is now what `begin` announced.
    pub fn commit(&mut self, token: &Token, name: &str) -> Result<(), TokenError> {
        if let Some(next) = self.pending.take() {
            self.current = next;
        }
        self.write(token, name)
    }

    /// Writes the record as it stands.
    pub fn write(&self, token: &Token, name: &str) -> Result<(), TokenError> {
        let bytes = serde_json::to_vec(self)
            .map_err(|e| TokenError::Encoding(format!("the record '{name}': {e}")))?;
        token.write_record(name, &bytes)
    }
}
