#!/usr/bin/env python3
"""Cross-implementation test vectors for package crypto.

Computed with libsodium (through ctypes) and Python's hmac/hashlib, not with
our Go code, so that TestVectors checks our formats against an independent
implementation. Regenerate with: python3 vectors.py > vectors.json
"""
import ctypes, ctypes.util, hashlib, hmac, json

sodium = ctypes.CDLL(ctypes.util.find_library("sodium") or "libsodium.so.23")
assert sodium.sodium_init() >= 0


def xchacha_seal(key, nonce, pt, ad):
    out = ctypes.create_string_buffer(len(pt) + 16)
    outlen = ctypes.c_ulonglong()
    rc = sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(
        out, ctypes.byref(outlen), pt, ctypes.c_ulonglong(len(pt)),
        ad, ctypes.c_ulonglong(len(ad)), None, nonce, key)
    assert rc == 0
    return out.raw[: outlen.value]


def hkdf_sha256(ikm, salt, info, n):
    prk = hmac.new(salt, ikm, hashlib.sha256).digest()
    okm, t, i = b"", b"", 1
    while len(okm) < n:
        t = hmac.new(prk, t + info + bytes([i]), hashlib.sha256).digest()
        okm += t
        i += 1
    return okm[:n]


def key_id(key):
    return hashlib.sha256(b"cardvault data key id v1\x00" + key).digest()[:8]


def sealed_record(key, nonce, pt, ad):
    header = bytes([0x01]) + key_id(key)
    full_ad = bytes([len(header)]) + header + ad
    return header + nonce + xchacha_seal(key, nonce, pt, full_ad)


def secret_box(secret, context, nonce, pt):
    key = hkdf_sha256(secret, context, b"cardvault secret box v1", 32)
    return bytes([0x03]) + nonce + xchacha_seal(key, nonce, pt, bytes([0x03]) + context)


key = bytes(range(32))
nonce = bytes(range(100, 124))
record = b'{"card_number":"4242424242424242","cvv":"123"}'
ad = b"vault.items/u1/tok/ref"
kek = bytes(range(200, 232))
secret = b"S2TRYkjufkfwf8oItW2G_j1HcZ1ftMvURZwZJlbzb2BylPEPo8536sqdkO6J9i3x"
grant = b"NjUDoEi3z8zFB33WEwSRg"

label = b"vault.token.full"
number = b"4242424242424242"
sub = hmac.new(kek, label, hashlib.sha256).digest()

print(json.dumps({
    "sealed_record": {
        "key": key.hex(), "ad": ad.hex(), "plaintext": record.hex(),
        "key_id": key_id(key).hex(),
        "sealed": sealed_record(key, nonce, record, ad).hex(),
    },
    "wrapped_data_key": {
        "kek": kek.hex(), "ad": b"kek-ad".hex(), "inner": key.hex(),
        "sealed": sealed_record(kek, nonce, key, b"kek-ad").hex(),
    },
    "secret_box": {
        "secret": secret.decode(), "context": grant.hex(), "plaintext": key.hex(),
        "sealed": secret_box(secret, grant, nonce, key).hex(),
    },
    "hasher": {
        "key": kek.hex(), "label": label.decode(), "data": number.decode(),
        "sum": hmac.new(sub, number, hashlib.sha256).hexdigest(),
    },
    "secret_hash": {
        "secret": secret.decode(),
        "hash": hashlib.sha256(b"cardvault secret hash v1\x00" + secret).hexdigest(),
    },
}, indent=2))
