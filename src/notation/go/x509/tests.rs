use super::*;

#[test]
fn name_strings_read_as_go_reads_them() {
    assert_eq!(name_string(0x13, b"AT&T *").unwrap(), "AT&T *");
    assert!(name_string(0x13, b"odd_name").is_err());
    assert_eq!(name_string(0x14, b"caf\xe9").unwrap(), "café");
    assert_eq!(name_string(0x1e, &[0, b'A', 0, b'c', 0, 0]).unwrap(), "Ac");
    assert!(name_string(0x1e, &[0xd8, 0x00]).is_err());
    assert!(name_string(0x1e, &[0, b'A', 0]).is_err());
    assert_eq!(name_string(0x12, b"98052 1").unwrap(), "98052 1");
    assert!(name_string(0x12, b"9805a").is_err());
    assert!(name_string(0x16, b"\x80").is_err());
    assert!(name_string(0x0c, b"\xff").is_err());
}

fn tlv(tag: u8, parts: &[&[u8]]) -> Vec<u8> {
    let body = parts.concat();
    let mut out = vec![tag];
    match body.len() {
        n @ 0..0x80 => out.push(n as u8),
        n @ 0x80..0x100 => out.extend([0x81, n as u8]),
        n => out.extend([0x82, (n >> 8) as u8, n as u8]),
    }
    out.extend(body);
    out
}

/// A certificate (with a dummy signature) whose parts can be changed.
fn cert(serial: &[u8], outer_alg: &[u8], point: &[u8], exts: &[&[u8]]) -> Vec<u8> {
    let ecdsa_sha256: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02];
    let name = tlv(
        0x30,
        &[&tlv(
            0x31,
            &[&tlv(
                0x30,
                &[&[0x06, 0x03, 0x55, 0x04, 0x03], &tlv(0x0c, &[b"x"])],
            )],
        )],
    );
    let time = tlv(0x17, &[b"250101000000Z"]);
    let spki = tlv(
        0x30,
        &[
            &tlv(0x30, &[&[0x06, 0x07], OID_EC, &[0x06, 0x08], OID_P256]),
            &tlv(0x03, &[&[0], point]),
        ],
    );
    let tbs = tlv(
        0x30,
        &[
            &tlv(0xa0, &[&[0x02, 0x01, 0x02]]),
            &tlv(0x02, &[serial]),
            &tlv(0x30, &[ecdsa_sha256]),
            &name,
            &tlv(0x30, &[&time, &time]),
            &name,
            &spki,
            &tlv(0xa3, &[&tlv(0x30, exts)]),
        ],
    );
    tlv(
        0x30,
        &[&tbs, &tlv(0x30, &[outer_alg]), &tlv(0x03, &[&[0, 0x30, 0]])],
    )
}

#[test]
fn certificates_go_refuses() {
    // The P-256 base point, uncompressed.
    let g = hex::decode("046b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c2964fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5").unwrap();
    let sha256: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02];
    let sha384: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03];
    let ext = |oid: &[u8], critical: bool, value: &[u8]| {
        let flag: &[u8] = if critical { &[0x01, 0x01, 0xff] } else { &[] };
        tlv(
            0x30,
            &[&[0x06, oid.len() as u8], oid, flag, &tlv(0x04, &[value])],
        )
    };
    let ski = ext(OID_SKI, false, &[0x04, 0x01, 0x01]);
    assert!(check_certificate(&cert(&[1], sha256, &g, &[&ski])).is_ok());
    let refused = [
        (cert(&[0xff], sha256, &g, &[&ski]), "negative serial"),
        (cert(&[1], sha384, &g, &[&ski]), "don't match"),
        (cert(&[1], sha256, &g, &[&ski, &ski]), "duplicate"),
        (
            cert(
                &[1],
                sha256,
                &g,
                &[&ext(OID_SKI, true, &[0x04, 0x01, 0x01])],
            ),
            "critical",
        ),
        (cert(&[1], sha256, &g[..33], &[&ski]), "elliptic curve"),
        (
            cert(
                &[1],
                sha256,
                &g,
                &[&ext(
                    OID_CDP,
                    false,
                    &tlv(0x30, &[&tlv(0x30, &[&tlv(0xa0, &[&tlv(0xa1, &[])])])]),
                )],
            ),
            "distribution point",
        ),
    ];
    for (der, says) in refused {
        let err = check_certificate(&der).unwrap_err();
        assert!(err.contains(says), "{says}: {err}");
    }
}

#[test]
fn integers_order_by_value() {
    assert_eq!(cmp_integers(&[1], &[2]), Ordering::Less);
    assert_eq!(cmp_integers(&[0x00, 0x80], &[0x7f]), Ordering::Greater);
    assert_eq!(cmp_integers(&[0xff], &[0x01]), Ordering::Less);
    assert_eq!(cmp_integers(&[0x80, 0x00], &[0xff]), Ordering::Less);
    assert_eq!(cmp_integers(&[5], &[5]), Ordering::Equal);
}
