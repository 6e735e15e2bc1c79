"""Adapters from this package to the executor's and mempool's hooks (node/executor.py).

    zone_policy(tx, sender, state) -> PolicyDenial | None     ZonePolicy
    governance_hook(signed, sender, state, env) -> Outcome    GovernanceHook

``zone_policy`` authorizes a deploy (zone's deploy policy) or a call (the
contract's own call policy, else the zone's) with ``authorize``; governance
transactions pass through to ``governance_hook``, which does its own checks.
A state without a network record (a genesis with no permissions section) is
open: every transaction is allowed, as with the executor's ``allow_all``.

``consensus_validators_at(state, height)`` turns ``validator_set_at`` into
the consensus ``ValidatorSet`` (public keys and powers; the owning
organisation stays in state).

``governance_hook`` runs ``governance.apply`` at the block height and wraps
the result in the VM's ``Outcome``: writes and events on success,
``GovernanceRejected`` as the error otherwise. Governance costs no gas
(``GOVERNANCE_GAS``): gas has no price yet and the work is a few records;
``return_data`` is the proposal id (u64 little-endian).

Determinism: pure functions of their arguments.
"""

from __future__ import annotations

from typing import Final

from zonechain.node.consensus.validators import Validator as ConsensusValidator
from zonechain.node.consensus.validators import ValidatorSet as ConsensusValidatorSet
from zonechain.node.executor import BlockEnvironment, PolicyDenial
from zonechain.node.permissions.authorize import authorize
from zonechain.node.permissions.errors import PermissionDenied
from zonechain.node.permissions.governance import apply
from zonechain.node.permissions.store import NETWORK_KEY, validator_set_at
from zonechain.node.types.transaction import (
    CallPayload,
    DeployPayload,
    GovernancePayload,
    SignedTransaction,
    Transaction,
)
from zonechain.vm.encoding import Writer
from zonechain.vm.runtime import Outcome
from zonechain.vm.state import StateReader

GOVERNANCE_GAS: Final = 0


def zone_policy(tx: Transaction, sender: bytes, state: StateReader) -> PolicyDenial | None:
    """The executor's / mempool's ZonePolicy backed by the zone policies in state."""
    if state.get(NETWORK_KEY) is None:
        return None
    payload = tx.payload
    try:
        if isinstance(payload, DeployPayload):
            authorize(state, "deploy", tx.zone, sender)
        elif isinstance(payload, CallPayload):
            authorize(state, "call", tx.zone, sender, payload.contract)
    except PermissionDenied as denial:
        return PolicyDenial(denial.code, denial.message)
    return None


def governance_hook(
    signed: SignedTransaction, sender: bytes, state: StateReader, env: BlockEnvironment,
) -> Outcome:
    """The executor's GovernanceHook: apply the payload's body at the block's height."""
    payload = signed.tx.payload
    body = payload.body if isinstance(payload, GovernancePayload) else b""
    outcome = apply(state, sender, body, env.height)
    if outcome.error is not None:
        return Outcome(ok=False, gas_used=GOVERNANCE_GAS, return_data=b"", events=(),
                       error=outcome.error, writes={})
    proposal_id = bytes(Writer().u64(outcome.proposal_id or 0))
    return Outcome(ok=True, gas_used=GOVERNANCE_GAS, return_data=proposal_id,
                   events=outcome.events, error=None, writes=dict(outcome.writes))


def consensus_validators_at(
    state: StateReader, height: int, *, initial_height: int = 1,
) -> ConsensusValidatorSet:
    """The consensus validator set that signs block ``height`` (see store.validator_set_at)."""
    recorded = validator_set_at(state, height)
    return ConsensusValidatorSet(
        (ConsensusValidator(v.public_key, v.power) for v in recorded.validators),
        initial_height=initial_height)
