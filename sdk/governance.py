"""Governance from the SDK: typed actions, proposal and approval transactions, proposal reads.

    action = governance.add_validator(public_key, power=10, organisation="central-bank")
    result = client.propose(admin_key, action, lifetime_blocks=1_000)   # GovernanceResult
    result = client.approve(other_admin_key, result.proposal_id)        # ... until executed
    client.proposal(result.proposal_id)                                  # ProposalView

Guarantees:
- Every action builder checks its inputs the way the node will (it builds the
  node's own action record from ``zonechain.node.permissions.actions``) and
  raises ``InvalidTransaction`` naming what is wrong; nothing is signed or
  sent with a malformed action. Addresses are accepted as 20 bytes, ``zc...``
  text or ``0x`` + hex, public keys as 32 bytes or 64 hex digits, roles and policies as text.
- ``build_proposal`` / ``build_approval`` produce the same body bytes as
  ``zonechain.node.permissions.governance.encode_body`` (that function is
  used), inside a ``GovernancePayload`` transaction.
- ``GovernanceResult`` reads the outcome from the receipt alone: the proposal
  id is the receipt's return data (u64 little-endian), ``executed`` /
  ``failed`` are the ``governance/executed`` / ``governance/failed`` events
  emitted from ``GOVERNANCE_ADDRESS``.
- ``decode_proposal`` decodes a raw proposal record read from state (the key
  is ``proposal_key(id)``); a damaged record raises ``NodeError``, never a
  bare decoding exception.

Governance transactions cost no gas (node/permissions/hooks.py); the zone field
of the transaction is not consulted by governance (each action's own scope
decides its threshold), so ``GOVERNANCE_ZONE`` is only a valid placeholder.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from zonechain.node.permissions.actions import (
    Action,
    AddMember,
    AddOrganisation,
    AddValidator,
    FreezeContract,
    GrantRole,
    RemoveMember,
    RemoveOrganisation,
    RemoveValidator,
    RevokeRole,
    SetContractPolicy,
    SetValidatorPower,
    SetZonePolicy,
    UnfreezeContract,
    UpgradeContract,
)
from zonechain.node.permissions.errors import PolicyError, RecordDamaged
from zonechain.node.permissions.governance import (
    GOVERNANCE_ADDRESS,
    PROPOSAL_LIFETIME_MAX,
    TOPIC_EXECUTED,
    TOPIC_FAILED,
    Approve,
    Proposal,
    ProposalStatus,
    Propose,
    encode_body,
)
from zonechain.node.permissions.model import Organisation, Validator, decode_record
from zonechain.node.permissions.policy import ROLE_BY_NAME, Policy, Role, parse_policy
from zonechain.node.permissions.store import NEXT_PROPOSAL_ID_KEY, proposal_key
from zonechain.node.types.address import format_address
from zonechain.node.types.errors import MalformedMessage
from zonechain.node.types.receipt import Receipt
from zonechain.node.types.transaction import GovernancePayload, Transaction
from zonechain.sdk.errors import InvalidTransaction, NodeError
from zonechain.sdk.keys import Key
from zonechain.sdk.transactions import to_address
from zonechain.vm.encoding import DecodeError

T = TypeVar("T")

GOVERNANCE_ZONE: Final = "governance"
"""The zone field of governance transactions: any valid zone name would do
(governance ignores it; the action decides whose policy applies)."""
GOVERNANCE_GAS_LIMIT: Final = 1_000_000
"""Governance costs no gas today; the limit only has to be a valid one."""
PROPOSAL_LIFETIME_DEFAULT: Final = 1_000
"""Blocks a proposal stays open by default: minutes on a devnet, long enough for
officers of other organisations to approve; at most PROPOSAL_LIFETIME_MAX."""
PUBLIC_KEY_BYTES: Final = 32
U64_BYTES: Final = 8

__all__ = [
    "GOVERNANCE_GAS_LIMIT", "GOVERNANCE_ZONE", "NEXT_PROPOSAL_ID_KEY",
    "PROPOSAL_LIFETIME_DEFAULT", "PROPOSAL_LIFETIME_MAX", "Action", "GovernanceResult",
    "Proposal", "ProposalStatus", "ProposalView", "add_member", "add_organisation",
    "add_validator", "build_approval", "build_proposal", "decode_next_id", "decode_proposal",
    "freeze_contract", "grant_role", "proposal_key", "public_key_bytes", "remove_member",
    "remove_organisation", "remove_validator", "revoke_role", "set_contract_policy",
    "set_validator_power", "set_zone_policy", "unfreeze_contract", "upgrade_contract",
]


# ---- checked construction ------------------------------------------------------------


def _checked(what: str, make: Callable[[], T]) -> T:
    """``make()``, with the node's ValueError / PolicyError turned into InvalidTransaction."""
    try:
        return make()
    except (ValueError, PolicyError, TypeError) as error:
        raise InvalidTransaction(f"{what}: {error}") from None


