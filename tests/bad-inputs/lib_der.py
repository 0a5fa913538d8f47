"""DER, PNG and age building blocks for tests/bad-inputs/make (Python standard library only).

Everything here builds bytes from scratch, so that `make` can write an input with exactly the
one malformation it is meant to have: a length that lies, a tag changed, a field dropped.
"""

import base64
import hashlib
import hmac
import struct
import zlib

# --- DER -------------------------------------------------------------------------------------


def length(n):
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(b)]) + b


def tlv(tag, content):
    return bytes([tag]) + length(len(content)) + content


def seq(*items):
    return tlv(0x30, b"".join(items))


def set_of(*items):
    """A DER SET OF: its elements sorted by their encodings."""
    return tlv(0x31, b"".join(sorted(items)))


def integer(n):
    if n == 0:
        return tlv(0x02, b"\x00")
    size = (n.bit_length() + 8) // 8 if n > 0 else ((-n - 1).bit_length() + 8) // 8
    return tlv(0x02, n.to_bytes(size, "big", signed=True))


def oid(dotted):
    parts = [int(p) for p in dotted.split(".")]
    body = [40 * parts[0] + parts[1]] + parts[2:]
    out = b""
    for p in body:
        chunk = [p & 0x7F]
        p >>= 7
        while p:
            chunk.append(0x80 | (p & 0x7F))
            p >>= 7
        out += bytes(reversed(chunk))
    return tlv(0x06, out)


NULL = b"\x05\x00"
TRUE = b"\x01\x01\xff"


def octet(b):
    return tlv(0x04, b)


def bits(b, unused=0):
    return tlv(0x03, bytes([unused]) + b)


def utf8(s):
    return tlv(0x0C, s.encode() if isinstance(s, str) else s)


def printable(s):
    return tlv(0x13, s.encode())


def ia5(s):
    return tlv(0x16, s.encode())


def utctime(s):
    """`s` as YYMMDDHHMMSSZ."""
    return tlv(0x17, s.encode())


def gentime(s):
    """`s` as YYYYMMDDHHMMSSZ."""
    return tlv(0x18, s.encode())


def ctx(n, content, constructed=True):
    return tlv((0xA0 if constructed else 0x80) | n, content)


def header(b, at=0):
    """(tag, header length, content length) of the TLV at `at`."""
    tag = b[at]
    first = b[at + 1]
    if first < 0x80:
        return tag, 2, first
    n = first & 0x7F
    return tag, 2 + n, int.from_bytes(b[at + 2 : at + 2 + n], "big")


def children(b):
    """The TLVs inside a constructed TLV `b`, as raw bytes."""
    _, h, n = header(b)
    body = b[h : h + n]
    out = []
    at = 0
    while at < len(body):
        _, hh, nn = header(body, at)
        out.append(body[at : at + hh + nn])
        at += hh + nn
    return out


def content(b):
    _, h, n = header(b)
    return b[h : h + n]


def rewrap(b, items):
    """`b`'s tag around new children."""
    return tlv(b[0], b"".join(items))


ALG = {
    "ecdsa-sha256": seq(oid("1.2.840.10045.4.3.2")),
    "ecdsa-sha384": seq(oid("1.2.840.10045.4.3.3")),
    "ecdsa-sha512": seq(oid("1.2.840.10045.4.3.4")),
    "ecdsa-sha1": seq(oid("1.2.840.10045.4.1")),
    "rsa-sha256": seq(oid("1.2.840.113549.1.1.11"), NULL),
    "rsa-sha1": seq(oid("1.2.840.113549.1.1.5"), NULL),
    "ed25519": seq(oid("1.3.101.112")),
}

OID = {
    "C": "2.5.4.6",
    "ST": "2.5.4.8",
    "L": "2.5.4.7",
    "O": "2.5.4.10",
    "OU": "2.5.4.11",
    "CN": "2.5.4.3",
    "DC": "0.9.2342.19200300.100.1.25",
    "E": "1.2.840.113549.1.9.1",
    "title": "2.5.4.12",
}


def atv(t, value, string=None):
    if string is None:
        string = printable if t == "C" else utf8
    return seq(oid(OID.get(t, t)), string(value))


def name(*pairs):
    """A Name of single-attribute RDNs; each pair is (type, value) or a ready ATV."""
    rdns = []
    for p in pairs:
        rdns.append(set_of(p if isinstance(p, bytes) else atv(*p)))
    return seq(*rdns)


def extension(oid_text, value, critical=False):
    return seq(oid(oid_text), *( [TRUE] if critical else [] ), octet(value))


# --- PNG -------------------------------------------------------------------------------------


def png_chunk(kind, data, crc=None):
    if crc is None:
        crc = zlib.crc32(kind + data)
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc & 0xFFFFFFFF)


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png(text_chunks, width=1, height=1):
    """A greyscale PNG with the given ancillary chunks before its image data."""
    ihdr = png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
    rows = b"".join(b"\x00" + b"\x00" * width for _ in range(height))
    return (
        PNG_SIGNATURE
        + ihdr
        + b"".join(text_chunks)
        + png_chunk(b"IDAT", zlib.compress(rows))
        + png_chunk(b"IEND", b"")
    )


