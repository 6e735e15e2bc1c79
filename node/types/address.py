"""Account and contract addresses, and their human-readable form.

    account address  = sha256(b"zonechain/account/v1" + ed25519 public key)[:20]
    contract address = sha256(b"zonechain/contract/v1" + deployer address
                              + u64 little-endian nonce of the deploy tx)[:20]

A deployer's nonce is used once, so a contract address is never reused, and
anyone can compute it before the deploy lands.

Human form: ``"zc"`` + 40 lowercase hex digits of the address + 8 lowercase
hex digits of a checksum, ``sha256(b"zonechain/address-checksum/v1" +
address)[:4]`` (50 characters). A typo in one character is caught with
probability 1 - 2^-32. Parsing is strict (lowercase only, exact length) and
raises ``InvalidAddress`` saying what is wrong.

Determinism: pure functions of their bytes. The SDK imports these functions;
keep exactly one of each.
"""

from __future__ import annotations

import struct
from typing import Final

from zonechain.node.types.errors import InvalidAddress
from zonechain.node.types.hashing import (
    ACCOUNT_ADDRESS_DOMAIN,
    ADDRESS_CHECKSUM_DOMAIN,
    CONTRACT_ADDRESS_DOMAIN,
    domain_hash,
)
from zonechain.node.types.limits import PUBLIC_KEY_BYTES, U64_MAX
from zonechain.vm.state import ADDRESS_BYTES

ADDRESS_TEXT_PREFIX: Final = "zc"
ADDRESS_CHECKSUM_BYTES: Final = 4
ADDRESS_TEXT_LENGTH: Final = len(ADDRESS_TEXT_PREFIX) + 2 * (ADDRESS_BYTES + ADDRESS_CHECKSUM_BYTES)
_HEX_DIGITS: Final = frozenset("0123456789abcdef")
_U64 = struct.Struct("<Q")


def account_address(public_key: bytes) -> bytes:
    """The 20-byte address of the account that signs with ``public_key``."""
    if len(public_key) != PUBLIC_KEY_BYTES:
        raise ValueError(f"public key must be {PUBLIC_KEY_BYTES} bytes, got {len(public_key)}")
    return domain_hash(ACCOUNT_ADDRESS_DOMAIN, public_key)[:ADDRESS_BYTES]


def contract_address(deployer: bytes, nonce: int) -> bytes:
    """The 20-byte address of the contract deployed by ``deployer`` with tx nonce ``nonce``."""
    if len(deployer) != ADDRESS_BYTES:
        raise ValueError(f"deployer address must be {ADDRESS_BYTES} bytes, got {len(deployer)}")
    if not 0 <= nonce <= U64_MAX:
        raise ValueError(f"nonce out of u64 range: {nonce}")
    return domain_hash(CONTRACT_ADDRESS_DOMAIN, deployer + _U64.pack(nonce))[:ADDRESS_BYTES]


def _checksum(address: bytes) -> bytes:
    return domain_hash(ADDRESS_CHECKSUM_DOMAIN, address)[:ADDRESS_CHECKSUM_BYTES]


def format_address(address: bytes) -> str:
    """The human-readable form ``zc<40 hex><8 hex checksum>``."""
    if len(address) != ADDRESS_BYTES:
        raise ValueError(f"address must be {ADDRESS_BYTES} bytes, got {len(address)}")
    return ADDRESS_TEXT_PREFIX + address.hex() + _checksum(address).hex()


def parse_address(text: str) -> bytes:
    """The 20 address bytes of a human-readable address; InvalidAddress if it is not one."""
    if not text.startswith(ADDRESS_TEXT_PREFIX):
        raise InvalidAddress(text, f"must start with {ADDRESS_TEXT_PREFIX!r}")
    if len(text) != ADDRESS_TEXT_LENGTH:
        raise InvalidAddress(
            text, f"must be {ADDRESS_TEXT_LENGTH} characters long, got {len(text)}"
        )
    digits = text[len(ADDRESS_TEXT_PREFIX):]
    if not _HEX_DIGITS.issuperset(digits):
        raise InvalidAddress(text, "only lowercase hex digits may follow the prefix")
    raw = bytes.fromhex(digits)
    address, checksum = raw[:ADDRESS_BYTES], raw[ADDRESS_BYTES:]
    if checksum != _checksum(address):
        raise InvalidAddress(text, "checksum mismatch (a character is wrong)")
    return address
