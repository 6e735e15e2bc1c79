"""Governance actions: what a proposal changes, its canonical bytes, and its effect.

    tag  action                fields                               scope
    1    AddOrganisation       id, name, admin public keys          network
    2    RemoveOrganisation    id                                   network
    3    AddMember             address, organisation, roles         network
    4    RemoveMember          address                              network
    5    GrantRole             address, role                        network
    6    RevokeRole            address, role                        network
    7    AddValidator          public key, power, organisation      network
    8    RemoveValidator       address                              network
    9    SetValidatorPower     address, power                       network
    10   SetZonePolicy         zone, slot (deploy|call|read|governance), policy   zone
    11   SetContractPolicy     contract, optional policy (None: use the zone's)   contract's zone
    12   UpgradeContract       contract, new code hash              contract's zone
    13   FreezeContract        contract                             contract's zone
    14   UnfreezeContract      contract                             contract's zone

Encoding: u8 tag, then the fields in the order above (vm/encoding.py); a
role is its ``Role`` bit (u8), roles a role mask (u8), a policy as in
policy.py (without version byte).

``plan(state, height)`` computes every write the action makes, or raises
``GovernanceRejected`` with a stable code when its preconditions do not
hold; it writes nothing itself. It runs when a proposal is made (so a
hopeless proposal is refused early) and again when it executes (the state may
have moved on meanwhile).

Upgrades: the new code must already be stored (``b"c" + code hash``), which
happens when any contract with that code is deployed; proposals carry only
the hash. The contract keeps its address, storage, zone, deployer and frozen
flag; only its metadata's code hash changes.

Validator changes take effect at ``height + VALIDATOR_CHANGE_DELAY``: the
set for the next heights is already agreed when a block commits (CometBFT
applies validator updates at H+2 for the same reason).

Determinism: each plan reads state through the given reader only and returns
writes as a dict the caller applies in sorted key order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Final

from zonechain.node.permissions.errors import GovernanceRejected
from zonechain.node.permissions.model import (
    ADMIN_KEYS_MAX,
    PUBLIC_KEY_BYTES,
    VALIDATORS_MAX,
    ZONE_POLICY_SLOTS,
    Member,
    Organisation,
    Validator,
    ValidatorSet,
    Zone,
    check_address,
    check_identifier,
    encode_contract_policy,
)
from zonechain.node.permissions.policy import (
    ORGANISATIONS_MAX,
    Policy,
    Role,
    mask_to_roles,
    read_policy,
    roles_to_mask,
)
from zonechain.node.permissions.store import (
    PREFIX_CONTRACT_POLICY,
    contract_policy_key,
    latest_validator_set,
    list_zones,
    load_contract_metadata,
    load_contract_policy,
    load_member,
    load_network,
    load_organisation,
    load_zone,
    member_key,
    members_of,
    organisation_ids,
    organisation_key,
    organisation_member_key,
    scan,
    validator_set_key,
    zone_key,
)
from zonechain.node.types.address import format_address
from zonechain.vm.encoding import DecodeError, Reader, Writer
from zonechain.vm.metadata import ContractMetadata
from zonechain.vm.state import (
    ADDRESS_BYTES,
    CODE_HASH_BYTES,
    StateReader,
    code_key,
    contract_meta_key,
)

VALIDATOR_CHANGE_DELAY: Final = 2
"""Blocks between executing a validator change at height H and the set it
makes signing: effective at H + 2. Block H+1's set was fixed when H's
proposal was made, so H+2 is the first height every node learns in time."""

Writes = dict[bytes, bytes | None]

# GovernanceRejected codes raised by plans.
ORGANISATION_EXISTS: Final = "organisation_exists"
UNKNOWN_ORGANISATION: Final = "unknown_organisation"
ORGANISATION_IN_USE: Final = "organisation_in_use"
ALREADY_MEMBER: Final = "already_member"
UNKNOWN_MEMBER: Final = "unknown_member"
ROLE_UNCHANGED: Final = "role_unchanged"
VALIDATOR_EXISTS: Final = "validator_exists"
UNKNOWN_VALIDATOR: Final = "unknown_validator"
BAD_VALIDATOR_SET: Final = "bad_validator_set"
UNKNOWN_ZONE: Final = "unknown_zone"
UNKNOWN_CONTRACT: Final = "unknown_contract"
UNKNOWN_CODE: Final = "unknown_code"
FROZEN_UNCHANGED: Final = "frozen_unchanged"
LIMIT_REACHED: Final = "limit_reached"


def _reject(code: str, message: str) -> GovernanceRejected:
    return GovernanceRejected(code, message)


def _organisation(state: StateReader, organisation: str) -> Organisation:
    record = load_organisation(state, organisation)
    if record is None:
        raise _reject(UNKNOWN_ORGANISATION, f"organisation {organisation} does not exist")
    return record


def _member(state: StateReader, address: bytes) -> Member:
    member = load_member(state, address)
    if member is None:
        raise _reject(UNKNOWN_MEMBER, f"{format_address(address)} is not a member")
    return member


def _member_writes(member: Member) -> Writes:
    return {member_key(member.address): member.encode(),
            organisation_member_key(member.organisation, member.address): b""}


def _contract(state: StateReader, contract: bytes) -> ContractMetadata:
    metadata = load_contract_metadata(state, contract)
    if metadata is None:
        raise _reject(UNKNOWN_CONTRACT, f"no contract at {format_address(contract)}")
    return metadata


def _latest_set(state: StateReader) -> ValidatorSet:
    latest = latest_validator_set(state)
    if latest is None:
        raise _reject(BAD_VALIDATOR_SET, "no validator set is recorded")
    return latest[1]


def _validator_set_writes(validators: list[Validator], height: int) -> Writes:
    try:
        new_set = ValidatorSet.of(validators)
    except ValueError as error:
        raise _reject(BAD_VALIDATOR_SET, f"the resulting validator set is invalid: {error}"
                      ) from None
    return {validator_set_key(height + VALIDATOR_CHANGE_DELAY): new_set.encode()}


class Action:
    """Base of the governance actions (see the module docstring for each)."""

    TAG: ClassVar[int]
    NAME: ClassVar[str]

    def write_fields(self, writer: Writer) -> None:
        raise NotImplementedError

    def encode(self) -> bytes:
        writer = Writer().u8(self.TAG)
        self.write_fields(writer)
        return bytes(writer)

    def scope(self, state: StateReader) -> str | None:
        """The zone whose governance policy applies; None for the network's."""
        return None

    def target_organisation(self, state: StateReader) -> str | None:
        """The organisation SELF refers to for this action."""
        return None

    def plan(self, state: StateReader, height: int) -> Writes:
        raise NotImplementedError


