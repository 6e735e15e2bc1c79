"""The genesis permissions section, and the state writes that install it.

Section (a JSON object; node/genesis_zones.json is the pilot template):

    {"network": {"governance": "MAJORITY admin",
                 "default_validator_organisation": "central-bank"},
     "organisations": [{"id": "bank-a", "name": "Commercial Bank A",
                        "admins": [ACCOUNT, ...],
                        "members": [{"account": ACCOUNT, "roles": ["deployer", "client"]}],
                        "validators": [VALIDATOR, ...]}],
     "zones": [{"name": "trade-finance", "description": "...",
                "deploy": POLICY, "call": POLICY, "read": POLICY, "governance": POLICY}]}

ACCOUNT is a genesis account name (resolved through ``accounts``: name ->
ed25519 public key), a 64-hex-digit public key, or (members only) a ``zc...``
address. Admins become members with role ``admin`` (plus any roles the same
account is given under ``members``). VALIDATOR is a genesis validator name
or public key in hex; each genesis validator belongs to the organisation that
lists it, or else to ``network.default_validator_organisation``. POLICY is
policy text (policy.py). ``network`` may be omitted: the network governance
policy is then ``NETWORK_GOVERNANCE_DEFAULT``.

``genesis_state_writes`` checks everything (unknown keys, duplicates, an
account in two organisations, policies naming unknown organisations, an
unowned validator) and raises ``GenesisPermissionsError`` naming the dotted
key; it returns the writes of the initial state (height 0), sorted by key.

Determinism: the writes depend only on the section, the accounts and the
validators; JSON object order does not matter.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from importlib import resources
from typing import Final, Protocol

from zonechain.node.permissions.errors import GenesisPermissionsError, PolicyError
from zonechain.node.permissions.model import (
    ZONE_POLICY_SLOTS,
    Member,
    Network,
    Organisation,
    Validator,
    ValidatorSet,
    Zone,
)
from zonechain.node.permissions.policy import ROLE_BY_NAME, Policy, Role, parse_policy
from zonechain.node.permissions.store import (
    NETWORK_KEY,
    member_key,
    organisation_key,
    organisation_member_key,
    validator_set_key,
    zone_key,
)
from zonechain.node.types.address import account_address, parse_address

NETWORK_GOVERNANCE_DEFAULT: Final = "MAJORITY admin"
"""Without a network section: a majority of organisations' admins, the
DESIGN's "threshold of organisation admins"."""

TEMPLATE_RESOURCE: Final = "genesis_zones.json"
"""The pilot template, shipped as package data of zonechain.node."""

_SECTION_KEYS: Final = frozenset({"network", "organisations", "zones"})
_NETWORK_KEYS: Final = frozenset({"governance", "default_validator_organisation"})
_ORGANISATION_KEYS: Final = frozenset({"id", "name", "admins", "members", "validators"})
_MEMBER_KEYS: Final = frozenset({"account", "roles"})
_ZONE_KEYS: Final = frozenset({"name", "description", *ZONE_POLICY_SLOTS})


class GenesisValidatorLike(Protocol):
    """What genesis_state_writes needs of a genesis validator (node/config.py has it)."""

    @property
    def name(self) -> str: ...
    @property
    def public_key(self) -> bytes: ...
    @property
    def power(self) -> int: ...


def load_template() -> dict[str, object]:
    """The pilot genesis section (15 zones, example organisations) shipped with the package."""
    text = resources.files("zonechain.node").joinpath(TEMPLATE_RESOURCE).read_text("utf-8")
    loaded: dict[str, object] = json.loads(text)
    return loaded


def template_account_names(section: Mapping[str, object]) -> tuple[str, ...]:
    """Account names the section refers to (``zonechain init`` creates keys for them)."""
    names: set[str] = set()
    for organisation in _list(section, "organisations", "organisations"):
        if isinstance(organisation, Mapping):
            for admin in organisation.get("admins", []) or []:
                if isinstance(admin, str) and not _is_hex_key(admin):
                    names.add(admin)
            for member in organisation.get("members", []) or []:
                account = member.get("account") if isinstance(member, Mapping) else None
                if isinstance(account, str) and not _is_hex_key(account) \
                        and not account.startswith("zc"):
                    names.add(account)
    return tuple(sorted(names))


# ---- checking helpers ---------------------------------------------------------------


def _object(value: object, key: str, allowed: frozenset[str]) -> Mapping[str, object]:
    if not isinstance(value, Mapping):
        raise GenesisPermissionsError(key, "must be an object")
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise GenesisPermissionsError(f"{key}.{unknown[0]}", "unknown key")
    return value


