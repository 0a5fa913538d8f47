//! What Go's `crypto/x509` (Go 1.27, which notation v1.3.2 is built with) refuses when it
//! parses a certificate or a CRL, beyond what x509-cert already refuses, and how it reads the
//! strings of a distinguished name. A certificate Go cannot parse fails the trust store that
//! holds it; a CRL it cannot parse leaves a revocation status unknown.
//!
//! Checked here, for a certificate (`parseCertificate`):
//! - a negative serial number (refused since Go 1.23);
//! - the signature algorithm inside the signed part differing from the one outside it;
//! - issuer and subject attribute strings: PrintableString of its character set (plus `&`
//!   and `*`, which Go tolerates), UTF8String that is UTF-8, IA5String that is ASCII,
//!   NumericString of digits and spaces, BMPString of even length without surrogates or
//!   noncharacters;
//! - the public key: RSA with NULL parameters and a positive modulus and exponent that fits
//!   in 64 bits, EC on P-224, P-256, P-384 or P-521 with an uncompressed point on the curve,
//!   Ed25519 of 32 bytes without parameters;
//! - extensions: none twice, a subject key identifier or authority information access not
//!   marked critical, and the shape Go reads of basicConstraints, keyUsage, extKeyUsage and
//!   CRL distribution points (a distribution point named relative to the CRL issuer is
//!   refused).
//!
//! For a CRL (`ParseRevocationList`): version 2 present, the two signature algorithms equal,
//! the issuer's strings as above, reason codes that are ENUMERATED, a CRL number that is an
//! INTEGER; bytes after the CRL are ignored, as Go ignores them.
//!
//! Read with a small DER walker of its own: the checks need the raw encoding (the bytes of
//! both algorithm identifiers, a string's tag), which x509-cert's typed decoding hides.

use std::cmp::Ordering;

use crate::keys::{KeyAlgorithm, PublicKey};

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const INTEGER: u8 = 0x02;
const BIT_STRING: u8 = 0x03;
const OCTET_STRING: u8 = 0x04;
const NULL: u8 = 0x05;
const OID: u8 = 0x06;
const ENUMERATED: u8 = 0x0a;
const BOOLEAN: u8 = 0x01;

/// The universal tags of the strings Go reads in a name: UTF8String, NumericString,
/// PrintableString, T61String, IA5String, BMPString.
pub const STRING_TAGS: [u8; 6] = [0x0c, 0x12, 0x13, 0x14, 0x16, 0x1e];

/// One DER element: its identifier octet, its contents and its whole encoding.
#[derive(Clone, Copy)]
pub struct Tlv<'a> {
    /// The identifier octet.
    pub tag: u8,
    /// The contents.
    pub value: &'a [u8],
    /// Identifier, length and contents.
    pub raw: &'a [u8],
}

/// Reads the next element of `input` (definite DER lengths, low tag numbers).
pub fn read_any<'a>(input: &mut &'a [u8]) -> Result<Tlv<'a>, String> {
    let bad = || "malformed DER".to_owned();
    let data = *input;
    let (&tag, rest) = data.split_first().ok_or_else(bad)?;
    if tag & 0x1f == 0x1f {
        return Err(bad());
    }
    let (&first, rest) = rest.split_first().ok_or_else(bad)?;
    let (len, header) = if first < 0x80 {
        (usize::from(first), 2)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n || rest[0] == 0 {
            return Err(bad());
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        if len < 0x80 {
            return Err(bad());
        }
        (len, 2 + n)
    };
    let end = header
        .checked_add(len)
        .filter(|&e| e <= data.len())
        .ok_or_else(bad)?;
    *input = &data[end..];
    Ok(Tlv {
        tag,
        value: &data[header..end],
        raw: &data[..end],
    })
}

/// Reads the next element, which must carry `tag`.
fn read<'a>(input: &mut &'a [u8], tag: u8, what: &str) -> Result<Tlv<'a>, String> {
    match read_any(input) {
        Ok(t) if t.tag == tag => Ok(t),
        _ => Err(format!("malformed {what}")),
    }
}

/// Reads the next element if it carries `tag`.
fn read_optional<'a>(input: &mut &'a [u8], tag: u8, what: &str) -> Result<Option<Tlv<'a>>, String> {
    if input.first() == Some(&tag) {
        read(input, tag, what).map(Some)
    } else {
        Ok(None)
    }
}