@dataclass(frozen=True)
class AddOrganisation(Action):
    TAG: ClassVar[int] = 1
    NAME: ClassVar[str] = "add_organisation"
    organisation: Organisation

    def write_fields(self, writer: Writer) -> None:
        record = self.organisation
        writer.string(record.id).string(record.name)
        writer.list(record.admin_keys, lambda w, key: w.fixed(key, PUBLIC_KEY_BYTES))

    @classmethod
    def read(cls, reader: Reader) -> AddOrganisation:
        organisation_id = reader.string("organisation.id")
        name = reader.string("organisation.name")
        keys = reader.list(lambda r: r.fixed(PUBLIC_KEY_BYTES, "admin key"), "admin_keys")
        return cls(Organisation(organisation_id, name, tuple(keys)))

    def target_organisation(self, state: StateReader) -> str | None:
        return self.organisation.id

    def plan(self, state: StateReader, height: int) -> Writes:
        record = self.organisation
        if load_organisation(state, record.id) is not None:
            raise _reject(ORGANISATION_EXISTS, f"organisation {record.id} already exists")
        if len(organisation_ids(state)) >= ORGANISATIONS_MAX:
            raise _reject(LIMIT_REACHED, f"a network has at most {ORGANISATIONS_MAX} organisations")
        writes: Writes = {organisation_key(record.id): record.encode()}
        for address in record.admin_addresses:
            if load_member(state, address) is not None:
                raise _reject(ALREADY_MEMBER,
                              f"admin {format_address(address)} is already a member")
            writes.update(_member_writes(Member(address, record.id, frozenset({Role.ADMIN}))))
        return writes


