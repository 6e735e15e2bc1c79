"""Where the permission records live in state (under ``b"g"``), and how to read them.

Key layout (part of consensus; every key is committed by the state tree):

    b"gn"                                  Network (network governance policy)
    b"go" + organisation id                Organisation
    b"gm" + address (20 B)                 Member (organisation, roles)
    b"gr" + organisation id + 0x00 + address   b"" : index "members of an organisation"
    b"gv" + u64 big-endian height          ValidatorSet in force from that height
    b"gz" + zone name                      Zone (its four policies)
    b"gk" + contract address (20 B)        call policy of one contract (overrides the zone's)
    b"gp" + u64 big-endian proposal id     Proposal (zonechain.node.permissions.governance)
    b"gi"                                  u64: the next proposal id

Identifiers never contain 0x00 (``IDENTIFIER_PATTERN``), so the member index
of one organisation is exactly the keys under ``b"gr" + id + 0x00``. Heights
and ids are big-endian so that key order is numeric order.

Reading functions take any ``StateReader`` (committed state, a block
overlay); ``write_*`` helpers return the key/value pairs a change makes,
which callers gather into one write set.

Determinism: every listing walks keys in unsigned byte order.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final, NoReturn

from zonechain.node.permissions.errors import RecordDamaged
from zonechain.node.permissions.model import (
    Member,
    Network,
    Organisation,
    ValidatorSet,
    Zone,
    check_address,
    decode_contract_policy,
)
from zonechain.node.permissions.policy import Policy
from zonechain.vm.metadata import ContractMetadata
from zonechain.vm.state import PREFIX_GOVERNANCE, StateReader, contract_meta_key

NETWORK_KEY: Final = PREFIX_GOVERNANCE + b"n"
PREFIX_ORGANISATION: Final = PREFIX_GOVERNANCE + b"o"
PREFIX_MEMBER: Final = PREFIX_GOVERNANCE + b"m"
PREFIX_ORGANISATION_MEMBERS: Final = PREFIX_GOVERNANCE + b"r"
PREFIX_VALIDATOR_SET: Final = PREFIX_GOVERNANCE + b"v"
PREFIX_ZONE: Final = PREFIX_GOVERNANCE + b"z"
PREFIX_CONTRACT_POLICY: Final = PREFIX_GOVERNANCE + b"k"
PREFIX_PROPOSAL: Final = PREFIX_GOVERNANCE + b"p"
NEXT_PROPOSAL_ID_KEY: Final = PREFIX_GOVERNANCE + b"i"
U64_MAX: Final = (1 << 64) - 1


def scan(state: StateReader, prefix: bytes) -> Iterator[bytes]:
    """Every key under ``prefix``, in byte order."""
    key = state.next_key(prefix, None)
    while key is not None:
        yield key
        key = state.next_key(prefix, key)


def organisation_key(organisation: str) -> bytes:
    return PREFIX_ORGANISATION + organisation.encode("ascii")


def member_key(address: bytes) -> bytes:
    check_address("member address", address)
    return PREFIX_MEMBER + address


def organisation_member_key(organisation: str, address: bytes) -> bytes:
    return PREFIX_ORGANISATION_MEMBERS + organisation.encode("ascii") + b"\x00" + address


def validator_set_key(height: int) -> bytes:
    if not 0 <= height <= U64_MAX:
        raise ValueError(f"height out of u64 range: {height}")
    return PREFIX_VALIDATOR_SET + height.to_bytes(8, "big")


def zone_key(zone: str) -> bytes:
    return PREFIX_ZONE + zone.encode("utf-8")


def contract_policy_key(contract: bytes) -> bytes:
    check_address("contract address", contract)
    return PREFIX_CONTRACT_POLICY + contract


def proposal_key(proposal_id: int) -> bytes:
    return PREFIX_PROPOSAL + proposal_id.to_bytes(8, "big")


# ---- reads ----------------------------------------------------------------------------


def load_network(state: StateReader) -> Network | None:
    data = state.get(NETWORK_KEY)
    return None if data is None else Network.decode(data)


def load_organisation(state: StateReader, organisation: str) -> Organisation | None:
    data = state.get(organisation_key(organisation))
    return None if data is None else Organisation.decode(data)


def list_organisations(state: StateReader) -> tuple[Organisation, ...]:
    found = []
    for key in scan(state, PREFIX_ORGANISATION):
        data = state.get(key)
        assert data is not None
        found.append(Organisation.decode(data))
    return tuple(found)


def organisation_ids(state: StateReader) -> tuple[str, ...]:
    """Ids of every organisation, sorted (byte order of ASCII ids is string order)."""
    return tuple(key[len(PREFIX_ORGANISATION):].decode("ascii")
                 for key in scan(state, PREFIX_ORGANISATION))


def load_member(state: StateReader, address: bytes) -> Member | None:
    data = state.get(member_key(address))
    return None if data is None else Member.decode(address, data)


def members_of(state: StateReader, organisation: str) -> tuple[Member, ...]:
    """The members of ``organisation`` in address order."""
    prefix = PREFIX_ORGANISATION_MEMBERS + organisation.encode("ascii") + b"\x00"
    members = []
    for key in scan(state, prefix):
        member = load_member(state, key[len(prefix):])
        if member is None or member.organisation != organisation:
            raise_damaged(f"member index of {organisation} names a missing member")
        members.append(member)
    return tuple(members)


def load_zone(state: StateReader, zone: str) -> Zone | None:
    data = state.get(zone_key(zone))
    return None if data is None else Zone.decode(data)


def list_zones(state: StateReader) -> tuple[Zone, ...]:
    zones = []
    for key in scan(state, PREFIX_ZONE):
        data = state.get(key)
        assert data is not None
        zones.append(Zone.decode(data))
    return tuple(zones)


def load_contract_policy(state: StateReader, contract: bytes) -> Policy | None:
    data = state.get(contract_policy_key(contract))
    return None if data is None else decode_contract_policy(data)


def validator_sets(state: StateReader) -> tuple[tuple[int, ValidatorSet], ...]:
    """Every (effective height, set) recorded, in height order (genesis is height 0)."""
    sets = []
    for key in scan(state, PREFIX_VALIDATOR_SET):
        data = state.get(key)
        assert data is not None
        sets.append((int.from_bytes(key[len(PREFIX_VALIDATOR_SET):], "big"),
                     ValidatorSet.decode(data)))
    return tuple(sets)


def validator_set_at(state: StateReader, height: int) -> ValidatorSet:
    """The validator set that signs block ``height``: the last one effective at or before it.

    Consensus reads this. A change executed at height H is recorded effective
    at H + VALIDATOR_CHANGE_DELAY (governance.py), so the set for any height
    up to H + delay - 1 is already fixed when block H commits.
    """
    chosen: ValidatorSet | None = None
    for effective, validator_set in validator_sets(state):
        if effective > height:
            break
        chosen = validator_set
    if chosen is None:
        raise_damaged("no validator set is recorded (genesis wrote none)")
    return chosen


def latest_validator_set(state: StateReader) -> tuple[int, ValidatorSet] | None:
    """The last recorded set (possibly not yet in force) and its effective height."""
    sets = validator_sets(state)
    return sets[-1] if sets else None


def load_contract_metadata(state: StateReader, contract: bytes) -> ContractMetadata | None:
    """The VM's metadata record of ``contract`` (vm/metadata.py), or None if there is none."""
    data = state.get(contract_meta_key(contract))
    if data is None:
        return None
    try:
        return ContractMetadata.decode(data)
    except ValueError as error:
        raise RecordDamaged(f"damaged contract metadata: {error}") from None


def raise_damaged(message: str) -> NoReturn:
    raise RecordDamaged(message)