/// The contents of an INTEGER as Go's `cryptobyte` reads one: not empty, minimally encoded.
fn integer<'a>(input: &mut &'a [u8], tag: u8, what: &str) -> Result<&'a [u8], String> {
    let v = read(input, tag, what)?.value;
    let minimal = match v {
        [] => false,
        [0x00, next, ..] => next & 0x80 != 0,
        [0xff, next, ..] => next & 0x80 == 0,
        _ => true,
    };
    if minimal {
        Ok(v)
    } else {
        Err(format!("malformed {what}"))
    }
}

/// The INTEGER encoded in `der` (its contents), as Go reads a CRL number or a delta CRL
/// indicator.
pub fn integer_in(der: &[u8]) -> Option<&[u8]> {
    let mut input = der;
    integer(&mut input, INTEGER, "integer").ok()
}

/// Orders two INTEGER contents (two's complement, minimal) by value.
pub fn cmp_integers(a: &[u8], b: &[u8]) -> Ordering {
    let negative = |x: &[u8]| x.first().is_some_and(|f| f & 0x80 != 0);
    match (negative(a), negative(b)) {
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        // The same sign: a longer encoding is further from zero.
        (n, _) => {
            let by_len = a.len().cmp(&b.len());
            let by_len = if n { by_len.reverse() } else { by_len };
            by_len.then_with(|| a.cmp(b))
        }
    }
}

/// Go's `isPrintable`: the PrintableString set, with `*` and `&` tolerated.
fn is_printable(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b" '()+,-./:=?*&".contains(&b)
}

/// A name attribute's string as Go's `parseASN1String` reads it; `Err` where Go refuses the
/// certificate.
pub fn name_string(tag: u8, value: &[u8]) -> Result<String, String> {
    match tag {
        // T61String: read as Latin-1.
        0x14 => Ok(value.iter().map(|&b| char::from(b)).collect()),
        0x13 if value.iter().all(|&b| is_printable(b)) => Ok(ascii(value)),
        0x0c => String::from_utf8(value.to_vec()).map_err(|_| "invalid UTF8String".to_owned()),
        0x16 if value.is_ascii() => Ok(ascii(value)),
        0x12 if value.iter().all(|&b| b.is_ascii_digit() || b == b' ') => Ok(ascii(value)),
        0x1e => bmp_string(value),
        0x13 => Err("invalid PrintableString".into()),
        0x16 => Err("invalid IA5String".into()),
        0x12 => Err("invalid NumericString".into()),
        other => Err(format!("unsupported string type {other:#04x}")),
    }
}

fn ascii(value: &[u8]) -> String {
    value.iter().map(|&b| char::from(b)).collect()
}

/// A BMPString: UCS-2 without surrogates or noncharacters, a trailing NUL dropped.
fn bmp_string(value: &[u8]) -> Result<String, String> {
    if !value.len().is_multiple_of(2) {
        return Err("invalid BMPString".into());
    }
    let value = value.strip_suffix(&[0, 0]).unwrap_or(value);
    value
        .chunks_exact(2)
        .map(|c| {
            let unit = u16::from_be_bytes([c[0], c[1]]);
            let refused = unit == 0xfffe || unit == 0xffff || (0xfdd0..=0xfdef).contains(&unit);
            char::from_u32(u32::from(unit))
                .filter(|_| !refused)
                .ok_or_else(|| "invalid BMPString".to_owned())
        })
        .collect()
}

/// One attribute of a name: its type (OID contents) and its value element.
pub struct Attribute<'a> {
    /// The OID's contents.
    pub oid: &'a [u8],
    /// The value.
    pub value: Tlv<'a>,
}

/// The attributes of a DER Name (the SEQUENCE's contents), RDN by RDN, in order.
pub fn name_attributes(name: &[u8]) -> Result<Vec<Vec<Attribute<'_>>>, String> {
    let mut rdns = Vec::new();
    let mut input = name;
    while !input.is_empty() {
        let mut set = read(&mut input, SET, "RDNSequence")?.value;
        let mut rdn = Vec::new();
        while !set.is_empty() {
            let mut atv = read(&mut set, SEQUENCE, "RDNSequence attribute")?.value;
            let oid = read(&mut atv, OID, "attribute type")?.value;
            let value = read_any(&mut atv).map_err(|_| "malformed attribute value")?;
            rdn.push(Attribute { oid, value });
        }
        rdns.push(rdn);
    }
    Ok(rdns)
}

