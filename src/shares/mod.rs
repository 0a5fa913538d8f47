//! The Shamir backup of the root key: splitting, authenticated share records, their text and
//! card forms, sealing to custodians, verification without reconstruction, and recovery.

pub mod card;
pub mod record;
pub mod seal;
pub mod text;