def public_key_bytes(value: bytes | str, what: str = "public key") -> bytes:
    """32 ed25519 public-key bytes from bytes or (optionally 0x-prefixed) hex text."""
    if isinstance(value, str):
        try:
            value = bytes.fromhex(value.removeprefix("0x"))
        except ValueError:
            raise InvalidTransaction(f"{what}: not hex text") from None
    if not isinstance(value, bytes | bytearray) or len(value) != PUBLIC_KEY_BYTES:
        raise InvalidTransaction(f"{what}: expected {PUBLIC_KEY_BYTES} bytes "
                                 f"({2 * PUBLIC_KEY_BYTES} hex digits)")
    return bytes(value)


def _address(value: bytes | str, what: str) -> bytes:
    """``to_address``, also taking ``0x`` + 40 hex digits (as the CLI's JSON arguments do)."""
    if isinstance(value, str) and value.startswith("0x"):
        try:
            value = bytes.fromhex(value[2:])
        except ValueError:
            raise InvalidTransaction(f"{what}: not hex text") from None
    return to_address(value, what)


def _role(name: str | Role) -> Role:
    if isinstance(name, Role):
        return name
    role = ROLE_BY_NAME.get(name)
    if role is None:
        raise InvalidTransaction(f"unknown role {name!r}: expected one of "
                                 + ", ".join(ROLE_BY_NAME))
    return role


def _policy(value: str | Policy, what: str) -> Policy:
    if isinstance(value, Policy):
        return value
    return _checked(what, lambda: parse_policy(value))


# ---- action builders (one per node action) ------------------------------------------


def add_organisation(organisation: str, name: str,
                     admin_keys: Iterable[bytes | str] = ()) -> AddOrganisation:
    """A new organisation; each admin key becomes an ``admin`` member."""
    keys = sorted({public_key_bytes(key, "admin key") for key in admin_keys})
    return _checked("add_organisation",
                    lambda: AddOrganisation(Organisation(organisation, name, tuple(keys))))


def remove_organisation(organisation: str) -> RemoveOrganisation:
    return _checked("remove_organisation", lambda: RemoveOrganisation(organisation))


def add_member(address: bytes | str, organisation: str,
               roles: Iterable[str | Role]) -> AddMember:
    """``address`` joins ``organisation`` with ``roles`` (names such as "deployer")."""
    account = _address(address, "member address")
    chosen = frozenset(_role(role) for role in roles)
    return _checked("add_member", lambda: AddMember(account, organisation, chosen))


def remove_member(address: bytes | str) -> RemoveMember:
    return _checked("remove_member", lambda: RemoveMember(_address(address, "member")))


def grant_role(address: bytes | str, role: str | Role) -> GrantRole:
    account, chosen = _address(address, "member address"), _role(role)
    return _checked("grant_role", lambda: GrantRole(account, chosen))