@dataclass(frozen=True)
class RemoveOrganisation(Action):
    TAG: ClassVar[int] = 2
    NAME: ClassVar[str] = "remove_organisation"
    organisation: str

    def __post_init__(self) -> None:
        check_identifier("organisation id", self.organisation)

    def write_fields(self, writer: Writer) -> None:
        writer.string(self.organisation)

    @classmethod
    def read(cls, reader: Reader) -> RemoveOrganisation:
        return cls(reader.string("organisation.id"))

    def target_organisation(self, state: StateReader) -> str | None:
        return self.organisation

    def plan(self, state: StateReader, height: int) -> Writes:
        _organisation(state, self.organisation)
        if any(v.organisation == self.organisation for v in _latest_set(state).validators):
            raise _reject(ORGANISATION_IN_USE, f"organisation {self.organisation} still runs "
                          "validators: remove them first")
        if self._named_by_a_policy(state):
            raise _reject(ORGANISATION_IN_USE, f"a policy names organisation "
                          f"{self.organisation}: change it first")
        writes: Writes = {organisation_key(self.organisation): None}
        for member in members_of(state, self.organisation):
            writes[member_key(member.address)] = None
            writes[organisation_member_key(self.organisation, member.address)] = None
        return writes

    def _named_by_a_policy(self, state: StateReader) -> bool:
        policies: list[Policy] = []
        network = load_network(state)
        if network is not None:
            policies.append(network.governance)
        for zone in list_zones(state):
            policies.extend(zone.policy(slot) for slot in ZONE_POLICY_SLOTS)
        for key in scan(state, PREFIX_CONTRACT_POLICY):
            policy = load_contract_policy(state, key[len(PREFIX_CONTRACT_POLICY):])
            if policy is not None:
                policies.append(policy)
        return any(self.organisation in policy.organisations for policy in policies)


@dataclass(frozen=True)
class AddMember(Action):
    TAG: ClassVar[int] = 3
    NAME: ClassVar[str] = "add_member"
    address: bytes
    organisation: str
    roles: frozenset[Role]

    def __post_init__(self) -> None:
        Member(self.address, self.organisation, self.roles)  # checks every field

    def write_fields(self, writer: Writer) -> None:
        writer.fixed(self.address, ADDRESS_BYTES).string(self.organisation)
        writer.u8(roles_to_mask(self.roles))

    @classmethod
    def read(cls, reader: Reader) -> AddMember:
        return cls(reader.fixed(ADDRESS_BYTES, "member.address"),
                   reader.string("member.organisation"), mask_to_roles(reader.u8("member.roles")))

    def target_organisation(self, state: StateReader) -> str | None:
        return self.organisation

    def plan(self, state: StateReader, height: int) -> Writes:
        _organisation(state, self.organisation)
        existing = load_member(state, self.address)
        if existing is not None:
            raise _reject(ALREADY_MEMBER, f"{format_address(self.address)} is already a member "
                          f"of {existing.organisation}")
        return _member_writes(Member(self.address, self.organisation, self.roles))


@dataclass(frozen=True)
class RemoveMember(Action):
    TAG: ClassVar[int] = 4
    NAME: ClassVar[str] = "remove_member"
    address: bytes

    def __post_init__(self) -> None:
        check_address("member address", self.address)

    def write_fields(self, writer: Writer) -> None:
        writer.fixed(self.address, ADDRESS_BYTES)

    @classmethod
    def read(cls, reader: Reader) -> RemoveMember:
        return cls(reader.fixed(ADDRESS_BYTES, "member.address"))

    def target_organisation(self, state: StateReader) -> str | None:
        member = load_member(state, self.address)
        return None if member is None else member.organisation

    def plan(self, state: StateReader, height: int) -> Writes:
        member = _member(state, self.address)
        return {member_key(self.address): None,
                organisation_member_key(member.organisation, self.address): None}


