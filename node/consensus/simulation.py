"""A deterministic, seeded simulation of N validators in one process (VOPR-style).

Guarantees:
- ``simulate(seed, config)`` is a pure function of its arguments: every
  random choice (delays, drops, partitions, crashes, Byzantine behaviour)
  comes from one ``random.Random(seed)`` consumed in event order, and time
  is a simulated clock (an event queue in integer milliseconds). So
  ``replay(seed)`` reproduces a failing run exactly, and thousands of
  heights run in seconds.
- ``check_properties(result)`` checks, after every run:
    AGREEMENT    no two honest validators commit different blocks at a height;
    VALIDITY     every committed block is valid (the proposer's invalid blocks
                 never commit), extends the committed chain, and carries a
                 commit certificate that ``verify_commit`` accepts;
    TERMINATION  after GST every height is decided by every honest validator
                 within ``termination_bound_ms``, and all reach the target height;
    EVIDENCE     every validator that equivocated is in some honest validator's
                 evidence pool, and no honest validator is.
  A violation raises ``PropertyViolation`` whose message names the seed.

The network model, before GST ("global stabilisation time"): each message
is delayed up to ``delay_async_max_ms`` (so reordered), or lost with
probability ``drop_per_mille``/1000; a partition may split the validators
into two sides until it heals, holding messages across it. After GST every
message arrives within ``delay_sync_max_ms``. Messages to a crashed
validator are lost. Every GOSSIP_INTERVAL_MS each honest validator sends
each peer at its height the proposals and votes that peer lacks, which
gives the paper's gossip assumption (a message one correct validator
holds reaches every correct one) despite losses, crashes and Byzantine
validators that send different votes to different peers; a peer behind
gets the committed block and certificate of its height instead.

Validator sets may change (``SimulationConfig.set_changes``, the scenario of
``set_change_config_for_seed``): every node runs a ``ValidatorSchedule``;
the checker then judges every header, certificate and last commit with the
set of its height, and a removed validator may keep sending signed votes
and proposals (``removed_keep_voting``) that nobody may count.

Crashed validators restart from their signer store and committed blocks
(both durable) before GST. Byzantine validators sign without the guard and
act as one coalition (``byzantine_broadcast``): per height they split the
honest validators into two sides and send each side its own version of
every message (the textbook attack on BFT safety); as proposers they
sometimes propose invalid blocks. A validator that sees a message from a
later height asks its sender for the committed block (block sync).

Determinism: ints only; dicts and lists, never iteration over sets; one RNG.
"""

from __future__ import annotations

import hashlib
import heapq
import random
from dataclasses import dataclass, field, replace
from typing import Final, Literal

from zonechain.node.consensus.certificate import SignatureVerifier, verify_commit
from zonechain.node.consensus.driver import ConsensusRunner
from zonechain.node.consensus.errors import InvalidCommit
from zonechain.node.consensus.events import (
    ConsensusMessage,
    Event,
    ProposalMessage,
    SyncedBlock,
    Timeout,
    VoteMessage,
)
from zonechain.node.consensus.evidence import EvidencePool
from zonechain.node.consensus.schedule import (
    ValidatorSchedule,
    ValidatorSetProvider,
    changes_provider,
)
from zonechain.node.consensus.signer import GuardedSigner, KeySigner, MemorySignerStore, SignState
from zonechain.node.consensus.state_machine import ConsensusCore
from zonechain.node.consensus.timeouts import TimeoutConfig
from zonechain.node.consensus.validators import Validator, ValidatorSet
from zonechain.node.crypto import PrivateKey, verify_signature
from zonechain.node.types.address import account_address
from zonechain.node.types.block import (
    Block,
    BlockHeader,
    evidence_root,
    last_commit_hash,
    receipts_root,
    tx_root,
)
from zonechain.node.types.commit import Commit
from zonechain.node.types.errors import MalformedMessage
from zonechain.node.types.evidence import DuplicateVoteEvidence
from zonechain.node.types.hashing import ZERO_HASH
from zonechain.node.types.vote import Proposal, Vote, VoteType

CHAIN_ID: Final = "sim-chain"
VALID_STATE_ROOT: Final = hashlib.sha256(b"sim/valid-state").digest()
INVALID_STATE_ROOT: Final = hashlib.sha256(b"sim/invalid-state").digest()
"""A block whose last_state_root is this is invalid (honest ``validate`` says no)."""

GOSSIP_INTERVAL_MS: Final = 100
"""How often an honest validator sends peers at its height the messages they
lack (CometBFT's gossip routines do this continuously, from the peers'
announced round state; here the simulation reads the peer's state)."""

SYNC_RETRY_MS: Final = 200
"""A lagging validator asks a given height again at most this often."""