# --- age (https://c2sp.org/age), scrypt recipients only -------------------------------------


def _rotl(v, c):
    return ((v << c) & 0xFFFFFFFF) | (v >> (32 - c))


def _quarter(s, a, b, c, d):
    s[a] = (s[a] + s[b]) & 0xFFFFFFFF
    s[d] = _rotl(s[d] ^ s[a], 16)
    s[c] = (s[c] + s[d]) & 0xFFFFFFFF
    s[b] = _rotl(s[b] ^ s[c], 12)
    s[a] = (s[a] + s[b]) & 0xFFFFFFFF
    s[d] = _rotl(s[d] ^ s[a], 8)
    s[c] = (s[c] + s[d]) & 0xFFFFFFFF
    s[b] = _rotl(s[b] ^ s[c], 7)


def _chacha_block(key, counter, nonce):
    const = [0x61707865, 0x3320646E, 0x79622D32, 0x6B206574]
    state = const + list(struct.unpack("<8I", key)) + [counter] + list(struct.unpack("<3I", nonce))
    s = state[:]
    for _ in range(10):
        _quarter(s, 0, 4, 8, 12)
        _quarter(s, 1, 5, 9, 13)
        _quarter(s, 2, 6, 10, 14)
        _quarter(s, 3, 7, 11, 15)
        _quarter(s, 0, 5, 10, 15)
        _quarter(s, 1, 6, 11, 12)
        _quarter(s, 2, 7, 8, 13)
        _quarter(s, 3, 4, 9, 14)
    return struct.pack("<16I", *[(x + y) & 0xFFFFFFFF for x, y in zip(s, state)])


def _chacha20(key, counter, nonce, data):
    out = bytearray()
    for i in range(0, len(data), 64):
        block = _chacha_block(key, counter + i // 64, nonce)
        out += bytes(x ^ y for x, y in zip(data[i : i + 64], block))
    return bytes(out)


def _poly1305(key, msg):
    r = int.from_bytes(key[:16], "little") & 0x0FFFFFFC0FFFFFFC0FFFFFFC0FFFFFFF
    s = int.from_bytes(key[16:], "little")
    p = (1 << 130) - 5
    acc = 0
    for i in range(0, len(msg), 16):
        n = int.from_bytes(msg[i : i + 16] + b"\x01", "little")
        acc = ((acc + n) * r) % p
    return ((acc + s) & ((1 << 128) - 1)).to_bytes(16, "little")


def seal_aead(key, nonce, plaintext):
    """ChaCha20-Poly1305 (RFC 8439) without associated data."""
    otk = _chacha_block(key, 0, nonce)[:32]
    ct = _chacha20(key, 1, nonce, plaintext)
    pad = b"\x00" * (-len(ct) % 16)
    mac_data = ct + pad + struct.pack("<QQ", 0, len(ct))
    return ct + _poly1305(otk, mac_data)


def hkdf(ikm, salt, info, n=32):
    prk = hmac.new(salt, ikm, hashlib.sha256).digest()
    out, t, i = b"", b"", 1
    while len(out) < n:
        t = hmac.new(prk, t + info + bytes([i]), hashlib.sha256).digest()
        out += t
        i += 1
    return out[:n]


def b64(b):
    return base64.b64encode(b).decode().rstrip("=")


def age_scrypt(plaintext, passphrase, log_n, file_key, salt, nonce, stanza_args=None):
    """An age file sealed to `passphrase`; `stanza_args` replaces the stanza's arguments."""
    inner_salt = b"age-encryption.org/v1/scrypt" + salt
    wrap = hashlib.scrypt(passphrase.encode(), salt=inner_salt, n=1 << log_n, r=8, p=1, dklen=32,
                          maxmem=1 << 30)
    body = seal_aead(wrap, b"\x00" * 12, file_key)
    args = stanza_args if stanza_args is not None else f"{b64(salt)} {log_n}"
    head = f"age-encryption.org/v1\n-> scrypt {args}\n{b64(body)}\n---".encode()
    mac = hmac.new(hkdf(file_key, b"", b"header"), head, hashlib.sha256).digest()
    out = head + b" " + b64(mac).encode() + b"\n" + nonce
    key = hkdf(file_key, nonce, b"payload")
    # One chunk, the last: counter 0, flag 1.
    return out + seal_aead(key, b"\x00" * 11 + b"\x01", plaintext)


# --- malformations ---------------------------------------------------------------------------


def relength(b, delta):
    """`b` with its outer length off by `delta` (the content left as it was)."""
    _, h, n = header(b)
    return b[:1] + length(n + delta) + b[h:]


def long_form(b):
    """`b` with its outer length in a four-byte long form: valid BER, not DER."""
    _, h, n = header(b)
    return b[:1] + b"\x84" + n.to_bytes(4, "big") + b[h:]


def indefinite(b):
    """`b` with an indefinite outer length and end-of-contents octets: BER, not DER."""
    _, h, _ = header(b)
    return b[:1] + b"\x80" + b[h:] + b"\x00\x00"