/// A Name's strings as Go reads them.
fn check_name(name: &[u8]) -> Result<(), String> {
    for attr in name_attributes(name)?.iter().flatten() {
        if STRING_TAGS.contains(&attr.value.tag) {
            name_string(attr.value.tag, attr.value.value)?;
        }
    }
    Ok(())
}

/// Why Go's `x509.ParseCertificate` refuses `der` (one certificate, which x509-cert reads).
pub fn check_certificate(der: &[u8]) -> Result<(), String> {
    let mut input = der;
    let mut cert = read(&mut input, SEQUENCE, "certificate")?.value;
    let mut tbs = read(&mut cert, SEQUENCE, "tbs certificate")?.value;
    let outer = read(&mut cert, SEQUENCE, "algorithm identifier")?;
    let version = match read_optional(&mut tbs, 0xa0, "version")? {
        Some(v) => {
            let mut inner = v.value;
            match integer(&mut inner, INTEGER, "version")? {
                [n] => *n,
                _ => return Err("invalid version".into()),
            }
        }
        None => 0,
    };
    let serial = integer(&mut tbs, INTEGER, "serial number")?;
    if serial[0] & 0x80 != 0 {
        return Err("negative serial number".into());
    }
    let inner = read(&mut tbs, SEQUENCE, "signature algorithm identifier")?;
    if inner.value != outer.value {
        return Err("inner and outer signature algorithm identifiers don't match".into());
    }
    check_name(read(&mut tbs, SEQUENCE, "issuer")?.value)?;
    read(&mut tbs, SEQUENCE, "validity")?;
    check_name(read(&mut tbs, SEQUENCE, "subject")?.value)?;
    check_public_key(read(&mut tbs, SEQUENCE, "spki")?.value)?;
    if version >= 1 {
        read_optional(&mut tbs, 0x81, "issuerUniqueID")?;
        read_optional(&mut tbs, 0x82, "subjectUniqueID")?;
    }
    if version == 2
        && let Some(exts) = read_optional(&mut tbs, 0xa3, "extensions")?
    {
        let mut list = exts.value;
        check_extensions(read(&mut list, SEQUENCE, "extensions")?.value)?;
    }
    Ok(())
}

const OID_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
const OID_EC: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const OID_ED25519: &[u8] = &[0x2b, 0x65, 0x70];
const OID_P224: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x21];
const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const OID_P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
const OID_P521: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x23];

/// Go's `parsePublicKey` for the key types keyrite meets.
fn check_public_key(mut spki: &[u8]) -> Result<(), String> {
    let mut alg = read(&mut spki, SEQUENCE, "public key algorithm identifier")?.value;
    let oid = read(&mut alg, OID, "public key algorithm")?.value;
    let params = alg;
    let bits = read(&mut spki, BIT_STRING, "subjectPublicKey")?.value;
    let key = match bits {
        [0, key @ ..] => key,
        _ => return Ok(()),
    };
    if oid == OID_RSA {
        if params != [NULL, 0] {
            return Err("RSA key missing NULL parameters".into());
        }
        let mut input = key;
        let mut seq = read(&mut input, SEQUENCE, "RSA public key")?.value;
        let n = integer(&mut seq, INTEGER, "RSA modulus")?;
        let e = integer(&mut seq, INTEGER, "RSA public exponent")?;
        if n[0] & 0x80 != 0 || n == [0] {
            return Err("RSA modulus is not a positive number".into());
        }
        if e[0] & 0x80 != 0 || e == [0] || e.len() > 8 {
            return Err("RSA public exponent is not a positive number".into());
        }
    } else if oid == OID_EC {
        let mut p = params;
        let curve = read(&mut p, OID, "ECDSA parameters")?.value;
        let (alg, size) = match curve {
            c if c == OID_P224 => (None, 28),
            c if c == OID_P256 => (Some(KeyAlgorithm::P256), 32),
            c if c == OID_P384 => (Some(KeyAlgorithm::P384), 48),
            c if c == OID_P521 => (Some(KeyAlgorithm::P521), 66),
            _ => return Err("unsupported elliptic curve".into()),
        };
        let uncompressed = key.len() == 1 + 2 * size && key[0] == 4;
        let on_curve = alg.is_none_or(|a| PublicKey::from_ec_point(a, key).is_ok());
        if !uncompressed || !on_curve {
            return Err("invalid elliptic curve public key".into());
        }
    } else if oid == OID_ED25519 && (!params.is_empty() || key.len() != 32) {
        return Err("malformed Ed25519 key".into());
    }
    Ok(())
}