EVENTS_MAX: Final = 5_000_000
"""A run that needs more events than this is stuck in a loop: fail it."""

SIMULATION_TIMEOUTS: Final = TimeoutConfig(
    propose_base_ms=300, propose_increment_ms=100, prevote_base_ms=150,
    prevote_increment_ms=50, precommit_base_ms=150, precommit_increment_ms=50,
)
"""Timeouts well above the synchronous delay bound (40 ms), as on a LAN."""


class PropertyViolation(AssertionError):
    """A simulated run broke agreement, validity, termination or evidence; names the seed."""


# Signatures -------------------------------------------------------------------


class FakeKey:
    """A cheap stand-in for an ed25519 key: signature = blake2b-512(public_key + message).

    For simulations only: anyone who knows the public key can forge. It sits
    behind the same seams (KeySigner, SignatureVerifier) as the real key.
    """

    def __init__(self, public_key: bytes) -> None:
        self.public_key = public_key
        self.address = account_address(public_key)

    def sign(self, message: bytes) -> bytes:
        return hashlib.blake2b(self.public_key + message, digest_size=64).digest()


def fake_verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    return hashlib.blake2b(public_key + message, digest_size=64).digest() == signature


class UnguardedSigner:
    """A Byzantine validator's signer: signs anything, remembers nothing."""

    def __init__(self, key: KeySigner) -> None:
        self.key = key

    @property
    def address(self) -> bytes:
        return self.key.address

    @property
    def state(self) -> SignState | None:
        return None

    def sign_vote(
        self, vote_type: VoteType, chain_id: str, height: int, round: int,
        block_hash: bytes | None,
    ) -> Vote:
        message = Vote.signing_bytes_for(vote_type, chain_id, height, round, block_hash,
                                         self.address)
        return Vote(vote_type, chain_id, height, round, block_hash, self.address,
                    self.key.sign(message))

    def sign_proposal(
        self, chain_id: str, height: int, round: int, pol_round: int | None, block_hash: bytes
    ) -> Proposal:
        message = Proposal.signing_bytes_for(chain_id, height, round, pol_round, block_hash,
                                             self.address)
        return Proposal(chain_id, height, round, pol_round, block_hash, self.address,
                        self.key.sign(message))


# Configuration and result -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class ValidatorChange:
    """From ``height`` on, simulated node i has voting power ``powers[i]`` (0: not a
    validator). Adds, removals and power changes are all written this way."""

    height: int
    powers: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class SimulationConfig:
    validators: int = 4
    """Simulated nodes: every validator that is a member at some height."""
    powers: tuple[int, ...] | None = None
    """Voting power per node at genesis (default: 1 each; 0: joins later)."""
    heights: int = 50
    crashed: int = 0
    byzantine: int = 0
    drop_per_mille: int = 100
    gst_ms: int = 4000
    delay_async_max_ms: int = 800
    delay_sync_max_ms: int = 40
    partition: bool = True
    invalid_proposal_per_mille: int = 300
    signatures: Literal["fake", "ed25519"] = "fake"
    timeouts: TimeoutConfig = SIMULATION_TIMEOUTS
    set_changes: tuple[ValidatorChange, ...] = ()
    """Validator-set changes, by increasing height (> 1)."""
    removed_keep_voting: bool = False
    """A removed validator keeps signing (conflicting) votes and proposals at heights
    where it is no longer a member; nobody may count them."""

    def __post_init__(self) -> None:
        if self.validators < 1 or self.heights < 1:
            raise ValueError("need at least one validator and one height")
        if self.powers is not None and len(self.powers) != self.validators:
            raise ValueError("one power per validator")
        if self.crashed + self.byzantine > self.validators:
            raise ValueError("more faulty validators than validators")
        previous = 1
        for change in self.set_changes:
            if change.height <= previous:
                raise ValueError("set changes need increasing heights above 1")
            if len(change.powers) != self.validators:
                raise ValueError("a set change names one power per validator")
            previous = change.height
        for powers in (self.genesis_powers(), *(c.powers for c in self.set_changes)):
            if min(powers) < 0 or max(powers) < 1:
                raise ValueError("powers are >= 0 and some validator has power")

    def genesis_powers(self) -> tuple[int, ...]:
        return self.powers if self.powers is not None else (1,) * self.validators

    def power_epochs(self) -> tuple[tuple[int, tuple[int, ...]], ...]:
        """(first height, powers per node) for genesis and each change."""
        return ((1, self.genesis_powers()),
                *((change.height, change.powers) for change in self.set_changes))


