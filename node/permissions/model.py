"""The permission records: organisations, members, validators, zones, network settings.

Each record has one canonical encoding (vm/encoding.py: a version byte, then
its fields), because every one is stored under ``b"g"`` in state and
committed by the state tree. Constructors check every field, so a
constructed record always encodes; ``decode`` goes through the constructor
and checks that the bytes were canonical, raising ``RecordDamaged`` (a node
fault: only this package writes these keys) otherwise.

    Organisation   id, display name, admin public keys as registered (sorted,
                   distinct; member roles, not this list, are what policies count)
    Member         address -> organisation id, role set
    Validator      ed25519 public key, voting power, owning organisation
    ValidatorSet   validators sorted by address (the set in force from a height)
    Zone           name; policies for deploy, call (default), read, governance
    Network        the governance policy of network-wide actions (organisations,
                   members, validators)

Determinism: lists are sorted by their key before encoding; no floats.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final, TypeVar

from zonechain.node.permissions.errors import PolicyError, RecordDamaged
from zonechain.node.permissions.policy import (
    IDENTIFIER_PATTERN,
    Policy,
    Role,
    mask_to_roles,
    read_policy,
    roles_to_mask,
)
from zonechain.node.types.address import account_address
from zonechain.vm.encoding import DecodeError, Reader, Writer
from zonechain.vm.state import ADDRESS_BYTES

T = TypeVar("T")

RECORD_VERSION: Final = 1
PUBLIC_KEY_BYTES: Final = 32
NAME_BYTES_MAX: Final = 128
"""Display names of organisations: for people, short."""

ADMIN_KEYS_MAX: Final = 32
"""Admin keys of one organisation: a handful of officers, with room to rotate."""

VALIDATOR_POWER_MAX: Final = 1 << 20
"""Same bound as consensus's total power (node/consensus/validators.py)."""

VALIDATORS_MAX: Final = 256
"""Same bound as consensus (node/types/limits.py VALIDATORS_MAX)."""


def check_identifier(what: str, value: str) -> None:
    if not isinstance(value, str) or not IDENTIFIER_PATTERN.fullmatch(value):
        raise ValueError(f"{what} {str(value)[:64]!r} must match {IDENTIFIER_PATTERN.pattern}")


def check_address(what: str, value: bytes) -> None:
    if not isinstance(value, bytes) or len(value) != ADDRESS_BYTES:
        raise ValueError(f"{what} must be {ADDRESS_BYTES} bytes")


def decode_record(data: bytes, what: str, read: Callable[[Reader], T]) -> T:
    """Decode one stored record strictly; any fault is ``RecordDamaged``."""
    reader = Reader(data)
    try:
        version = reader.u8(f"{what}.version")
        if version != RECORD_VERSION:
            raise DecodeError(f"{what}: version {version} is not {RECORD_VERSION}", 0)
        value = read(reader)
        reader.finish(what)
    except (DecodeError, PolicyError, ValueError) as error:
        raise RecordDamaged(f"damaged {what} record: {error}") from None
    return value


def encode_record(write: Callable[[Writer], object]) -> bytes:
    writer = Writer().u8(RECORD_VERSION)
    write(writer)
    return bytes(writer)


@dataclass(frozen=True, slots=True)
class Organisation:
    id: str
    name: str
    admin_keys: tuple[bytes, ...] = ()

    def __post_init__(self) -> None:
        check_identifier("organisation id", self.id)
        encoded = self.name.encode("utf-8") if isinstance(self.name, str) else b""
        if not 1 <= len(encoded) <= NAME_BYTES_MAX:
            raise ValueError(f"organisation name must be 1..{NAME_BYTES_MAX} bytes of text")
        if len(self.admin_keys) > ADMIN_KEYS_MAX:
            raise ValueError(f"at most {ADMIN_KEYS_MAX} admin keys")
        if any(len(key) != PUBLIC_KEY_BYTES for key in self.admin_keys):
            raise ValueError(f"admin keys are {PUBLIC_KEY_BYTES}-byte ed25519 public keys")
        if list(self.admin_keys) != sorted(set(self.admin_keys)):
            raise ValueError("admin keys must be sorted and distinct")

    @property
    def admin_addresses(self) -> tuple[bytes, ...]:
        return tuple(sorted(account_address(key) for key in self.admin_keys))

    def encode(self) -> bytes:
        return encode_record(lambda w: w.string(self.id).string(self.name).list(
            self.admin_keys, lambda w2, key: w2.fixed(key, PUBLIC_KEY_BYTES)))

    @classmethod
    def decode(cls, data: bytes) -> Organisation:
        def read(reader: Reader) -> Organisation:
            return cls(reader.string("organisation.id"), reader.string("organisation.name"),
                       tuple(reader.list(lambda r: r.fixed(PUBLIC_KEY_BYTES, "admin key"),
                                         "organisation.admin_keys")))
        return decode_record(data, "organisation", read)