@dataclass(frozen=True)
class GrantRole(Action):
    TAG: ClassVar[int] = 5
    NAME: ClassVar[str] = "grant_role"
    address: bytes
    role: Role

    def __post_init__(self) -> None:
        check_address("member address", self.address)
        if not isinstance(self.role, Role):
            raise ValueError("unknown role")

    def write_fields(self, writer: Writer) -> None:
        writer.fixed(self.address, ADDRESS_BYTES).u8(self.role.value)

    @classmethod
    def read(cls, reader: Reader) -> GrantRole:
        address = reader.fixed(ADDRESS_BYTES, "member.address")
        return cls(address, _read_role(reader))

    def target_organisation(self, state: StateReader) -> str | None:
        member = load_member(state, self.address)
        return None if member is None else member.organisation

    def new_roles(self, member: Member) -> frozenset[Role]:
        if self.role in member.roles:
            raise _reject(ROLE_UNCHANGED, f"the member already has role {self.role.text}")
        return member.roles | {self.role}

    def plan(self, state: StateReader, height: int) -> Writes:
        member = _member(state, self.address)
        roles = self.new_roles(member)
        return {member_key(self.address): Member(self.address, member.organisation, roles).encode()}


@dataclass(frozen=True)
class RevokeRole(GrantRole):
    TAG: ClassVar[int] = 6
    NAME: ClassVar[str] = "revoke_role"

    def new_roles(self, member: Member) -> frozenset[Role]:
        if self.role not in member.roles:
            raise _reject(ROLE_UNCHANGED, f"the member has no role {self.role.text}")
        if member.roles == {self.role}:
            raise _reject(ROLE_UNCHANGED, "a member keeps at least one role: remove the member")
        return member.roles - {self.role}

    @classmethod
    def read(cls, reader: Reader) -> RevokeRole:
        address = reader.fixed(ADDRESS_BYTES, "member.address")
        return cls(address, _read_role(reader))


def _read_role(reader: Reader) -> Role:
    value = reader.u8("role")
    if value not in Role._value2member_map_:
        raise ValueError(f"unknown role bit {value}")
    return Role(value)


@dataclass(frozen=True)
class AddValidator(Action):
    TAG: ClassVar[int] = 7
    NAME: ClassVar[str] = "add_validator"
    validator: Validator

    def write_fields(self, writer: Writer) -> None:
        self.validator.write(writer)

    @classmethod
    def read(cls, reader: Reader) -> AddValidator:
        return cls(Validator.read(reader))

    def target_organisation(self, state: StateReader) -> str | None:
        return self.validator.organisation

    def plan(self, state: StateReader, height: int) -> Writes:
        _organisation(state, self.validator.organisation)
        current = _latest_set(state)
        if current.get(self.validator.address) is not None:
            raise _reject(VALIDATOR_EXISTS, f"{format_address(self.validator.address)} is "
                          "already a validator")
        if len(current.validators) >= VALIDATORS_MAX:
            raise _reject(LIMIT_REACHED, f"a network has at most {VALIDATORS_MAX} validators")
        return _validator_set_writes([*current.validators, self.validator], height)


@dataclass(frozen=True)
class RemoveValidator(Action):
    TAG: ClassVar[int] = 8
    NAME: ClassVar[str] = "remove_validator"
    address: bytes

    def __post_init__(self) -> None:
        check_address("validator address", self.address)

    def write_fields(self, writer: Writer) -> None:
        writer.fixed(self.address, ADDRESS_BYTES)

    @classmethod
    def read(cls, reader: Reader) -> RemoveValidator:
        return cls(reader.fixed(ADDRESS_BYTES, "validator.address"))

    def _existing(self, state: StateReader) -> tuple[ValidatorSet, Validator]:
        current = _latest_set(state)
        validator = current.get(self.address)
        if validator is None:
            raise _reject(UNKNOWN_VALIDATOR, f"{format_address(self.address)} is not a validator")
        return current, validator

    def target_organisation(self, state: StateReader) -> str | None:
        validator = _latest_set(state).get(self.address)
        return None if validator is None else validator.organisation

    def plan(self, state: StateReader, height: int) -> Writes:
        current, _ = self._existing(state)
        remaining = [v for v in current.validators if v.address != self.address]
        return _validator_set_writes(remaining, height)


