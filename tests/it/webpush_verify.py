#!/usr/bin/env python3
"""Independent check of one Web Push request (tests/it/push.rs).

Verifies the VAPID token (RFC 8292, ES256) and decrypts the aes128gcm
payload (RFC 8291, RFC 8188) with Python's `cryptography` (OpenSSL), not
with any Rust code. Reads one JSON object on stdin:

  {"authorization": "vapid t=..., k=...", "body": "<base64url>",
   "ua_private": "<base64url 32-byte P-256 scalar>",
   "ua_public": "<base64url 65-byte point>", "auth": "<base64url 16 bytes>",
   "server_key": "<base64url 65-byte point>", "aud": "<origin>"}

Prints one JSON object: {"plaintext": "<the decrypted text>",
"claims": {...}, "record_size": n}. Exits 2 when `cryptography` is missing
(the Rust test then skips loudly), 1 on any failed check.
"""

import base64
import json
import sys

try:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF
except ImportError as err:  # pragma: no cover - the Rust test skips on 2
    print(f"cryptography is not installed: {err}", file=sys.stderr)
    sys.exit(2)


def b64d(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hkdf(salt, ikm, info, length):
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(ikm)


def fail(message):
    print(message, file=sys.stderr)
    sys.exit(1)


def verify_vapid(authorization, server_key, aud):
    if not authorization.startswith("vapid t="):
        fail(f"not a vapid authorization: {authorization[:16]}")
    token, _, k = authorization[len("vapid t="):].partition(", k=")
    if b64d(k) != server_key:
        fail("k= is not the server's published key")
    signed, _, signature = token.rpartition(".")
    raw = b64d(signature)
    if len(raw) != 64:
        fail(f"ES256 signature of {len(raw)} bytes")
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), server_key)
    try:
        public.verify(der, signed.encode("ascii"), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        fail("the VAPID signature does not verify")
    header_b64, _, claims_b64 = signed.partition(".")
    header = json.loads(b64d(header_b64))
    if header.get("alg") != "ES256":
        fail(f"alg {header.get('alg')}")
    claims = json.loads(b64d(claims_b64))
    if claims.get("aud") != aud:
        fail(f"aud {claims.get('aud')} is not {aud}")
    return claims


def decrypt(body, ua_private, ua_public, auth):
    salt, rs, idlen = body[:16], int.from_bytes(body[16:20], "big"), body[20]
    if idlen != 65:
        fail(f"keyid of {idlen} bytes, not the sender's public key")
    sender = body[21:21 + idlen]
    ciphertext = body[21 + idlen:]
    if len(ciphertext) > rs:
        fail("more than one record")
    private = ec.derive_private_key(int.from_bytes(ua_private, "big"), ec.SECP256R1())
    shared = private.exchange(
        ec.ECDH(), ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), sender)
    )
    ikm = hkdf(auth, shared, b"WebPush: info\x00" + ua_public + sender, 32)
    cek = hkdf(salt, ikm, b"Content-Encoding: aes128gcm\x00", 16)
    nonce = hkdf(salt, ikm, b"Content-Encoding: nonce\x00", 12)
    padded = AESGCM(cek).decrypt(nonce, ciphertext, None)
    end = len(padded.rstrip(b"\x00")) - 1
    if end < 0 or padded[end] != 2:
        fail("no last-record delimiter")
    return padded[:end], rs


def main():
    request = json.load(sys.stdin)
    server_key = b64d(request["server_key"])
    claims = verify_vapid(request["authorization"], server_key, request["aud"])
    plaintext, rs = decrypt(
        b64d(request["body"]),
        b64d(request["ua_private"]),
        b64d(request["ua_public"]),
        b64d(request["auth"]),
    )
    print(json.dumps({"plaintext": plaintext.decode("utf-8"), "claims": claims, "record_size": rs}))


if __name__ == "__main__":
    main()