def _list(value: Mapping[str, object], name: str, key: str) -> list[object]:
    found = value.get(name, [])
    if not isinstance(found, list):
        raise GenesisPermissionsError(key, "must be a list")
    return found


def _text(value: Mapping[str, object], name: str, key: str, default: str | None = None) -> str:
    found = value.get(name, default)
    if not isinstance(found, str):
        raise GenesisPermissionsError(f"{key}.{name}", "must be text")
    return found


def _is_hex_key(text: str) -> bool:
    return len(text) == 64 and all(c in "0123456789abcdef" for c in text)


def _public_key(reference: object, accounts: Mapping[str, bytes], key: str) -> bytes:
    if isinstance(reference, str) and _is_hex_key(reference):
        return bytes.fromhex(reference)
    if isinstance(reference, str) and reference in accounts:
        return accounts[reference]
    raise GenesisPermissionsError(key, f"{str(reference)[:64]!r} is neither a genesis account "
                                  "name nor a hex public key")


def _address(reference: object, accounts: Mapping[str, bytes], key: str) -> bytes:
    if isinstance(reference, str) and reference.startswith("zc"):
        try:
            return parse_address(reference)
        except ValueError as error:
            raise GenesisPermissionsError(key, str(error)) from None
    return account_address(_public_key(reference, accounts, key))


def _policy(zone: Mapping[str, object], slot: str, key: str) -> Policy:
    try:
        return parse_policy(_text(zone, slot, key))
    except PolicyError as error:
        raise GenesisPermissionsError(f"{key}.{slot}", str(error)) from None


def _roles(value: object, key: str) -> frozenset[Role]:
    if not isinstance(value, list) or not value:
        raise GenesisPermissionsError(key, "must be a non-empty list of roles")
    roles = set()
    for index, name in enumerate(value):
        role = ROLE_BY_NAME.get(name) if isinstance(name, str) else None
        if role is None or role in roles:
            raise GenesisPermissionsError(f"{key}[{index}]", "unknown or repeated role; "
                                          "expected " + ", ".join(ROLE_BY_NAME))
        roles.add(role)
    return frozenset(roles)


# ---- building ---------------------------------------------------------------------------


def _organisation(
    value: object, key: str, accounts: Mapping[str, bytes],
) -> tuple[Organisation, dict[bytes, frozenset[Role]]]:
    entry = _object(value, key, _ORGANISATION_KEYS)
    admin_keys = sorted({_public_key(admin, accounts, f"{key}.admins[{index}]")
                         for index, admin in enumerate(_list(entry, "admins", f"{key}.admins"))})
    try:
        organisation = Organisation(_text(entry, "id", key), _text(entry, "name", key),
                                    tuple(admin_keys))
    except ValueError as error:
        raise GenesisPermissionsError(key, str(error)) from None
    roles: dict[bytes, frozenset[Role]] = {
        address: frozenset({Role.ADMIN}) for address in organisation.admin_addresses}
    for index, member_value in enumerate(_list(entry, "members", f"{key}.members")):
        member_key_path = f"{key}.members[{index}]"
        member = _object(member_value, member_key_path, _MEMBER_KEYS)
        address = _address(member.get("account"), accounts, f"{member_key_path}.account")
        roles[address] = roles.get(address, frozenset()) | _roles(
            member.get("roles"), f"{member_key_path}.roles")
    return organisation, roles


def _validators(
    section: Mapping[str, object], validators: Sequence[GenesisValidatorLike],
    default_owner: str | None,
) -> list[Validator]:
    owners: dict[bytes, str] = {}
    by_reference = {v.name: v.public_key for v in validators}
    by_reference.update({v.public_key.hex(): v.public_key for v in validators})
    for index, value in enumerate(_list(section, "organisations", "organisations")):
        assert isinstance(value, Mapping)
        key = f"organisations[{index}].validators"
        for position, reference in enumerate(_list(value, "validators", key)):
            public_key = by_reference.get(reference) if isinstance(reference, str) else None
            if public_key is None:
                raise GenesisPermissionsError(f"{key}[{position}]", "not a genesis validator")
            if public_key in owners:
                raise GenesisPermissionsError(f"{key}[{position}]", "validator already owned")
            owners[public_key] = str(value["id"])
    result = []
    for validator in validators:
        owner = owners.get(validator.public_key, default_owner)
        if owner is None:
            raise GenesisPermissionsError(
                "network.default_validator_organisation",
                f"validator {validator.name} belongs to no organisation")
        try:
            result.append(Validator(validator.public_key, validator.power, owner))
        except ValueError as error:
            raise GenesisPermissionsError(f"validators.{validator.name}", str(error)) from None
    return result