@dataclass(frozen=True)
class SetValidatorPower(RemoveValidator):
    TAG: ClassVar[int] = 9
    NAME: ClassVar[str] = "set_validator_power"
    power: int = 1

    def write_fields(self, writer: Writer) -> None:
        writer.fixed(self.address, ADDRESS_BYTES).u64(self.power)

    @classmethod
    def read(cls, reader: Reader) -> SetValidatorPower:
        return cls(reader.fixed(ADDRESS_BYTES, "validator.address"),
                   reader.u64("validator.power"))

    def plan(self, state: StateReader, height: int) -> Writes:
        current, validator = self._existing(state)
        try:
            changed = Validator(validator.public_key, self.power, validator.organisation)
        except ValueError as error:
            raise _reject(BAD_VALIDATOR_SET, str(error)) from None
        others = [v for v in current.validators if v.address != self.address]
        return _validator_set_writes([*others, changed], height)


@dataclass(frozen=True)
class SetZonePolicy(Action):
    TAG: ClassVar[int] = 10
    NAME: ClassVar[str] = "set_zone_policy"
    zone: str
    slot: str
    policy: Policy

    def __post_init__(self) -> None:
        check_identifier("zone name", self.zone)
        if self.slot not in ZONE_POLICY_SLOTS:
            raise ValueError(f"zone policy slot must be one of {', '.join(ZONE_POLICY_SLOTS)}")

    def write_fields(self, writer: Writer) -> None:
        writer.string(self.zone).u8(ZONE_POLICY_SLOTS.index(self.slot))
        self.policy.write(writer)

    @classmethod
    def read(cls, reader: Reader) -> SetZonePolicy:
        zone = reader.string("zone.name")
        slot = reader.u8("zone.slot")
        if slot >= len(ZONE_POLICY_SLOTS):
            raise ValueError(f"unknown zone policy slot {slot}")
        return cls(zone, ZONE_POLICY_SLOTS[slot], read_policy(reader))

    def scope(self, state: StateReader) -> str | None:
        return self.zone

    def plan(self, state: StateReader, height: int) -> Writes:
        zone = load_zone(state, self.zone)
        if zone is None:
            raise _reject(UNKNOWN_ZONE, f"zone {self.zone} does not exist")
        policies = {slot: zone.policy(slot) for slot in ZONE_POLICY_SLOTS}
        policies[self.slot] = self.policy
        updated = Zone(zone.name, description=zone.description, **policies)
        return {zone_key(zone.name): updated.encode()}


class _ContractAction(Action):
    contract: bytes

    def scope(self, state: StateReader) -> str | None:
        return _contract(state, self.contract).zone

    def target_organisation(self, state: StateReader) -> str | None:
        metadata = load_contract_metadata(state, self.contract)
        if metadata is None:
            return None
        deployer = load_member(state, metadata.deployer)
        return None if deployer is None else deployer.organisation


@dataclass(frozen=True)
class SetContractPolicy(_ContractAction):
    TAG: ClassVar[int] = 11
    NAME: ClassVar[str] = "set_contract_policy"
    contract: bytes
    policy: Policy | None

    def __post_init__(self) -> None:
        check_address("contract address", self.contract)

    def write_fields(self, writer: Writer) -> None:
        writer.fixed(self.contract, ADDRESS_BYTES)
        writer.optional(self.policy, lambda w, policy: policy.write(w))

    @classmethod
    def read(cls, reader: Reader) -> SetContractPolicy:
        return cls(reader.fixed(ADDRESS_BYTES, "contract"), reader.optional(read_policy, "policy"))

    def plan(self, state: StateReader, height: int) -> Writes:
        _contract(state, self.contract)
        value = None if self.policy is None else encode_contract_policy(self.policy)
        return {contract_policy_key(self.contract): value}


