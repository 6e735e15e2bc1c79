"""Host functions for hashing and signature checks: sha256, blake2b256, ed25519_verify.

Guarantees: digests are 32 bytes written at ``dst_ptr``; ``ed25519_verify``
returns 1 or 0 and never fails for a malformed key or signature (libsodium
checks them, strictly, identically on every node).
"""

from __future__ import annotations

import hashlib

import nacl.exceptions
import nacl.signing

from zonechain.vm import gas
from zonechain.vm.host.frame import Frame, charge, check_range, read, write

DIGEST_BYTES = 32
PUBLIC_KEY_BYTES = 32
SIGNATURE_BYTES = 64


def sha256(frame: Frame, ptr: int, length: int, dst_ptr: int) -> None:
    # VALIDATE
    check_range(frame, ptr, length)
    check_range(frame, dst_ptr, DIGEST_BYTES)
    # GAS
    charge(frame, gas.GAS_HASH_BASE + gas.GAS_HASH_PER_BYTE * length)
    # OPERATION
    digest = hashlib.sha256(read(frame, ptr, length)).digest()
    # RESULT
    write(frame, dst_ptr, digest)


def blake2b256(frame: Frame, ptr: int, length: int, dst_ptr: int) -> None:
    # VALIDATE
    check_range(frame, ptr, length)
    check_range(frame, dst_ptr, DIGEST_BYTES)
    # GAS
    charge(frame, gas.GAS_HASH_BASE + gas.GAS_HASH_PER_BYTE * length)
    # OPERATION
    digest = hashlib.blake2b(read(frame, ptr, length), digest_size=DIGEST_BYTES).digest()
    # RESULT
    write(frame, dst_ptr, digest)


def ed25519_verify(
    frame: Frame, public_key_ptr: int, msg_ptr: int, msg_len: int, signature_ptr: int
) -> int:
    # VALIDATE
    check_range(frame, public_key_ptr, PUBLIC_KEY_BYTES)
    check_range(frame, msg_ptr, msg_len)
    check_range(frame, signature_ptr, SIGNATURE_BYTES)
    # GAS
    charge(frame, gas.GAS_ED25519_VERIFY + gas.GAS_HASH_PER_BYTE * msg_len)
    # OPERATION
    public_key = read(frame, public_key_ptr, PUBLIC_KEY_BYTES)
    message = read(frame, msg_ptr, msg_len)
    signature = read(frame, signature_ptr, SIGNATURE_BYTES)
    try:
        nacl.signing.VerifyKey(public_key).verify(message, signature)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError,
            nacl.exceptions.TypeError):
        return 0
    # RESULT
    return 1
