"""The light-client trust chain: which validator set signs a header, followed from genesis.

``TrustChain(chain_id, genesis_set)`` starts trusting the genesis set for
``initial_height``. To trust a header at a later height it walks forward
through the governed validator-set changes, each step checked:

1. The node's headers are HINTS only: a binary search over ``get_block``
   headers finds a height E whose header names a set other than the trusted
   one while header E-1 still names it (O(log n) block fetches per change).
2. A change effective at E executed in block X = E - VALIDATOR_CHANGE_DELAY
   (node/permissions/actions.py). Header E-1 (X + 1) is still signed by the
   trusted set: its certificate is checked (``verify_commit``, more than 2/3
   of the power); block X is tied to it by ``previous_block_hash`` and its
   transactions by ``tx_root``; the receipts of block X, fetched by
   transaction hash, must hash to header E-1's ``last_receipts_root``.
3. Those receipts name, in transaction order, the proposals whose execution
   changed the set (governance event ``governance/executed`` with an
   add_validator / remove_validator / set_validator_power action). Each
   proposal's action is read from the transaction that proposed it: the
   node's proposal record only hints the block P it was proposed in; block P
   is certified the same way (header P+1's certificate by the set of P+1,
   ``tx_root``, ``last_receipts_root``) and must hold a receipt with the
   ``governance/proposed`` event of that id, whose transaction carries the
   action.
4. The new set is the trusted set with those actions applied in order, as
   ``permissions.actions`` builds it (public keys and powers: the consensus
   view of ``hooks.consensus_validators_at``). It must be the set header E
   names (``validator_set_hash``), and header E's certificate, when the node
   has one, must verify with it. Then (E, new set) is trusted.

Only blocks and receipts are used, never old state: a node proves state for
its latest heights only (node/service.py), while blocks and receipts are
kept. The trusted changes are cached (under a lock: a Client is shared
between threads), so later reads cost nothing until the next change.
Anything that does not check out raises ``VerificationFailed`` naming the
height and the check; errors of the connection (``ZonechainError``) pass
through unchanged.

Asyncio: the walk itself is synchronous (its lock is a ``threading.Lock``).
``AsyncChainSource`` is what it needs of an asyncio client
(``sdk.aio.AsyncClient`` is one); ``ThreadedSource`` gives a worker thread a
synchronous view of it, each fetch run as a coroutine on the event loop and
waited for in the worker, so the loop is never blocked on network I/O
(``Verifier.verify_state_async`` runs the walk that way). A ``ThreadedSource``
used from the loop's own thread raises ``RuntimeError`` instead of deadlocking.

Trust assumption (as for any light client that skips heights): a stretch
with no change is accepted when the headers that end it are certified by the
set trusted for it; a node hiding a change would need more than 2/3 of a
former set to sign a conflicting header.

Determinism: integer heights, sets in address order, receipts in block order;
nothing reads a clock.
"""

from __future__ import annotations

import asyncio
import threading
from bisect import bisect_right
from collections.abc import Coroutine
from typing import Any, Final, Protocol, TypeVar

from zonechain.node.consensus.certificate import verify_commit
from zonechain.node.consensus.errors import InvalidCommit, InvalidValidatorSet
from zonechain.node.consensus.validators import Validator, ValidatorSet
from zonechain.node.permissions.actions import (
    Action,
    AddValidator,
    RemoveValidator,
    SetValidatorPower,
)
from zonechain.node.permissions.errors import GovernanceRejected, RecordDamaged
from zonechain.node.permissions.governance import (
    GOVERNANCE_ADDRESS,
    TOPIC_EXECUTED,
    TOPIC_PROPOSED,
    Proposal,
    Propose,
    decode_body,
)
from zonechain.node.permissions.model import ValidatorSet as RecordedValidatorSet
from zonechain.node.permissions.store import proposal_key
from zonechain.node.state.proof import ProofError, decode_proof, verify_proof
from zonechain.node.types.block import Block, BlockHeader, receipts_root
from zonechain.node.types.commit import Commit
from zonechain.node.types.errors import MalformedMessage
from zonechain.node.types.receipt import Receipt
from zonechain.node.types.transaction import GovernancePayload
from zonechain.sdk.errors import VerificationFailed
from zonechain.sdk.responses import BlockInfo, StateValue
from zonechain.vm.encoding import DecodeError, Reader

