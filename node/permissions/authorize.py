"""Who may deploy, call and read in a zone: ``authorize``.

``authorize(state, action, zone, sender, contract=None)`` returns None when
the zone's policy for ``action`` admits ``sender``, and raises
``PermissionDenied(code, message)`` otherwise. The message names the rule
and what the sender holds, e.g. "deploy to zone trade-finance requires ANY
deployer: sender (organisation bank-a) has role client".

Which policy applies:
    deploy   the zone's deploy policy
    call     the contract's own call policy (b"gk" + address) if one is set,
             else the zone's call policy
    read     the zone's read policy (queries)

The sender's approvals are its member record: one (organisation, role) pair
per role. SELF's target organisation is that of the contract's deployer (call,
read) or the sender's own (deploy). A call or read that names a zone other
than the contract's own is refused (``zone_mismatch``): otherwise a caller
could pick the most permissive zone.

The mempool calls this at admission (cheap, may be stale) and the executor,
authoritatively, against the state in front of each transaction.

Determinism: a pure function of state; messages hold only ids, role names
and the policy text.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from zonechain.node.permissions.errors import PermissionDenied
from zonechain.node.permissions.model import Member
from zonechain.node.permissions.policy import (
    Approval,
    EvaluationContext,
    Policy,
    evaluate,
    roles_text,
)
from zonechain.node.permissions.store import (
    load_contract_metadata,
    load_contract_policy,
    load_member,
    load_zone,
    organisation_ids,
)
from zonechain.node.types.address import format_address
from zonechain.vm.state import StateReader

ACTIONS: Final = ("deploy", "call", "read")

# PermissionDenied codes (stable; they land in receipts and mempool rejections).
UNKNOWN_ZONE: Final = "unknown_zone"
ZONE_MISMATCH: Final = "zone_mismatch"
NOT_PERMITTED: Final = "not_permitted"


def approvals_of(member: Member | None) -> frozenset[Approval]:
    if member is None:
        return frozenset()
    return frozenset((member.organisation, role) for role in member.roles)


def approvals_from_signers(state: StateReader, signers: Iterable[bytes]) -> frozenset[Approval]:
    """The (organisation, role) approvals of signer addresses; non-members add nothing."""
    found: set[Approval] = set()
    for signer in sorted(set(signers)):
        found |= approvals_of(load_member(state, signer))
    return frozenset(found)


def describe_sender(member: Member | None) -> str:
    if member is None:
        return "sender is not a member of any organisation"
    roles = sorted(member.roles)
    noun = "role" if len(roles) == 1 else "roles"
    return f"sender (organisation {member.organisation}) has {noun} {roles_text(roles)}"


def _phrase(action: str, zone: str, contract: bytes | None) -> str:
    if action == "deploy":
        return f"deploy to zone {zone}"
    target = "" if contract is None else f" of contract {format_address(contract)}"
    return f"{action}{target} in zone {zone}"


def authorize(
    state: StateReader, action: str, zone: str, sender: bytes, contract: bytes | None = None,
) -> None:
    """None if ``sender`` may do ``action`` in ``zone``; ``PermissionDenied`` otherwise."""
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}: expected one of {', '.join(ACTIONS)}")
    zone_record = load_zone(state, zone)
    if zone_record is None:
        raise PermissionDenied(UNKNOWN_ZONE, f"zone {zone[:64]} does not exist")
    member = load_member(state, sender)
    target_organisation = None if member is None else member.organisation
    policy: Policy = zone_record.deploy if action == "deploy" else zone_record.read
    if action != "deploy" and contract is not None:
        metadata = load_contract_metadata(state, contract)
        if metadata is not None:
            if metadata.zone != zone:
                raise PermissionDenied(ZONE_MISMATCH, f"contract {format_address(contract)} is "
                                       f"in zone {metadata.zone}, not {zone}")
            deployer = load_member(state, metadata.deployer)
            target_organisation = None if deployer is None else deployer.organisation
    if action == "call":
        own = None if contract is None else load_contract_policy(state, contract)
        policy = own if own is not None else zone_record.call
    context = EvaluationContext(organisation_ids(state), target_organisation)
    decision = evaluate(policy, approvals_of(member), context)
    if not decision.allowed:
        raise PermissionDenied(
            NOT_PERMITTED,
            f"{_phrase(action, zone, contract)} requires {decision.rule}: "
            f"{describe_sender(member)}")