def revoke_role(address: bytes | str, role: str | Role) -> RevokeRole:
    account, chosen = _address(address, "member address"), _role(role)
    return _checked("revoke_role", lambda: RevokeRole(account, chosen))


def add_validator(public_key: bytes | str, power: int, organisation: str) -> AddValidator:
    """A validator owned by ``organisation``; it signs from the execution height + 2."""
    key = public_key_bytes(public_key, "validator public key")
    return _checked("add_validator", lambda: AddValidator(Validator(key, power, organisation)))


def remove_validator(address: bytes | str) -> RemoveValidator:
    """``address``: the validator's account address (its public key's address)."""
    account = _address(address, "validator address")
    return _checked("remove_validator", lambda: RemoveValidator(account))


def set_validator_power(address: bytes | str, power: int) -> SetValidatorPower:
    account = _address(address, "validator address")
    return _checked("set_validator_power", lambda: SetValidatorPower(account, power))


def set_zone_policy(zone: str, slot: str, policy: str | Policy) -> SetZonePolicy:
    """Replace ``zone``'s ``slot`` (deploy, call, read, governance) policy."""
    chosen = _policy(policy, "set_zone_policy")
    return _checked("set_zone_policy", lambda: SetZonePolicy(zone, slot, chosen))


def set_contract_policy(contract: bytes | str, policy: str | Policy | None) -> SetContractPolicy:
    """A contract's own call policy (None: back to its zone's)."""
    address = _address(contract, "contract")
    chosen = None if policy is None else _policy(policy, "set_contract_policy")
    return _checked("set_contract_policy", lambda: SetContractPolicy(address, chosen))


def upgrade_contract(contract: bytes | str, code_hash: bytes | str) -> UpgradeContract:
    address = _address(contract, "contract")
    if isinstance(code_hash, str):
        code_hash = public_key_bytes(code_hash, "code hash")  # also 32 bytes of hex
    return _checked("upgrade_contract", lambda: UpgradeContract(address, bytes(code_hash)))


def freeze_contract(contract: bytes | str) -> FreezeContract:
    address = _address(contract, "contract")
    return _checked("freeze_contract", lambda: FreezeContract(address))


def unfreeze_contract(contract: bytes | str) -> UnfreezeContract:
    address = _address(contract, "contract")
    return _checked("unfreeze_contract", lambda: UnfreezeContract(address))


# ---- transactions ---------------------------------------------------------------------


def _governance_tx(chain_id: str, sender: Key, nonce: int, body: bytes, zone: str,
                   gas_limit: int) -> Transaction:
    return _checked("invalid governance transaction", lambda: Transaction(
        chain_id, sender.public_key, nonce, gas_limit, zone, GovernancePayload(body)))


def build_proposal(
    *, chain_id: str, sender: Key, nonce: int, action: Action, expiry_height: int,
    zone: str = GOVERNANCE_ZONE, gas_limit: int = GOVERNANCE_GAS_LIMIT,
) -> Transaction:
    """An unsigned PROPOSE of ``action``, open for approvals up to ``expiry_height``.

    The node requires ``height < expiry_height <= height + PROPOSAL_LIFETIME_MAX``
    at the block that executes it (else the receipt says ``bad_expiry``).
    """
    if not isinstance(action, Action):
        raise InvalidTransaction(f"action: expected a governance action, got {action!r:.60}")
    if isinstance(expiry_height, bool) or not isinstance(expiry_height, int) \
            or expiry_height < 1:
        raise InvalidTransaction("expiry_height must be a positive block height")
    body = _checked("proposal", lambda: encode_body(Propose(action, expiry_height)))
    return _governance_tx(chain_id, sender, nonce, body, zone, gas_limit)