@dataclass(frozen=True, slots=True)
class Member:
    address: bytes
    organisation: str
    roles: frozenset[Role]

    def __post_init__(self) -> None:
        check_address("member address", self.address)
        check_identifier("organisation id", self.organisation)
        if not self.roles or not all(isinstance(role, Role) for role in self.roles):
            raise ValueError("a member has at least one role")

    def encode(self) -> bytes:
        """The value stored under the member key (the address is in the key)."""
        return encode_record(lambda w: w.string(self.organisation).u8(roles_to_mask(self.roles)))

    @classmethod
    def decode(cls, address: bytes, data: bytes) -> Member:
        def read(reader: Reader) -> Member:
            organisation = reader.string("member.organisation")
            return cls(address, organisation, mask_to_roles(reader.u8("member.roles")))
        return decode_record(data, "member", read)


@dataclass(frozen=True, slots=True)
class Validator:
    public_key: bytes
    power: int
    organisation: str
    address: bytes = field(init=False)

    def __post_init__(self) -> None:
        if not isinstance(self.public_key, bytes) or len(self.public_key) != PUBLIC_KEY_BYTES:
            raise ValueError(f"a validator key is a {PUBLIC_KEY_BYTES}-byte ed25519 public key")
        if isinstance(self.power, bool) or not 1 <= self.power <= VALIDATOR_POWER_MAX:
            raise ValueError(f"validator power must be in 1..{VALIDATOR_POWER_MAX}")
        check_identifier("organisation id", self.organisation)
        object.__setattr__(self, "address", account_address(self.public_key))

    def write(self, writer: Writer) -> None:
        writer.fixed(self.public_key, PUBLIC_KEY_BYTES).u64(self.power).string(self.organisation)

    @classmethod
    def read(cls, reader: Reader) -> Validator:
        return cls(reader.fixed(PUBLIC_KEY_BYTES, "validator.public_key"),
                   reader.u64("validator.power"), reader.string("validator.organisation"))


@dataclass(frozen=True, slots=True)
class ValidatorSet:
    """Validators in force from some height, sorted by address; total power bounded."""

    validators: tuple[Validator, ...]

    def __post_init__(self) -> None:
        addresses = [validator.address for validator in self.validators]
        if addresses != sorted(set(addresses)):
            raise ValueError("validators must be sorted by address, each once")
        if not 1 <= len(self.validators) <= VALIDATORS_MAX:
            raise ValueError(f"a validator set holds 1..{VALIDATORS_MAX} validators")
        if self.total_power > VALIDATOR_POWER_MAX:
            raise ValueError(f"total voting power exceeds {VALIDATOR_POWER_MAX}")

    @classmethod
    def of(cls, validators: list[Validator]) -> ValidatorSet:
        return cls(tuple(sorted(validators, key=lambda validator: validator.address)))

    @property
    def total_power(self) -> int:
        return sum(validator.power for validator in self.validators)

    def get(self, address: bytes) -> Validator | None:
        for validator in self.validators:
            if validator.address == address:
                return validator
        return None

    def encode(self) -> bytes:
        return encode_record(lambda w: w.list(self.validators, lambda w2, v: v.write(w2)))

    @classmethod
    def decode(cls, data: bytes) -> ValidatorSet:
        return decode_record(data, "validator set",
                             lambda r: cls(tuple(r.list(Validator.read, "validators"))))


ZONE_POLICY_SLOTS: Final = ("deploy", "call", "read", "governance")
"""The policies of a zone, in their encoding order."""


@dataclass(frozen=True, slots=True)
class Zone:
    name: str
    deploy: Policy
    call: Policy
    read: Policy
    governance: Policy
    description: str = ""

    def __post_init__(self) -> None:
        check_identifier("zone name", self.name)
        if len(self.description.encode("utf-8")) > NAME_BYTES_MAX:
            raise ValueError(f"zone description is limited to {NAME_BYTES_MAX} bytes")

    def policy(self, slot: str) -> Policy:
        if slot not in ZONE_POLICY_SLOTS:
            raise ValueError(f"unknown zone policy slot {slot!r}")
        policy: Policy = getattr(self, slot)
        return policy

    def encode(self) -> bytes:
        def write(writer: Writer) -> None:
            writer.string(self.name).string(self.description)
            for slot in ZONE_POLICY_SLOTS:
                self.policy(slot).write(writer)
        return encode_record(write)

    @classmethod
    def decode(cls, data: bytes) -> Zone:
        def read(reader: Reader) -> Zone:
            name = reader.string("zone.name")
            description = reader.string("zone.description")
            deploy, call, read_, governance = (read_policy(reader) for _ in ZONE_POLICY_SLOTS)
            return cls(name, deploy, call, read_, governance, description)
        return decode_record(data, "zone", read)


@dataclass(frozen=True, slots=True)
class Network:
    """Network-wide settings: the policy that governs organisations, members, validators."""

    governance: Policy

    def encode(self) -> bytes:
        return encode_record(self.governance.write)

    @classmethod
    def decode(cls, data: bytes) -> Network:
        return decode_record(data, "network", lambda r: cls(read_policy(r)))


def encode_contract_policy(policy: Policy) -> bytes:
    return encode_record(policy.write)


def decode_contract_policy(data: bytes) -> Policy:
    return decode_record(data, "contract policy", read_policy)