@dataclass(frozen=True)
class UpgradeContract(_ContractAction):
    TAG: ClassVar[int] = 12
    NAME: ClassVar[str] = "upgrade_contract"
    contract: bytes
    code_hash: bytes

    def __post_init__(self) -> None:
        check_address("contract address", self.contract)
        if len(self.code_hash) != CODE_HASH_BYTES:
            raise ValueError(f"code hash must be {CODE_HASH_BYTES} bytes")

    def write_fields(self, writer: Writer) -> None:
        writer.fixed(self.contract, ADDRESS_BYTES).fixed(self.code_hash, CODE_HASH_BYTES)

    @classmethod
    def read(cls, reader: Reader) -> UpgradeContract:
        return cls(reader.fixed(ADDRESS_BYTES, "contract"),
                   reader.fixed(CODE_HASH_BYTES, "code_hash"))

    def plan(self, state: StateReader, height: int) -> Writes:
        metadata = _contract(state, self.contract)
        if state.get(code_key(self.code_hash)) is None:
            raise _reject(UNKNOWN_CODE, f"code {self.code_hash.hex()} is not stored: deploy a "
                          "contract with it first")
        upgraded = ContractMetadata(self.code_hash, metadata.zone, metadata.deployer,
                                    metadata.frozen)
        return {contract_meta_key(self.contract): upgraded.encode()}


@dataclass(frozen=True)
class FreezeContract(_ContractAction):
    TAG: ClassVar[int] = 13
    NAME: ClassVar[str] = "freeze_contract"
    FROZEN: ClassVar[bool] = True
    contract: bytes

    def __post_init__(self) -> None:
        check_address("contract address", self.contract)

    def write_fields(self, writer: Writer) -> None:
        writer.fixed(self.contract, ADDRESS_BYTES)

    @classmethod
    def read(cls, reader: Reader) -> FreezeContract:
        return cls(reader.fixed(ADDRESS_BYTES, "contract"))

    def plan(self, state: StateReader, height: int) -> Writes:
        metadata = _contract(state, self.contract)
        if metadata.frozen == self.FROZEN:
            state_name = "frozen" if metadata.frozen else "live"
            raise _reject(FROZEN_UNCHANGED, f"the contract is already {state_name}")
        changed = ContractMetadata(metadata.code_hash, metadata.zone, metadata.deployer,
                                   self.FROZEN)
        return {contract_meta_key(self.contract): changed.encode()}


@dataclass(frozen=True)
class UnfreezeContract(FreezeContract):
    TAG: ClassVar[int] = 14
    NAME: ClassVar[str] = "unfreeze_contract"
    FROZEN: ClassVar[bool] = False

    @classmethod
    def read(cls, reader: Reader) -> UnfreezeContract:
        return cls(reader.fixed(ADDRESS_BYTES, "contract"))


ACTION_TYPES: Final[tuple[type[Action], ...]] = (
    AddOrganisation, RemoveOrganisation, AddMember, RemoveMember, GrantRole, RevokeRole,
    AddValidator, RemoveValidator, SetValidatorPower, SetZonePolicy, SetContractPolicy,
    UpgradeContract, FreezeContract, UnfreezeContract,
)
ACTION_BY_TAG: Final = {action.TAG: action for action in ACTION_TYPES}


def read_action(reader: Reader) -> Action:
    """Read one action (tag + fields); ValueError / DecodeError / PolicyError on bad bytes."""
    start = reader.offset
    tag = reader.u8("action tag")
    action_type = ACTION_BY_TAG.get(tag)
    if action_type is None:
        raise DecodeError(f"unknown governance action tag {tag}", start)
    action: Action = action_type.read(reader)  # type: ignore[attr-defined]
    return action


__all__ = [
    "ACTION_TYPES", "ADMIN_KEYS_MAX", "VALIDATOR_CHANGE_DELAY", "Action", "AddMember",
    "AddOrganisation", "AddValidator", "FreezeContract", "GrantRole", "RemoveMember",
    "RemoveOrganisation", "RemoveValidator", "RevokeRole", "SetContractPolicy",
    "SetValidatorPower", "SetZonePolicy", "UnfreezeContract", "UpgradeContract", "read_action",
]