def build_approval(
    *, chain_id: str, sender: Key, nonce: int, proposal_id: int,
    zone: str = GOVERNANCE_ZONE, gas_limit: int = GOVERNANCE_GAS_LIMIT,
) -> Transaction:
    """An unsigned APPROVE of proposal ``proposal_id``."""
    if isinstance(proposal_id, bool) or not isinstance(proposal_id, int) or proposal_id < 1:
        raise InvalidTransaction("proposal_id must be a positive integer")
    body = _checked("approval", lambda: encode_body(Approve(proposal_id)))
    return _governance_tx(chain_id, sender, nonce, body, zone, gas_limit)


# ---- results and reads -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GovernanceResult:
    """A committed governance transaction: its receipt and what it did to the proposal."""

    receipt: Receipt
    proposal_id: int
    executed: bool
    failed: bool

    @classmethod
    def from_receipt(cls, receipt: Receipt) -> GovernanceResult:
        if len(receipt.return_data) != U64_BYTES:
            raise NodeError(f"a governance receipt returns a u64 proposal id, got "
                            f"{len(receipt.return_data)} bytes")
        topics = {event.topic for event in receipt.events
                  if event.contract == GOVERNANCE_ADDRESS}
        return cls(receipt, int.from_bytes(receipt.return_data, "little"),
                   TOPIC_EXECUTED in topics, TOPIC_FAILED in topics)


@dataclass(frozen=True, slots=True)
class ProposalView:
    """A proposal as read from state at ``height`` (``status``: open, expired, executed, failed)."""

    proposal: Proposal
    height: int

    @property
    def id(self) -> int:
        return self.proposal.id

    @property
    def status(self) -> str:
        return self.proposal.status_at(self.height)

    def to_json(self) -> dict[str, Any]:
        """The proposal as JSON: addresses as zc text, the action as its name and fields."""
        proposal = self.proposal
        return {"id": proposal.id, "status": self.status, "action": proposal.action.NAME,
                "fields": action_fields(proposal.action),
                "proposer": format_address(proposal.proposer),
                "approvals": [format_address(a) for a in proposal.approvals],
                "created_height": proposal.created_height,
                "expiry_height": proposal.expiry_height,
                "closed_height": proposal.closed_height or None,
                "result": proposal.result, "height": self.height}


def action_fields(action: Action) -> dict[str, Any]:
    """An action's fields as JSON values (for display; the bytes are canonical on chain)."""
    return {field.name: _json_value(getattr(action, field.name))
            for field in dataclasses.fields(action)  # type: ignore[arg-type]
            if field.init}


def _json_value(value: object) -> Any:
    if isinstance(value, Validator):
        return {"public_key": value.public_key.hex(), "power": value.power,
                "organisation": value.organisation, "address": format_address(value.address)}
    if isinstance(value, Organisation):
        return {"id": value.id, "name": value.name,
                "admin_keys": [key.hex() for key in value.admin_keys]}
    if isinstance(value, Policy):
        return value.text
    if isinstance(value, Role):
        return value.text
    if isinstance(value, frozenset):
        return sorted(_json_value(item) for item in value)
    if isinstance(value, bytes):
        return format_address(value) if len(value) == 20 else value.hex()
    return value


def decode_proposal(data: bytes, height: int) -> ProposalView:
    """A raw proposal record (state key ``proposal_key(id)``) as seen at ``height``."""
    try:
        return ProposalView(Proposal.decode(data), height)
    except (RecordDamaged, DecodeError, MalformedMessage, ValueError, PolicyError) as error:
        raise NodeError(f"the node returned a damaged proposal record: {error}") from None


def decode_next_id(data: bytes | None) -> int:
    """The next proposal id from the raw ``NEXT_PROPOSAL_ID_KEY`` value (None: 1)."""
    if data is None:
        return 1
    try:
        return decode_record(data, "next proposal id", lambda r: r.u64("next id"))
    except (RecordDamaged, DecodeError, ValueError) as error:
        raise NodeError(f"the node returned a damaged next-proposal-id record: {error}") from None
