//! Behaviours of Go's standard library that notation inherits and that no Rust crate
//! reproduces: how its JSON decoder reads a trust policy or a CRL cache entry, how its PEM
//! decoder reads a certificate file, and what its X.509 parser refuses.

pub mod json;
pub mod pem;
pub mod x509;