/// Go's reading of the extension list: each once, and the ones it parses well formed.
fn check_extensions(mut list: &[u8]) -> Result<(), String> {
    let mut seen: Vec<&[u8]> = Vec::new();
    while !list.is_empty() {
        let mut ext = read(&mut list, SEQUENCE, "extension")?.value;
        let oid = read(&mut ext, OID, "extension OID field")?.value;
        let critical = match read_optional(&mut ext, BOOLEAN, "extension critical field")? {
            Some(b) => match b.value {
                [0] => false,
                [0xff] => true,
                _ => return Err("malformed extension critical field".into()),
            },
            None => false,
        };
        let value = read(&mut ext, OCTET_STRING, "extension value field")?.value;
        if seen.contains(&oid) {
            return Err("certificate contains duplicate extension".into());
        }
        seen.push(oid);
        check_extension(oid, critical, value)?;
    }
    Ok(())
}

const OID_SKI: &[u8] = &[0x55, 0x1d, 0x0e];
const OID_KU: &[u8] = &[0x55, 0x1d, 0x0f];
const OID_BC: &[u8] = &[0x55, 0x1d, 0x13];
const OID_CDP: &[u8] = &[0x55, 0x1d, 0x1f];
const OID_EKU: &[u8] = &[0x55, 0x1d, 0x25];
const OID_AIA: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x01, 0x01];

fn check_extension(oid: &[u8], critical: bool, mut value: &[u8]) -> Result<(), String> {
    let v = &mut value;
    match oid {
        OID_SKI if critical => Err("subject key identifier incorrectly marked critical".into()),
        OID_SKI => read(v, OCTET_STRING, "subject key identifier").map(drop),
        OID_AIA if critical => Err("authority info access incorrectly marked critical".into()),
        OID_KU => bit_string(v).map_err(|_| "invalid key usage".into()),
        OID_BC => {
            let mut bc = read(v, SEQUENCE, "basic constraints")?.value;
            if let Some(b) = read_optional(&mut bc, BOOLEAN, "basic constraints")?
                && !matches!(b.value, [0] | [0xff])
            {
                return Err("invalid basic constraints".into());
            }
            // pathLenConstraint: read into a Go int, so neither negative nor 2^63 or more.
            if bc.first() == Some(&INTEGER) {
                let len = integer(&mut bc, INTEGER, "basic constraints")?;
                if len[0] & 0x80 != 0 || len.len() > 8 {
                    return Err("invalid basic constraints".into());
                }
            }
            Ok(())
        }
        OID_EKU => {
            let mut list = read(v, SEQUENCE, "extended key usage")?.value;
            while !list.is_empty() {
                read(&mut list, OID, "extended key usage")?;
            }
            Ok(())
        }
        OID_CDP => distribution_points(value).map(drop),
        _ => Ok(()),
    }
}

/// cryptobyte's BIT STRING: a padding count of at most 7, zero when empty, zero padding bits.
fn bit_string(input: &mut &[u8]) -> Result<(), String> {
    let v = read(input, BIT_STRING, "bit string")?.value;
    match v {
        [pad, rest @ ..] if *pad <= 7 && !(rest.is_empty() && *pad > 0) => {
            let last = rest.last().copied().unwrap_or(0);
            if last & ((1u8 << pad) - 1) == 0 {
                Ok(())
            } else {
                Err("malformed bit string".into())
            }
        }
        _ => Err("malformed bit string".into()),
    }
}