def _zone(value: object, key: str) -> Zone:
    entry = _object(value, key, _ZONE_KEYS)
    policies = {slot: _policy(entry, slot, key) for slot in ZONE_POLICY_SLOTS}
    try:
        return Zone(_text(entry, "name", key), description=_text(entry, "description", key, ""),
                    **policies)
    except ValueError as error:
        raise GenesisPermissionsError(key, str(error)) from None


def _check_policy_organisations(policies: dict[str, Policy], known: set[str]) -> None:
    for key, policy in sorted(policies.items()):
        for organisation in policy.organisations:
            if organisation not in known:
                raise GenesisPermissionsError(key, f"names unknown organisation {organisation}")


def genesis_state_writes(
    section: Mapping[str, object], *, accounts: Mapping[str, bytes] | None = None,
    validators: Sequence[GenesisValidatorLike] = (),
) -> dict[bytes, bytes]:
    """The initial state writes (height 0) of the permissions section (module docstring)."""
    section = _object(section, "permissions", _SECTION_KEYS)
    accounts = accounts or {}
    network_entry = _object(section.get("network", {}), "network", _NETWORK_KEYS)
    try:
        network = Network(parse_policy(_text(network_entry, "governance", "network",
                                             NETWORK_GOVERNANCE_DEFAULT)))
    except PolicyError as error:
        raise GenesisPermissionsError("network.governance", str(error)) from None
    writes: dict[bytes, bytes] = {NETWORK_KEY: network.encode()}
    policies = {"network.governance": network.governance}
    members: dict[bytes, str] = {}
    known: set[str] = set()
    for index, value in enumerate(_list(section, "organisations", "organisations")):
        key = f"organisations[{index}]"
        organisation, roles = _organisation(value, key, accounts)
        if organisation_key(organisation.id) in writes:
            raise GenesisPermissionsError(f"{key}.id", f"organisation {organisation.id} twice")
        writes[organisation_key(organisation.id)] = organisation.encode()
        known.add(organisation.id)
        for address, member_roles in sorted(roles.items()):
            if address in members:
                raise GenesisPermissionsError(key, "an account belongs to organisations "
                                              f"{members[address]} and {organisation.id}")
            members[address] = organisation.id
            writes[member_key(address)] = Member(address, organisation.id, member_roles).encode()
            writes[organisation_member_key(organisation.id, address)] = b""
    for index, value in enumerate(_list(section, "zones", "zones")):
        zone = _zone(value, f"zones[{index}]")
        if zone_key(zone.name) in writes:
            raise GenesisPermissionsError(f"zones[{index}].name", f"zone {zone.name} twice")
        writes[zone_key(zone.name)] = zone.encode()
        policies.update({f"zones[{index}].{slot}": zone.policy(slot) for slot in ZONE_POLICY_SLOTS})
    _check_policy_organisations(policies, known)
    default_owner = network_entry.get("default_validator_organisation")
    if default_owner is not None and default_owner not in known:
        raise GenesisPermissionsError("network.default_validator_organisation",
                                      f"names unknown organisation {default_owner}")
    if validators:
        chosen = _validators(section, validators, default_owner if isinstance(
            default_owner, str) else None)
        try:
            writes[validator_set_key(0)] = ValidatorSet.of(chosen).encode()
        except ValueError as error:
            raise GenesisPermissionsError("validators", str(error)) from None
    return dict(sorted(writes.items()))


class GenesisAccountLike(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def public_key(self) -> bytes: ...


class GenesisLike(Protocol):
    """What ``writes_for_genesis`` reads of node/config.py's ``Genesis``."""

    @property
    def zones(self) -> Sequence[object]: ...
    @property
    def organisations(self) -> Sequence[object]: ...
    @property
    def validators(self) -> Sequence[GenesisValidatorLike]: ...
    @property
    def accounts(self) -> Sequence[GenesisAccountLike]: ...


def writes_for_genesis(
    genesis: GenesisLike, network: Mapping[str, object] | None = None,
) -> dict[bytes, bytes]:
    """``genesis_state_writes`` for a loaded genesis file (its zones, organisations,
    accounts and validators). genesis.json has no network section yet: pass it here
    (e.g. ``load_template()["network"]``), else the defaults apply and every
    validator must be listed by an organisation. A genesis with neither zones nor
    organisations has no permissions: {} (an open chain)."""
    if not genesis.zones and not genesis.organisations:
        return {}
    section: dict[str, object] = {"organisations": list(genesis.organisations),
                                  "zones": list(genesis.zones)}
    if network is not None:
        section["network"] = dict(network)
    accounts = {account.name: account.public_key for account in genesis.accounts}
    return genesis_state_writes(section, accounts=accounts, validators=genesis.validators)