RECORD_DELAY: Final = 2
"""node/permissions/actions.py VALIDATOR_CHANGE_DELAY (tests check the two agree)."""

T = TypeVar("T")

SET_CHANGES: Final = frozenset({AddValidator.NAME, RemoveValidator.NAME, SetValidatorPower.NAME})
"""The governance actions that write a validator-set record (actions._validator_set_writes)."""


class ChainSource(Protocol):
    """What the trust chain fetches from a node (``sdk.client.Client`` is one)."""

    def read_state(self, key: bytes, *, height: int | None = None,
                   prove: bool = False) -> StateValue: ...

    def get_block(self, height: int | None = None) -> BlockInfo | None: ...

    def get_receipt(self, tx_hash: bytes) -> Receipt | None: ...


class AsyncChainSource(Protocol):
    """``ChainSource`` as coroutines (``sdk.aio.AsyncClient`` is one)."""

    async def read_state(self, key: bytes, *, height: int | None = None,
                         prove: bool = False) -> StateValue: ...

    async def get_block(self, height: int | None = None) -> BlockInfo | None: ...

    async def get_receipt(self, tx_hash: bytes) -> Receipt | None: ...


class ThreadedSource:
    """A synchronous ``ChainSource`` over an ``AsyncChainSource``, for a worker thread.

    Each fetch is scheduled on ``loop`` (where the async client's channels live)
    and the calling thread waits for its result; the client's own deadlines
    bound each wait, and a loop shutting down cancels it.
    """

    def __init__(self, source: AsyncChainSource, loop: asyncio.AbstractEventLoop) -> None:
        self._source = source
        self._loop = loop

    def _run(self, fetch: Coroutine[Any, Any, T]) -> T:
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            fetch.close()
            raise RuntimeError("ThreadedSource waits on its event loop: call it from a worker "
                               "thread (asyncio.to_thread), never from the loop itself")
        return asyncio.run_coroutine_threadsafe(fetch, self._loop).result()

    def read_state(self, key: bytes, *, height: int | None = None,
                   prove: bool = False) -> StateValue:
        return self._run(self._source.read_state(key, height=height, prove=prove))

    def get_block(self, height: int | None = None) -> BlockInfo | None:
        return self._run(self._source.get_block(height))

    def get_receipt(self, tx_hash: bytes) -> Receipt | None:
        return self._run(self._source.get_receipt(tx_hash))


def consensus_set(recorded: RecordedValidatorSet) -> ValidatorSet:
    """The consensus set of a governance record (public keys and powers; organisations dropped)."""
    return ValidatorSet(Validator(v.public_key, v.power) for v in recorded.validators)


def check_header(header: BlockHeader, commit: Commit | None, validators: ValidatorSet,
                 chain_id: str) -> None:
    """Raise VerificationFailed unless ``commit`` certifies ``header`` under ``validators``."""
    where = f"header {header.height}"
    if header.chain_id != chain_id:
        raise VerificationFailed(f"{where} is for chain {header.chain_id!r}, "
                                 f"expected {chain_id!r}")
    if commit is None:
        raise VerificationFailed(f"the node sent no certificate for {where}")
    if commit.height != header.height or commit.block_hash != header.hash:
        raise VerificationFailed(f"the commit certificate is not for {where}")
    if header.validator_set_hash != validators.hash:
        raise VerificationFailed(
            f"{where} names validator set {header.validator_set_hash.hex()[:16]}, but the set "
            f"in force at that height is {validators.hash.hex()[:16]} (set hash mismatch)")
    try:
        verify_commit(commit, validators, chain_id)
    except InvalidCommit as error:
        raise VerificationFailed(f"commit certificate of {where}: {error}") from None


def check_proof(header: BlockHeader, value: StateValue, what: str) -> None:
    """Raise VerificationFailed unless the proof shows ``value`` under the header's state root."""
    try:
        verify_proof(header.last_state_root, value.key, value.value, decode_proof(value.proof))
    except ProofError as error:
        raise VerificationFailed(f"state proof of {what}: {error}") from None