/// The URLs Go reads from a CRL distribution points value (a certificate's, or a freshest
/// CRL's): in each point's full name, the URIs up to the first name that is not one.
pub fn distribution_points(mut value: &[u8]) -> Result<Vec<String>, String> {
    let bad = || "invalid CRL distribution point".to_owned();
    let mut points = read(&mut value, SEQUENCE, "CRL distribution points")?.value;
    let mut urls = Vec::new();
    while !points.is_empty() {
        let mut dp = read(&mut points, SEQUENCE, "CRL distribution point")?.value;
        let Some(name) = read_optional(&mut dp, 0xa0, "CRL distribution point")? else {
            continue;
        };
        let mut name = name.value;
        let mut full = read(&mut name, 0xa0, "CRL distribution point")
            .map_err(|_| bad())?
            .value;
        while full.first() == Some(&0x86) {
            let uri = read(&mut full, 0x86, "CRL distribution point")?.value;
            urls.push(String::from_utf8_lossy(uri).into_owned());
        }
    }
    Ok(urls)
}

const OID_REASON: &[u8] = &[0x55, 0x1d, 0x15];
const OID_AKI: &[u8] = &[0x55, 0x1d, 0x23];
const OID_CRL_NUMBER: &[u8] = &[0x55, 0x1d, 0x14];

/// The CRL at the start of `der` as Go's `x509.ParseRevocationList` reads it (what follows
/// is ignored), or why Go refuses it.
pub fn crl_element(der: &[u8]) -> Result<&[u8], String> {
    let mut input = der;
    let crl = read(&mut input, SEQUENCE, "crl")?;
    let mut body = crl.value;
    let mut tbs = read(&mut body, SEQUENCE, "tbs crl")?.value;
    if tbs.first() != Some(&INTEGER) {
        return Err("unsupported crl version (v1)".into());
    }
    if integer(&mut tbs, INTEGER, "crl version")? != [1] {
        return Err("unsupported crl version".into());
    }
    let inner = read(&mut tbs, SEQUENCE, "signature algorithm identifier")?;
    let outer = read(&mut body, SEQUENCE, "algorithm identifier")?;
    if inner.value != outer.value {
        return Err("inner and outer signature algorithm identifiers don't match".into());
    }
    check_name(read(&mut tbs, SEQUENCE, "issuer")?.value)?;
    read_any(&mut tbs)?;
    if matches!(tbs.first(), Some(0x17 | 0x18)) {
        read_any(&mut tbs)?;
    }
    if let Some(revoked) = read_optional(&mut tbs, SEQUENCE, "crl")? {
        let mut entries = revoked.value;
        while !entries.is_empty() {
            check_entry(read(&mut entries, SEQUENCE, "crl")?.value)?;
        }
    }
    if let Some(exts) = read_optional(&mut tbs, 0xa0, "extensions")? {
        let mut list = exts.value;
        let mut list = read(&mut list, SEQUENCE, "extensions")?.value;
        while !list.is_empty() {
            let (oid, value) = crl_extension(&mut list)?;
            let mut v = value;
            if oid == OID_AKI {
                let mut aki = read(&mut v, SEQUENCE, "authority key identifier")?.value;
                read_optional(&mut aki, 0x80, "authority key identifier")?;
            } else if oid == OID_CRL_NUMBER {
                integer(&mut v, INTEGER, "crl number")?;
            }
        }
    }
    Ok(crl.raw)
}

/// One extension of a CRL or an entry: its OID and value.
fn crl_extension<'a>(list: &mut &'a [u8]) -> Result<(&'a [u8], &'a [u8]), String> {
    let mut ext = read(list, SEQUENCE, "extension")?.value;
    let oid = read(&mut ext, OID, "extension OID field")?.value;
    if let Some(b) = read_optional(&mut ext, BOOLEAN, "extension critical field")?
        && !matches!(b.value, [0] | [0xff])
    {
        return Err("malformed extension critical field".into());
    }
    let value = read(&mut ext, OCTET_STRING, "extension value field")?.value;
    Ok((oid, value))
}

/// A revoked certificate entry: a serial, a time, and a reason code Go can read.
fn check_entry(mut entry: &[u8]) -> Result<(), String> {
    integer(&mut entry, INTEGER, "serial number")?;
    read_any(&mut entry)?;
    if let Some(exts) = read_optional(&mut entry, SEQUENCE, "extensions")? {
        let mut list = exts.value;
        while !list.is_empty() {
            let (oid, mut value) = crl_extension(&mut list)?;
            if oid == OID_REASON {
                let code = integer(&mut value, ENUMERATED, "reasonCode extension")?;
                if code.len() > 8 {
                    return Err("malformed reasonCode extension".into());
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