def config_for_seed(seed: int, heights: int = 50) -> SimulationConfig:
    """The sweep's scenario for ``seed``: size, fault mix and network, all from the seed."""
    rng = random.Random(seed ^ 0x5EED)
    n = rng.choice((4, 4, 5, 7))
    f = (n - 1) // 3
    byzantine = rng.randint(0, f)
    crashed = f - byzantine
    powers = None if rng.random() < 0.5 else tuple(rng.randint(1, 3) for _ in range(n))
    config = SimulationConfig(
        validators=n, heights=heights, crashed=crashed, byzantine=byzantine,
        drop_per_mille=rng.choice((0, 50, 150)), partition=rng.random() < 0.5,
        gst_ms=rng.choice((1000, 3000, 5000)),
    )
    if powers is not None and _faults_within_third(powers, crashed + byzantine):
        config = replace(config, powers=powers)
    return config


def _faults_within_third(powers: tuple[int, ...], faulty: int) -> bool:
    """Faulty validators are the first ones: their power must stay below 1/3."""
    return 3 * sum(powers[:faulty]) < sum(powers)


def set_change_config_for_seed(seed: int, heights: int = 40) -> SimulationConfig:
    """A scenario where one validator joins, another leaves (and keeps voting) and a
    third changes power, at seed-chosen heights, under the sweep's faults and network.

    Node ``n`` (the last) joins at height ``added``; an honest node leaves at
    ``removed``; another honest node's power changes at ``repowered``. The faulty
    (Byzantine, then crashed) stay within a third of the power at every height,
    counting any crashed node as the heaviest honest one.
    """
    rng = random.Random(seed ^ 0xC4A6E)
    members = rng.choice((4, 4, 5, 7))
    n = members + 1
    f = (members - 1) // 3
    byzantine = rng.randint(0, f)
    crashed = f - byzantine
    base = tuple(rng.randint(1, 2) for _ in range(members)) if rng.random() < 0.5 else (
        (1,) * members)
    honest = list(range(byzantine, members))
    leaving, repowered_node = rng.sample(honest, 2)
    added = rng.randint(3, max(3, heights // 3))
    removed = added + rng.randint(0, heights // 4)
    repowered = rng.randint(2, heights // 2)
    powers: dict[int, list[int]] = {1: [*base, 0]}
    for height, node, power in sorted(((added, n - 1, rng.randint(1, 2)),
                                       (removed, leaving, 0),
                                       (repowered, repowered_node, rng.randint(1, 3)))):
        latest = powers[max(powers)]
        updated = list(latest)
        updated[node] = power
        powers[height] = updated
    epochs = [tuple(powers[h]) for h in sorted(powers)]
    while byzantine + crashed and not all(
            _faults_bounded(p, byzantine, crashed) for p in epochs):
        crashed, byzantine = (crashed - 1, byzantine) if crashed else (0, byzantine - 1)
    return SimulationConfig(
        validators=n, powers=epochs[0], heights=heights, crashed=crashed,
        byzantine=byzantine, drop_per_mille=rng.choice((0, 50, 150)),
        partition=rng.random() < 0.5, gst_ms=rng.choice((1000, 3000)),
        set_changes=tuple(ValidatorChange(h, tuple(powers[h])) for h in sorted(powers)
                          if h > 1),
        removed_keep_voting=True,
    )


def _faults_bounded(powers: tuple[int, ...], byzantine: int, crashed: int) -> bool:
    """The Byzantine nodes (the first ones) plus ``crashed`` of the heaviest honest
    members hold less than a third of the power."""
    honest = sorted(powers[byzantine:], reverse=True)
    return 3 * (sum(powers[:byzantine]) + sum(honest[:crashed])) < sum(powers)


@dataclass(slots=True)
class SimulationResult:
    seed: int
    config: SimulationConfig
    validator_set: ValidatorSet
    addresses: list[bytes]
    """Validator address of each simulated node, by index."""
    honest: list[int]
    byzantine: list[int]
    commits: dict[int, list[tuple[Block, Commit]]]
    commit_times: dict[int, list[int]]
    evidence: dict[int, list[DuplicateVoteEvidence]]
    equivocators: list[bytes]
    gst_round_max: int
    finished_ms: int
    events: int
    timed_out: bool
    validator_sets: tuple[tuple[int, ValidatorSet], ...] = ()
    """(first height, set) of every epoch; empty means ``validator_set`` throughout."""
    messages_after_removal: int = 0
    """Signed messages removed validators sent at heights where they were not members."""

    def validators_at(self, height: int) -> ValidatorSet:
        """The validator set of ``height`` in this run."""
        if not self.validator_sets:
            return self.validator_set
        return changes_provider(self.validator_sets)(height)

    def digest(self) -> bytes:
        """A fingerprint of the run: identical for identical runs."""
        hasher = hashlib.sha256(f"{self.seed}/{self.events}/{self.finished_ms}".encode())
        for index in sorted(self.commits):
            for block, commit in self.commits[index]:
                hasher.update(block.hash + commit.hash)
        return hasher.digest()


# The simulated validator ------------------------------------------------------


@dataclass(slots=True)
class _Node:
    index: int
    key: KeySigner
    byzantine: bool
    store: MemorySignerStore = field(default_factory=MemorySignerStore)
    committed: list[tuple[Block, Commit]] = field(default_factory=list)
    commit_times: list[int] = field(default_factory=list)
    up: bool = True
    incarnation: int = 0
    runner: ConsensusRunner | None = None
    evidence: EvidencePool = field(default_factory=EvidencePool)
    sync_asked: dict[int, int] = field(default_factory=dict)


class _Seams:
    """Clock, transport, application and block builder of one simulated validator."""

    def __init__(self, simulation: Simulation, node: _Node) -> None:
        self.simulation = simulation
        self.node = node

    def now_ms(self) -> int:
        return self.simulation.now_ms

    def schedule(self, delay_ms: int, timeout: Timeout) -> None:
        sim = self.simulation
        sim.push(sim.now_ms + delay_ms, _Timer(self.node.index, self.node.incarnation, timeout))

    def broadcast(self, message: ConsensusMessage) -> None:
        if self.node.byzantine:
            self.simulation.byzantine_broadcast(self.node, message)
        else:
            self.simulation.send_to_all(self.node.index, message)

    def validate(self, block: Block) -> bool:
        if self.node.byzantine:
            return True  # a Byzantine validator votes for anything
        return self.simulation.is_valid_next(self.node, block)

    def commit(self, block: Block, commit: Commit) -> None:
        self.node.committed.append((block, commit))
        self.node.commit_times.append(self.simulation.now_ms)

    def build_block(
        self, height: int, round: int, last_commit: Commit | None,
        evidence: tuple[DuplicateVoteEvidence, ...],
    ) -> Block:
        invalid = (self.node.byzantine and self.simulation.rng.randrange(1000)
                   < self.simulation.config.invalid_proposal_per_mille)
        return self.simulation.make_block(self.node, height, last_commit, evidence,
                                          invalid=invalid)


@dataclass(frozen=True, slots=True)
class _Deliver:
    receiver: int
    sender: int
    event: Event


@dataclass(frozen=True, slots=True)
class _Timer:
    node: int
    incarnation: int
    timeout: Timeout


@dataclass(frozen=True, slots=True)
class _Gossip:
    node: int
    incarnation: int


@dataclass(frozen=True, slots=True)
class _Crash:
    node: int


@dataclass(frozen=True, slots=True)
class _Restart:
    node: int


@dataclass(frozen=True, slots=True)
class _Gst:
    pass


_Payload = _Deliver | _Timer | _Gossip | _Crash | _Restart | _Gst


class Simulation:
    """The event loop, network and fault injection of one seeded run."""

    def __init__(self, seed: int, config: SimulationConfig) -> None:
        self.seed = seed
        self.config = config
        self.rng = random.Random(seed)
        self.now_ms = 0
        self._queue: list[tuple[int, int, _Payload]] = []
        self._sequence = 0
        self.events = 0
        self.equivocators: dict[bytes, None] = {}
        self.verify: SignatureVerifier = (
            verify_signature if config.signatures == "ed25519" else fake_verify
        )
        self.nodes = [self._make_node(i) for i in range(config.validators)]
        self.validator_sets = tuple(
            (height, ValidatorSet(Validator(node.key.public_key, power)
                                  for node, power in zip(self.nodes, powers, strict=True)
                                  if power > 0))
            for height, powers in config.power_epochs()
        )
        self.validators_at: ValidatorSetProvider = changes_provider(self.validator_sets)
        self.validator_set = self.validator_sets[0][1]
        self.dynamic = len(self.validator_sets) > 1 or len(self.validator_set) < len(self.nodes)
        """Whether the set changes (else every core gets the one ValidatorSet, as before)."""
        self.partition_sides: dict[int, int] = {}
        self.messages_after_removal = 0
        self._split: dict[int, tuple[list[int], list[int]]] = {}
        self._plan: dict[tuple[int, int], tuple[bytes | None, bytes | None]] = {}
        self.partition_window = (0, 0)
        self.gst_round_max = 0

    def _make_node(self, index: int) -> _Node:
        secret = hashlib.sha256(f"sim/{self.seed}/{index}".encode()).digest()
        key: KeySigner = (PrivateKey.from_seed(secret) if self.config.signatures == "ed25519"
                          else FakeKey(secret))
        faulty = index < self.config.byzantine
        return _Node(index=index, key=key, byzantine=faulty)

    # Event queue ---------------------------------------------------------------

    def push(self, at_ms: int, payload: _Payload) -> None:
        self._sequence += 1
        heapq.heappush(self._queue, (at_ms, self._sequence, payload))

    def run(self) -> SimulationResult:
        self._plan_faults()
        for node in self.nodes:
            self._boot(node)
        deadline = self.config.gst_ms + self.termination_bound_ms(0) * (self.config.heights + 2)
        timed_out = False
        while self._queue and not self._done():
            at_ms, _, payload = heapq.heappop(self._queue)
            if at_ms > deadline or self.events >= EVENTS_MAX:
                timed_out = True
                break
            self.now_ms = at_ms
            self.events += 1
            self._dispatch(payload)
        return self._result(timed_out)

    def _done(self) -> bool:
        return all(len(n.committed) >= self.config.heights for n in self._honest_nodes())

    def _honest_nodes(self) -> list[_Node]:
        return [n for n in self.nodes if not n.byzantine]

    def _dispatch(self, payload: _Payload) -> None:
        if isinstance(payload, _Deliver):
            self._deliver(self.nodes[payload.receiver], payload.sender, payload.event)
        elif isinstance(payload, _Timer):
            runner = self._live_runner(payload.node, payload.incarnation)
            if runner is not None:
                runner.handle(payload.timeout)
        elif isinstance(payload, _Gossip):
            node = self.nodes[payload.node]
            if self._live_runner(payload.node, payload.incarnation) and not node.byzantine:
                self._gossip(node)
        elif isinstance(payload, _Crash):
            self._crash(self.nodes[payload.node])
        elif isinstance(payload, _Restart):
            self._boot(self.nodes[payload.node])
        else:
            rounds = [n.runner.core.round for n in self._honest_nodes() if n.runner is not None]
            self.gst_round_max = max(rounds, default=0)

    def _live_runner(self, index: int, incarnation: int) -> ConsensusRunner | None:
        node = self.nodes[index]
        if node.up and node.incarnation == incarnation:
            return node.runner
        return None

    # Faults --------------------------------------------------------------------

    def _plan_faults(self) -> None:
        config, rng = self.config, self.rng
        gst = config.gst_ms
        self.push(gst, _Gst())
        honest = [n.index for n in self._honest_nodes()]
        for index in rng.sample(honest, min(config.crashed, len(honest))):
            crash_at = rng.randrange(1, max(2, gst * 6 // 10))
            restart_at = crash_at + rng.randrange(100, max(101, gst * 3 // 10))
            self.push(crash_at, _Crash(index))
            self.push(min(restart_at, gst - 1), _Restart(index))
        if config.partition and gst > 100:
            start = rng.randrange(0, gst // 2)
            self.partition_window = (start, start + rng.randrange(50, gst - start))
            self.partition_sides = {n.index: rng.randrange(2) for n in self.nodes}

    def _crash(self, node: _Node) -> None:
        node.up = False
        node.runner = None  # memory lost; the signer store and committed blocks are durable

    def _boot(self, node: _Node) -> None:
        node.up = True
        node.incarnation += 1
        node.evidence = EvidencePool()  # in memory: a crash loses it
        seams = _Seams(self, node)
        signer = UnguardedSigner(node.key) if node.byzantine else GuardedSigner(node.key,
                                                                                node.store)
        last_commit = node.committed[-1][1] if node.committed else None
        validators = (ValidatorSchedule(self.validators_at) if self.dynamic
                      else self.validator_set)
        core = ConsensusCore(
            CHAIN_ID, validators, signer, seams, height=len(node.committed) + 1,
            last_commit=last_commit, timeouts=self.config.timeouts, verify=self.verify,
            evidence=node.evidence,
        )
        node.runner = ConsensusRunner(core, seams, seams, seams)
        node.runner.start()
        self.push(self.now_ms + GOSSIP_INTERVAL_MS, _Gossip(node.index, node.incarnation))

    def _gossip(self, node: _Node) -> None:
        """Send each peer at our height the messages of that height it does not hold yet,
        and each peer behind us the committed block it needs next (CometBFT's catch-up)."""
        assert node.runner is not None
        core = node.runner.core
        messages = core.messages_for_peers()
        for peer in self.nodes:
            if peer is node or not peer.up or peer.runner is None:
                continue
            peer_height = peer.runner.core.height
            if peer_height < core.height:  # catch-up: our committed block at its height
                block, commit = node.committed[peer_height - 1]
                self.send(node.index, peer.index, SyncedBlock(block, commit))
            if peer_height != core.height:
                continue
            for message in messages:
                if not peer.runner.core.has_message(message):
                    self.send(node.index, peer.index, message)
        if self.config.removed_keep_voting:
            self._vote_after_removal(node)
        self.push(self.now_ms + GOSSIP_INTERVAL_MS, _Gossip(node.index, node.incarnation))

    def _vote_after_removal(self, node: _Node) -> None:
        """A removed validator that keeps going: at a height where it is no longer a
        member it signs prevotes and precommits for this round, a different value for
        each peer, and a proposal of its own; every honest node must ignore them."""
        assert node.runner is not None
        core = node.runner.core
        address = node.key.address
        was_member = any(address in validator_set
                         for first_height, validator_set in self.validator_sets
                         if first_height < core.height)
        if address in self.validators_at(core.height) or not was_member:
            return
        signer = UnguardedSigner(node.key)
        values: list[bytes | None] = [None, *core.known_blocks()]
        for peer in self.nodes:
            if peer is node:
                continue
            value = values[self.rng.randrange(len(values))]
            for vote_type in (VoteType.PREVOTE, VoteType.PRECOMMIT):
                vote = signer.sign_vote(vote_type, CHAIN_ID, core.height, core.round, value)
                self.send(node.index, peer.index, VoteMessage(vote))
                self.messages_after_removal += 1
        block = self.make_block(node, core.height, core.last_commit, (), invalid=False)
        proposal = signer.sign_proposal(CHAIN_ID, core.height, core.round, None, block.hash)
        self.send_to_all(node.index, ProposalMessage(proposal, block))

    # Network -------------------------------------------------------------------

    def _delay(self, sender: int, receiver: int) -> int | None:
        config, rng, now = self.config, self.rng, self.now_ms
        if now >= config.gst_ms:
            return rng.randint(1, config.delay_sync_max_ms)
        start, end = self.partition_window
        sides = self.partition_sides
        if start <= now < end and sides.get(sender) != sides.get(receiver):
            return end - now + rng.randint(1, config.delay_sync_max_ms)
        if rng.randrange(1000) < config.drop_per_mille:
            return None
        return rng.randint(1, config.delay_async_max_ms)

    def send(self, sender: int, receiver: int, event: Event) -> None:
        delay = self._delay(sender, receiver)
        if delay is not None:  # else lost; gossip sends what matters again
            self.push(self.now_ms + delay, _Deliver(receiver, sender, event))

    def send_to_all(self, sender: int, message: ConsensusMessage) -> None:
        for node in self.nodes:
            if node.index != sender:
                self.send(sender, node.index, message)

    def _deliver(self, node: _Node, sender: int, event: Event) -> None:
        if not node.up or node.runner is None:
            return  # lost: the validator is down
        height = _height_of(event)
        if height is not None and height > node.runner.core.height:
            self._ask_sync(node, sender)
        node.runner.handle(event)

    def _ask_sync(self, node: _Node, peer_index: int) -> None:
        """Block sync: ask ``peer`` for our next block, if it has committed it."""
        assert node.runner is not None
        wanted = node.runner.core.height
        asked = node.sync_asked.get(wanted)
        if asked is not None and self.now_ms - asked < SYNC_RETRY_MS:
            return
        node.sync_asked[wanted] = self.now_ms
        peer = self.nodes[peer_index]
        if peer.up and len(peer.committed) >= wanted:
            block, commit = peer.committed[wanted - 1]
            self.send(peer_index, node.index, SyncedBlock(block, commit))

    # Byzantine behaviour -------------------------------------------------------

    def byzantine_broadcast(self, node: _Node, message: ConsensusMessage) -> None:
        """The Byzantine coalition's split-brain attack: at each height the honest
        validators are split into two sides, and every Byzantine message is sent in
        two conflicting versions, one per side (different blocks from a Byzantine
        proposer; votes for the two sides' values from Byzantine voters)."""
        if isinstance(message, VoteMessage):
            self._equivocate_vote(node, message.vote)
        else:
            self._equivocate_proposal(node, message)

    def _sides(self, height: int) -> tuple[list[int], list[int]]:
        sides = self._split.get(height)
        if sides is None:
            honest = [n.index for n in self._honest_nodes()]
            first = [i for i in honest if self.rng.randrange(2) == 0]
            sides = (first, [i for i in honest if i not in first])
            self._split[height] = sides
        return sides

    def _equivocate_vote(self, node: _Node, vote: Vote) -> None:
        first, second = self._sides(vote.height)
        planned = self._plan.get((vote.height, vote.round))
        if planned is not None:
            values = planned
        else:
            values = (vote.block_hash, self._conflicting_value(node, vote))
        signer = UnguardedSigner(node.key)
        for side, value in zip((first, second), values, strict=True):
            signed = signer.sign_vote(vote.type, vote.chain_id, vote.height, vote.round, value)
            for index in side:
                self.send(node.index, index, VoteMessage(signed))
        for peer in self.nodes:
            if peer.byzantine and peer is not node:
                self.send(node.index, peer.index, VoteMessage(vote))
        if values[0] != values[1] and first and second:
            self.equivocators[node.key.address] = None

    def _conflicting_value(self, node: _Node, vote: Vote) -> bytes | None:
        """Another value to vote for: a different block proposed at this height, or nil."""
        assert node.runner is not None
        known: list[bytes | None] = [None, *node.runner.core.known_blocks()]
        choices = [value for value in known if value != vote.block_hash]
        if not choices:
            return hashlib.sha256(b"sim/phantom" + vote.signature).digest()
        return choices[self.rng.randrange(len(choices))]

    def _equivocate_proposal(self, node: _Node, message: ProposalMessage) -> None:
        proposal, block = message.proposal, message.block
        twin_block = self.make_block(
            node, block.height, block.last_commit, block.evidence,
            invalid=self.rng.randrange(4) == 0, time_shift_ms=1,
        )
        twin = UnguardedSigner(node.key).sign_proposal(  # a fresh value, no proof-of-lock
            proposal.chain_id, proposal.height, proposal.round, None, twin_block.hash,
        )
        self._plan[(proposal.height, proposal.round)] = (block.hash, twin_block.hash)
        first, second = self._sides(proposal.height)
        for index in first:
            self.send(node.index, index, message)
        for index in second:
            self.send(node.index, index, ProposalMessage(twin, twin_block))
        for peer in self.nodes:
            if peer.byzantine and peer is not node:
                self.send(node.index, peer.index, message)

    # Blocks --------------------------------------------------------------------

    def make_block(
        self, node: _Node, height: int, last_commit: Commit | None,
        evidence: tuple[DuplicateVoteEvidence, ...], *, invalid: bool, time_shift_ms: int = 0,
    ) -> Block:
        previous = last_commit.block_hash if last_commit is not None else ZERO_HASH
        header = BlockHeader(
            chain_id=CHAIN_ID, height=height, time_ms=self.now_ms + time_shift_ms,
            previous_block_hash=previous, tx_root=tx_root(()),
            last_state_root=INVALID_STATE_ROOT if invalid else VALID_STATE_ROOT,
            last_receipts_root=receipts_root(()), last_commit_hash=last_commit_hash(last_commit),
            validator_set_hash=self.validators_at(height).hash,
            evidence_root=evidence_root(evidence),
            proposer=node.key.address,
        )
        return Block(header, (), last_commit, evidence)

    def is_valid_next(self, node: _Node, block: Block) -> bool:
        """The honest ``valid(v)``: well formed, extends our chain, not marked invalid."""
        return _valid_extension(block, node.committed, self.validators_at, self.verify)

    # Result --------------------------------------------------------------------

    def _result(self, timed_out: bool) -> SimulationResult:
        honest = [n.index for n in self._honest_nodes()]
        return SimulationResult(
            seed=self.seed, config=self.config, validator_set=self.validator_set,
            addresses=[n.key.address for n in self.nodes], honest=honest,
            byzantine=[n.index for n in self.nodes if n.byzantine],
            commits={n.index: list(n.committed) for n in self.nodes},
            commit_times={n.index: list(n.commit_times) for n in self.nodes},
            evidence={n.index: list(n.evidence.all_recorded()) for n in self.nodes},
            equivocators=list(self.equivocators), gst_round_max=self.gst_round_max,
            finished_ms=self.now_ms, events=self.events, timed_out=timed_out,
            validator_sets=self.validator_sets if self.dynamic else (),
            messages_after_removal=self.messages_after_removal,
        )

    def termination_bound_ms(self, from_round: int) -> int:
        return termination_bound_ms(self.config, from_round)


def _height_of(event: Event) -> int | None:
    if isinstance(event, ProposalMessage):
        return event.proposal.height
    if isinstance(event, VoteMessage):
        return event.vote.height
    return None


def _valid_extension(
    block: Block, chain: list[tuple[Block, Commit]], validators_at: ValidatorSetProvider,
    verify: SignatureVerifier,
) -> bool:
    """The honest ``valid(v)``: extends ``chain``, names the set of its height, was
    proposed by a member, and its last commit is certified by the previous height's set."""
    header = block.header
    if header.height != len(chain) + 1:
        return False
    previous = chain[-1][0].hash if chain else ZERO_HASH
    if header.previous_block_hash != previous or header.last_state_root != VALID_STATE_ROOT:
        return False
    validators = validators_at(header.height)
    if header.validator_set_hash != validators.hash or header.proposer not in validators:
        return False
    try:
        block.check_contents()
        if chain:
            last = block.last_commit
            if last is None or last.block_hash != previous:
                return False
            verify_commit(last, validators_at(header.height - 1), CHAIN_ID, verify)
    except (MalformedMessage, InvalidCommit):
        return False
    return True


def termination_bound_ms(config: SimulationConfig, from_round: int) -> int:
    """After GST, the longest one height may take: enough rounds to pass every faulty
    proposer plus one honest one, each round its three timeouts and message delays, plus
    a block-sync exchange."""
    rounds = 2 * config.validators + 2
    delta = config.delay_sync_max_ms
    total = 0
    for round in range(from_round, from_round + rounds):
        total += config.timeouts.propose_base_ms + round * config.timeouts.propose_increment_ms
        total += config.timeouts.prevote_base_ms + round * config.timeouts.prevote_increment_ms
        total += (config.timeouts.precommit_base_ms
                  + round * config.timeouts.precommit_increment_ms)
        total += 4 * delta
    return total + SYNC_RETRY_MS + 4 * delta


# Entry points -----------------------------------------------------------------


def simulate(seed: int, config: SimulationConfig | None = None) -> SimulationResult:
    """Run one seeded simulation (``config_for_seed(seed)`` when no config is given)."""
    return Simulation(seed, config if config is not None else config_for_seed(seed)).run()


def replay(seed: int, config: SimulationConfig | None = None) -> SimulationResult:
    """Run ``seed`` again and check every property: reproduces a failing run exactly."""
    result = simulate(seed, config)
    check_properties(result)
    return result


def check_properties(result: SimulationResult) -> None:
    """Raise PropertyViolation (naming the seed) unless all four properties hold."""
    problems = (_agreement(result) + _validity(result) + _termination(result)
                + _evidence(result))
    if problems:
        raise PropertyViolation(
            f"seed {result.seed} ({result.config}): " + "; ".join(problems[:5])
            + f". Reproduce with zonechain.node.consensus.simulation.replay({result.seed})"
        )


def _agreement(result: SimulationResult) -> list[str]:
    problems = []
    decided: dict[int, tuple[int, bytes]] = {}
    for index in result.honest:
        for height, (block, _) in enumerate(result.commits[index], start=1):
            first = decided.setdefault(height, (index, block.hash))
            if first[1] != block.hash:
                problems.append(f"AGREEMENT: validators {first[0]} and {index} committed "
                                f"different blocks at height {height}")
    return problems


def _validity(result: SimulationResult) -> list[str]:
    problems = []
    verify = verify_signature if result.config.signatures == "ed25519" else fake_verify
    for index in result.honest:
        chain: list[tuple[Block, Commit]] = []
        for block, commit in result.commits[index]:
            if not _valid_extension(block, chain, result.validators_at, verify):
                problems.append(f"VALIDITY: validator {index} committed an invalid block "
                                f"at height {block.height}")
            try:
                verify_commit(commit, result.validators_at(block.height), CHAIN_ID, verify)
            except InvalidCommit as error:
                problems.append(f"VALIDITY: bad certificate at height {block.height}: {error}")
            if commit.block_hash != block.hash:
                problems.append(f"VALIDITY: certificate for another block at {block.height}")
            chain.append((block, commit))
    return problems


def _termination(result: SimulationResult) -> list[str]:
    config = result.config
    if result.timed_out or any(len(result.commits[i]) < config.heights for i in result.honest):
        reached = {i: len(result.commits[i]) for i in result.honest}
        return [f"TERMINATION: stopped at {result.finished_ms} ms with heights {reached}"]
    problems = []
    previous_done = config.gst_ms
    first_after_gst = True
    for height in range(1, config.heights + 1):
        done = max(result.commit_times[i][height - 1] for i in result.honest)
        if done <= config.gst_ms:
            continue
        from_round = result.gst_round_max if first_after_gst else 0
        bound = termination_bound_ms(config, from_round)
        if done - previous_done > bound:
            problems.append(f"TERMINATION: height {height} took {done - previous_done} ms "
                            f"after GST, bound {bound} ms")
        previous_done, first_after_gst = done, False
    return problems


def _evidence(result: SimulationResult) -> list[str]:
    recorded: dict[bytes, None] = {}
    for index in result.honest:
        for item in result.evidence[index]:
            recorded[item.validator] = None
    problems = [f"EVIDENCE: equivocation by {address.hex()} not recorded"
                for address in result.equivocators if address not in recorded]
    byzantine = [result.addresses[i] for i in result.byzantine]
    problems += [f"EVIDENCE: honest validator {address.hex()} accused"
                 for address in recorded if address not in byzantine]
    return problems