class TrustChain:
    """Trusted validator sets by height, extended on demand (see the module docstring)."""

    def __init__(self, chain_id: str, genesis: ValidatorSet, *, initial_height: int = 1) -> None:
        if initial_height < 1:
            raise ValueError("initial_height must be at least 1")
        self.chain_id = chain_id
        self._heights: list[int] = [initial_height]
        self._sets: list[ValidatorSet] = [genesis]
        self._known_through = initial_height
        self._lock = threading.Lock()

    @property
    def changes(self) -> tuple[tuple[int, ValidatorSet], ...]:
        """The trusted (effective height, set) pairs so far, genesis first."""
        with self._lock:
            return tuple(zip(self._heights, self._sets, strict=True))

    def verify_header(self, header: BlockHeader, commit: Commit | None,
                      source: ChainSource | None) -> ValidatorSet:
        """Check ``header`` + ``commit`` with the set in force at its height; return that set."""
        with self._lock:
            validators = self._set_for(header, source)
            check_header(header, commit, validators, self.chain_id)
            self._known_through = max(self._known_through, header.height)
            return validators

    # --- the walk (called under the lock) ----------------------------------------------

    def _set_for(self, header: BlockHeader, source: ChainSource | None) -> ValidatorSet:
        height = header.height
        if height < self._heights[0]:
            raise VerificationFailed(f"header {height} is before the chain's first height "
                                     f"{self._heights[0]}")
        if height > self._known_through:
            # The node's own block at that height is the hint (not the header under test,
            # which may be forged); check_header then compares the header with the result.
            hint = header.validator_set_hash if source is None else \
                self._claimed_hash(source, height)
            while height > self._known_through and hint != self._sets[-1].hash:
                if source is None:
                    raise VerificationFailed(
                        f"header {height} names a validator set other than the trusted one; "
                        "following validator-set changes needs a source (a Client, or "
                        "verify_state_async with an AsyncClient)")
                current = self._sets[-1]
                self._follow_change(source, self._find_change(source, height, current), current)
        return self._set_at(height)

    def _claimed_hash(self, source: ChainSource, height: int) -> bytes:
        info = source.get_block(height)
        if info is None:
            raise VerificationFailed(f"the node has no block {height} to follow the "
                                     "validator set through")
        return info.block.header.validator_set_hash

    def _find_change(self, source: ChainSource, target: int, current: ValidatorSet) -> int:
        """A height E with header E-1 naming ``current`` and header E not (binary search)."""
        low, high = self._known_through, target
        while high - low > 1:
            middle = (low + high) // 2
            if self._claimed_hash(source, middle) == current.hash:
                low = middle
            else:
                high = middle
        return high

    def _follow_change(self, source: ChainSource, effective: int, current: ValidatorSet) -> None:
        executed_in = effective - RECORD_DELAY
        if executed_in < 1:
            raise VerificationFailed(
                f"header {effective} names a validator set other than the trusted one, but no "
                f"governed change can take effect before height {1 + RECORD_DELAY}")
        _, receipts = self._certified_block(source, executed_in, current)
        self._known_through = max(self._known_through, executed_in + 1)
        following = current
        changes = executed_changes(receipts)
        if not changes:
            raise VerificationFailed(f"headers change the validator set at height {effective}, "
                                     f"but block {executed_in} executed no validator change")
        for proposal_id in changes:
            action = self._proposed_action(source, proposal_id, executed_in)
            following = apply_change(following, action, proposal_id)
        header = self._block(source, effective)
        if header.commit is None:
            if header.block.header.validator_set_hash != following.hash:
                raise VerificationFailed(f"header {effective} does not name the validator set "
                                         "its governance changes give (set hash mismatch)")
        else:
            check_header(header.block.header, header.commit, following, self.chain_id)
        self._heights.append(effective)
        self._sets.append(following)
        self._known_through = effective

    def _block(self, source: ChainSource, height: int) -> BlockInfo:
        info = source.get_block(height)
        if info is None or info.block.header.height != height:
            raise VerificationFailed(f"the node has no block {height}")
        return info

    def _certified_block(self, source: ChainSource, height: int,
                         validators: ValidatorSet) -> tuple[Block, tuple[Receipt, ...]]:
        """Block ``height`` and its receipts, certified by header height+1 under ``validators``."""
        following = self._block(source, height + 1)
        check_header(following.block.header, following.commit, validators, self.chain_id)
        block = self._block(source, height).block
        try:
            block.check_contents()
        except MalformedMessage as error:
            raise VerificationFailed(f"block {height}: {error}") from None
        if block.hash != following.block.header.previous_block_hash:
            raise VerificationFailed(f"block {height} is not the one header {height + 1} follows")
        receipts = []
        for signed in block.txs:
            receipt = source.get_receipt(signed.hash)
            if receipt is None:
                raise VerificationFailed(f"the node has no receipt for a transaction of "
                                         f"block {height}")
            receipts.append(receipt)
        if receipts_root(receipts) != following.block.header.last_receipts_root:
            raise VerificationFailed(f"the receipts of block {height} do not match header "
                                     f"{height + 1}'s last_receipts_root")
        return block, tuple(receipts)

    def _set_at(self, height: int) -> ValidatorSet:
        return self._sets[bisect_right(self._heights, height) - 1]

    def _proposed_action(self, source: ChainSource, proposal_id: int, latest: int) -> Action:
        """The action of ``proposal_id``, read from the certified transaction that proposed it."""
        hint = source.read_state(proposal_key(proposal_id))
        try:
            proposed_in = Proposal.decode(hint.value or b"").created_height
        except RecordDamaged:
            raise VerificationFailed(f"the node's record of proposal {proposal_id} does not "
                                     "decode") from None
        if not self._heights[0] <= proposed_in <= latest:
            raise VerificationFailed(f"proposal {proposal_id} executed in block {latest} cannot "
                                     f"have been proposed in block {proposed_in}")
        block, receipts = self._certified_block(source, proposed_in,
                                                self._set_at(proposed_in + 1))
        for signed, receipt in zip(block.txs, receipts, strict=True):
            if proposal_id in governance_ids(receipt, TOPIC_PROPOSED):
                payload = signed.tx.payload
                try:
                    body = decode_body(payload.body if isinstance(payload, GovernancePayload)
                                       else b"")
                except GovernanceRejected as error:
                    raise VerificationFailed(f"the transaction proposing {proposal_id} does not "
                                             f"decode: {error}") from None
                if isinstance(body, Propose):
                    return body.action
        raise VerificationFailed(f"block {proposed_in} does not propose proposal {proposal_id}")


