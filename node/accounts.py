"""Account records: the per-account state the protocol itself keeps (the nonce).

An account is identified by its 20-byte address (node/types/address.py) and
its record lives in state under ``vm.state.PREFIX_ACCOUNT + address``, so it is
committed by the state tree like every other value. An account that has never
sent a transaction has NO record; reading it gives ``AccountRecord()`` (nonce
0). The first transaction creates the record.

Encoding (canonical, vm/encoding.py)::

    u8   record version (ACCOUNT_RECORD_VERSION = 1)
    u64  nonce: the nonce the account's NEXT transaction must carry

A record in state that does not decode is a damaged database, not a user
error: ``load_account`` raises ``NodeFault`` (the node stops).

Determinism: the record is a pure function of the nonce; one encoding each.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from zonechain.vm.encoding import DecodeError, Reader, Writer
from zonechain.vm.errors import NodeFault
from zonechain.vm.state import ADDRESS_BYTES, PREFIX_ACCOUNT, StateReader

ACCOUNT_RECORD_VERSION: Final = 1
"""Leading byte of every record: a later format gets a new version byte."""

NONCE_MAX: Final = 0xFFFF_FFFF_FFFF_FFFF
"""Nonces are u64; an account whose next nonce would overflow can send no more."""


@dataclass(frozen=True, slots=True)
class AccountRecord:
    """What state holds for one account."""

    nonce: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.nonce <= NONCE_MAX:
            raise ValueError(f"account nonce out of u64 range: {self.nonce}")

    def encode(self) -> bytes:
        return bytes(Writer().u8(ACCOUNT_RECORD_VERSION).u64(self.nonce))

    @classmethod
    def decode(cls, data: bytes) -> AccountRecord:
        reader = Reader(data)
        version = reader.u8("account.version")
        if version != ACCOUNT_RECORD_VERSION:
            raise DecodeError(f"account.version: unknown record version {version}", 0)
        nonce = reader.u64("account.nonce")
        reader.finish("account")
        return cls(nonce)


def account_key(address: bytes) -> bytes:
    """The state key of ``address``'s record."""
    if len(address) != ADDRESS_BYTES:
        raise ValueError(f"account address must be {ADDRESS_BYTES} bytes, got {len(address)}")
    return PREFIX_ACCOUNT + address


def load_account(state: StateReader, address: bytes) -> AccountRecord:
    """The record of ``address`` in ``state`` (nonce 0 when absent)."""
    encoded = state.get(account_key(address))
    if encoded is None:
        return AccountRecord()
    try:
        return AccountRecord.decode(encoded)
    except DecodeError as error:
        raise NodeFault(f"damaged account record of {address.hex()}: {error}") from error


def account_nonce(state: StateReader, address: bytes) -> int:
    """The nonce ``address``'s next transaction must carry."""
    return load_account(state, address).nonce
