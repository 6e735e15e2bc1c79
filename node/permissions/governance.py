"""Governance transactions: propose an action, approve it, execute it at the threshold.

Body of a governance transaction (``GovernancePayload.body``), canonical
(vm/encoding.py):

    u8 GOVERNANCE_BODY_VERSION (1)
    u8 kind   1 = PROPOSE: action (actions.py: u8 tag + fields), u64 expiry_height
              2 = APPROVE: u64 proposal id

``apply(state, sender, body, height)`` is pure over a ``StateReader``: it
returns a ``GovernanceOutcome`` holding EVERY write the transaction makes
(the executor commits them together) or an error and no writes at all.

Rules:
- only members (any role) may propose or approve (``not_a_member``);
- a proposal counts as its proposer's approval; each member approves once;
- the threshold is the governance policy of the action's zone (zone and
  contract actions) or of the network (organisations, members,
  validators); approvals count with the approvers' membership at the time
  of counting, so a removed member's approval no longer counts;
- when the approvals satisfy the policy the action executes in the same
  transaction, exactly once (status EXECUTED); if its preconditions no
  longer hold it is closed FAILED with the reason, and nothing of it is applied;
- a proposal may be approved up to and including its expiry height, which
  must lie in (height, height + PROPOSAL_LIFETIME_MAX]; after it, approvals
  are refused (``proposal_expired``) and it can never execute;
- every step emits an event from ``GOVERNANCE_ADDRESS`` (20 zero bytes):
  topics ``governance/proposed``, ``governance/approved``,
  ``governance/executed``, ``governance/failed``; data = u64 proposal id,
  20-byte actor address, string action name.

Determinism: integer heights only; approvals are kept sorted; the outcome is
a function of (state, sender, body, height).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Final

from zonechain.node.permissions.actions import Action, Writes, read_action
from zonechain.node.permissions.authorize import approvals_from_signers
from zonechain.node.permissions.errors import GovernanceRejected, PolicyError, RecordDamaged
from zonechain.node.permissions.model import decode_record, encode_record
from zonechain.node.permissions.policy import (
    EvaluationContext,
    Policy,
    RuleKind,
    evaluate,
)
from zonechain.node.permissions.store import (
    NEXT_PROPOSAL_ID_KEY,
    PREFIX_PROPOSAL,
    load_member,
    load_network,
    load_zone,
    organisation_ids,
    proposal_key,
    scan,
)
from zonechain.vm.encoding import DecodeError, EncodeError, Reader, Writer
from zonechain.vm.host.frame import Event
from zonechain.vm.state import ADDRESS_BYTES, StateReader

GOVERNANCE_BODY_VERSION: Final = 1
GOVERNANCE_ADDRESS: Final = bytes(ADDRESS_BYTES)
"""The emitter of governance events: no contract can have this address (it is
not a sha256 prefix anyone can aim for)."""

PROPOSAL_LIFETIME_MAX: Final = 100_000
"""Blocks a proposal may stay open (about a day at one block a second): long
enough for officers in other organisations to act, short enough that stale
proposals do not pile up."""

PROPOSE: Final = 1
APPROVE: Final = 2

# GovernanceRejected codes of the proposal flow (actions.py has the action ones).
BAD_BODY: Final = "bad_governance_body"
NOT_A_MEMBER: Final = "not_a_member"
BAD_EXPIRY: Final = "bad_expiry"
UNKNOWN_PROPOSAL: Final = "unknown_proposal"
PROPOSAL_CLOSED: Final = "proposal_closed"
PROPOSAL_EXPIRED: Final = "proposal_expired"
ALREADY_APPROVED: Final = "already_approved"
ACTION_FORBIDDEN: Final = "action_forbidden"
NO_GOVERNANCE: Final = "no_governance_policy"

TOPIC_PROPOSED: Final = b"governance/proposed"
TOPIC_APPROVED: Final = b"governance/approved"
TOPIC_EXECUTED: Final = b"governance/executed"
TOPIC_FAILED: Final = b"governance/failed"


class ProposalStatus(IntEnum):
    OPEN = 1
    EXECUTED = 2
    FAILED = 3


# ---- body ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Propose:
    action: Action
    expiry_height: int


@dataclass(frozen=True)
class Approve:
    proposal_id: int


Body = Propose | Approve


def encode_body(body: Body) -> bytes:
    """The canonical bytes of a governance body (what goes into ``GovernancePayload``)."""
    writer = Writer().u8(GOVERNANCE_BODY_VERSION)
    if isinstance(body, Propose):
        writer.u8(PROPOSE)
        body.action.write_fields(writer.u8(body.action.TAG))
        writer.u64(body.expiry_height)
    else:
        writer.u8(APPROVE).u64(body.proposal_id)
    return bytes(writer)


def decode_body(data: bytes) -> Body:
    """Strict decoding; ``GovernanceRejected(bad_governance_body)`` says what is wrong."""
    reader = Reader(data)
    try:
        version = reader.u8("governance.version")
        if version != GOVERNANCE_BODY_VERSION:
            raise DecodeError(f"governance body version {version} is not "
                              f"{GOVERNANCE_BODY_VERSION}", 0)
        kind = reader.u8("governance.kind")
        body: Body
        if kind == PROPOSE:
            body = Propose(read_action(reader), reader.u64("governance.expiry_height"))
        elif kind == APPROVE:
            body = Approve(reader.u64("governance.proposal_id"))
        else:
            raise DecodeError(f"unknown governance kind {kind}", 1)
        reader.finish("governance body")
    except (DecodeError, PolicyError, ValueError) as error:
        raise GovernanceRejected(BAD_BODY, str(error)) from None
    return body


# ---- proposals --------------------------------------------------------------------------


@dataclass(frozen=True)
class Proposal:
    id: int
    proposer: bytes
    action: Action
    expiry_height: int
    created_height: int
    approvals: tuple[bytes, ...]
    status: ProposalStatus = ProposalStatus.OPEN
    closed_height: int = 0
    result: str = ""
    """EXECUTED: ""; FAILED: "code: message"."""

    def encode(self) -> bytes:
        def write(writer: Writer) -> None:
            writer.u64(self.id).fixed(self.proposer, ADDRESS_BYTES)
            writer.u8(self.action.TAG)
            self.action.write_fields(writer)
            writer.u64(self.expiry_height).u64(self.created_height)
            writer.list(self.approvals, lambda w, a: w.fixed(a, ADDRESS_BYTES))
            writer.u8(self.status.value).u64(self.closed_height).string(self.result)
        return encode_record(write)

    @classmethod
    def decode(cls, data: bytes) -> Proposal:
        def read(reader: Reader) -> Proposal:
            proposal_id = reader.u64("proposal.id")
            proposer = reader.fixed(ADDRESS_BYTES, "proposal.proposer")
            action = read_action(reader)
            expiry, created = reader.u64("proposal.expiry"), reader.u64("proposal.created")
            approvals = tuple(reader.list(lambda r: r.fixed(ADDRESS_BYTES, "approval"),
                                          "proposal.approvals"))
            status = ProposalStatus(reader.u8("proposal.status"))
            return cls(proposal_id, proposer, action, expiry, created, approvals, status,
                       reader.u64("proposal.closed_height"), reader.string("proposal.result"))
        return decode_record(data, "proposal", read)

    def status_at(self, height: int) -> str:
        """"open", "expired", "executed" or "failed" as seen at ``height``."""
        if self.status is ProposalStatus.OPEN:
            return "expired" if height > self.expiry_height else "open"
        return self.status.name.lower()


def load_proposal(state: StateReader, proposal_id: int) -> Proposal | None:
    data = state.get(proposal_key(proposal_id))
    return None if data is None else Proposal.decode(data)


def list_proposals(state: StateReader) -> tuple[Proposal, ...]:
    """Every proposal ever made, in id order."""
    proposals = []
    for key in scan(state, PREFIX_PROPOSAL):
        data = state.get(key)
        assert data is not None
        proposals.append(Proposal.decode(data))
    return tuple(proposals)


def _next_proposal_id(state: StateReader) -> int:
    data = state.get(NEXT_PROPOSAL_ID_KEY)
    if data is None:
        return 1
    return decode_record(data, "next proposal id", lambda r: r.u64("next id"))


# ---- apply ------------------------------------------------------------------------------


@dataclass(frozen=True)
class GovernanceOutcome:
    """All writes of one governance transaction, its events, or the error (then nothing)."""

    writes: Writes = field(default_factory=dict)
    events: tuple[Event, ...] = ()
    error: GovernanceRejected | None = None
    proposal_id: int | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def _event(topic: bytes, proposal: Proposal, actor: bytes) -> Event:
    data = Writer().u64(proposal.id).fixed(actor, ADDRESS_BYTES).string(proposal.action.NAME)
    return Event(GOVERNANCE_ADDRESS, topic, bytes(data))


def governance_policy(state: StateReader, action: Action) -> Policy:
    """The policy whose satisfaction executes ``action``."""
    zone_name = action.scope(state)
    if zone_name is None:
        network = load_network(state)
        if network is None:
            raise GovernanceRejected(NO_GOVERNANCE, "the network has no governance policy")
        return network.governance
    zone = load_zone(state, zone_name)
    if zone is None:
        raise GovernanceRejected("unknown_zone", f"zone {zone_name} does not exist")
    return zone.governance


def apply(state: StateReader, sender: bytes, body: bytes, height: int) -> GovernanceOutcome:
    """Run one governance transaction (module docstring); never raises GovernanceRejected."""
    try:
        decoded = decode_body(body)
        if load_member(state, sender) is None:
            raise GovernanceRejected(NOT_A_MEMBER, "only members of an organisation may "
                                     "propose or approve")
        if isinstance(decoded, Propose):
            return _propose(state, sender, decoded, height)
        return _approve(state, sender, decoded, height)
    except GovernanceRejected as error:
        return GovernanceOutcome(error=error)
    except EncodeError as error:  # a value the action accepted but a record cannot hold
        return GovernanceOutcome(error=GovernanceRejected(BAD_BODY, str(error)))


def _propose(state: StateReader, sender: bytes, body: Propose, height: int) -> GovernanceOutcome:
    if not height < body.expiry_height <= height + PROPOSAL_LIFETIME_MAX:
        raise GovernanceRejected(BAD_EXPIRY, f"expiry height must be in {height + 1}.."
                                 f"{height + PROPOSAL_LIFETIME_MAX}, got {body.expiry_height}")
    policy = governance_policy(state, body.action)
    if policy.kind is RuleKind.FORBIDDEN:
        raise GovernanceRejected(ACTION_FORBIDDEN, f"{body.action.NAME} is governed by "
                                 "FORBIDDEN: no approvals can enable it")
    body.action.plan(state, height)  # refuse now what could not execute now
    proposal_id = _next_proposal_id(state)
    proposal = Proposal(proposal_id, sender, body.action, body.expiry_height, height, (sender,))
    writes: Writes = {NEXT_PROPOSAL_ID_KEY: encode_record(lambda w: w.u64(proposal_id + 1))}
    events = [_event(TOPIC_PROPOSED, proposal, sender)]
    return _settle(state, proposal, sender, height, writes, events)


def _approve(state: StateReader, sender: bytes, body: Approve, height: int) -> GovernanceOutcome:
    proposal = load_proposal(state, body.proposal_id)
    if proposal is None:
        raise GovernanceRejected(UNKNOWN_PROPOSAL, f"no proposal {body.proposal_id}")
    if proposal.status is not ProposalStatus.OPEN:
        raise GovernanceRejected(PROPOSAL_CLOSED, f"proposal {proposal.id} is already "
                                 f"{proposal.status.name.lower()}")
    if height > proposal.expiry_height:
        raise GovernanceRejected(PROPOSAL_EXPIRED, f"proposal {proposal.id} expired at height "
                                 f"{proposal.expiry_height}")
    if sender in proposal.approvals:
        raise GovernanceRejected(ALREADY_APPROVED, "this member already approved the proposal")
    approvals = tuple(sorted((*proposal.approvals, sender)))
    updated = Proposal(proposal.id, proposal.proposer, proposal.action, proposal.expiry_height,
                       proposal.created_height, approvals)
    events = [_event(TOPIC_APPROVED, updated, sender)]
    return _settle(state, updated, sender, height, {}, events)


def _settle(
    state: StateReader, proposal: Proposal, sender: bytes, height: int, writes: Writes,
    events: list[Event],
) -> GovernanceOutcome:
    """Execute ``proposal`` if its approvals now suffice; store it either way."""
    policy = governance_policy(state, proposal.action)
    approvals = approvals_from_signers(state, proposal.approvals)
    context = EvaluationContext(organisation_ids(state),
                                proposal.action.target_organisation(state))
    if evaluate(policy, approvals, context).allowed:
        try:
            action_writes = proposal.action.plan(state, height)
        except GovernanceRejected as error:
            proposal = _closed(proposal, ProposalStatus.FAILED, height,
                               f"{error.code}: {error.message}")
            events.append(_event(TOPIC_FAILED, proposal, sender))
        else:
            writes.update(action_writes)
            proposal = _closed(proposal, ProposalStatus.EXECUTED, height, "")
            events.append(_event(TOPIC_EXECUTED, proposal, sender))
    writes[proposal_key(proposal.id)] = proposal.encode()
    return GovernanceOutcome(dict(sorted(writes.items())), tuple(events), None, proposal.id)


def _closed(proposal: Proposal, status: ProposalStatus, height: int, result: str) -> Proposal:
    return Proposal(proposal.id, proposal.proposer, proposal.action, proposal.expiry_height,
                    proposal.created_height, proposal.approvals, status, height, result)


__all__ = [
    "GOVERNANCE_ADDRESS", "PROPOSAL_LIFETIME_MAX", "Approve", "Body", "GovernanceOutcome",
    "Proposal", "ProposalStatus", "Propose", "RecordDamaged", "apply", "decode_body",
    "encode_body", "governance_policy", "list_proposals", "load_proposal",
]