def governance_ids(receipt: Receipt, topic: bytes) -> list[int]:
    """Proposal ids of ``receipt``'s governance events with ``topic`` whose action changes
    the validator set (event data: u64 id, 20-byte actor, action name)."""
    ids = []
    for event in receipt.events:
        if event.contract != GOVERNANCE_ADDRESS or event.topic != topic:
            continue
        reader = Reader(event.data)
        try:
            proposal_id = reader.u64("proposal id")
            reader.fixed(20, "actor")
            name = reader.string("action")
            reader.finish("governance event")
        except DecodeError as error:
            raise VerificationFailed(f"a governance event does not decode: {error}") from None
        if name in SET_CHANGES:
            ids.append(proposal_id)
    return ids


def executed_changes(receipts: tuple[Receipt, ...]) -> list[int]:
    """The validator-set changes executed by a block's receipts, in execution order."""
    return [pid for receipt in receipts for pid in governance_ids(receipt, TOPIC_EXECUTED)]


def apply_change(validators: ValidatorSet, action: Action, proposal_id: int) -> ValidatorSet:
    """The set after ``action`` executed (as permissions.actions builds the record)."""
    members = list(validators.validators)
    try:
        if isinstance(action, AddValidator):
            members.append(Validator(action.validator.public_key, action.validator.power))
        elif isinstance(action, SetValidatorPower):
            members = [Validator(v.public_key, action.power) if v.address == action.address
                       else v for v in members]
        elif isinstance(action, RemoveValidator):
            members = [v for v in members if v.address != action.address]
        else:
            raise VerificationFailed(f"proposal {proposal_id} ({action.NAME}) does not change "
                                     "the validator set")
        return ValidatorSet(members)
    except InvalidValidatorSet as error:
        raise VerificationFailed(f"proposal {proposal_id} gives no valid set: {error}") from None
