"""The validator node process: ledger + mempool + consensus + peers + client service + metrics.

    node = Node(home)            # loads home/config.toml, its genesis, keys, opens the store
    node.start()                 # p2p, client gRPC, metrics, consensus and sync threads
    node.wait()                  # until stop() (SIGTERM / SIGINT in `zonechain node`)
    node.stop()                  # clean: threads joined, servers stopped, store closed

Threads and what they own:
- ``consensus`` (stack ``vm.engine.VM_THREAD_STACK_BYTES``): the ONLY thread that
  drives the ``ConsensusCore`` and commits blocks. It takes peer
  messages, synced blocks and its own timeouts (a deadline heap, no timer
  threads) from one queue, one at a time, so the state machine sees a
  serial event order, as driver.py requires.
- ``query`` (same stack size): read-only contract calls from clients. The
  ledger's lock serialises them with block execution (one VM, one tree cache).
- ``proposal`` (same stack size): executes this validator's own proposal while
  it is broadcast and voted on (the builder first checks, without executing,
  every rule that could make it invalid: ``Ledger.precheck_block``); the
  consensus thread waits for that result only when it commits the block.
- ``tx-gossip``: batches transactions clients submitted here and sends them
  to every peer (at most one message per peer every ``GOSSIP_FLUSH_S``, so
  the peers' rate limits are never hit by a busy client).
- ``block-sync`` (node/sync.py), the p2p transport's threads, the client
  gRPC server's pool and the metrics server.

Consensus duties carried out here (docs/CONSENSUS.md): a proposal's block is
checked with ``Ledger.check_block`` (plus its last commit against the
validator set) before the core may prevote for it; the execution result is
kept and committed with the certificate by ``Ledger.commit_checked`` (each
block executes once per node); then the mempool drops what the block made
stale. A proposer builds from ``Mempool.reap``; with nothing to include it
waits up to ``consensus.commit_ms`` for a transaction before proposing an
empty block, so an idle network does not spin; and it proposes no sooner than
``consensus.block_interval_ms`` after its last commit, so a loaded network
makes fewer, fuller blocks. Every ``REGOSSIP_S`` without
progress the node re-sends its own proposal and votes of the current height,
so a peer that restarted or lost messages gets them (the paper's gossip
assumption).

Validator sets: ``validators_at(height)`` is governance's record in state
(``permissions.hooks.consensus_validators_at``) when genesis installed one,
else the genesis validators; the core follows changes through a
``ValidatorSchedule`` over it, and block sync verifies each certificate
against the set of its height. In a one-validator network the core would
decide height after height inside one call; the builder then ends that call
(``_Unwind``) and a fresh core continues from the ledger, so the event loop
(stop requests, timeouts) keeps running.

Faults: a block that the network certified but this node cannot apply, or a
store error, is a node fault: it is logged and the node stops with exit code
1 (never swallowed). Bad input from peers and clients is refused and logged.

Evidence: a proposer puts the core's pending equivocation evidence into its
block; ``Ledger.check_block`` verifies each item's signatures against the
validator set of its height (``_validator_public_key``), so a block with
forged evidence is invalid; evidence older than EVIDENCE_MAX_AGE_HEIGHTS, or of
an equivocation a committed block holds, is invalid too, and the core's pool
(built with the ledger's committed-evidence index) never proposes either.

Peers: proposals and votes are taken only from peers whose TLS certificate
names a validator key of the sets of heights H..H+2 (H = last committed;
``_is_consensus_sender``, the p2p server's ``consensus_senders`` gate); other
peers are full nodes to us (blocks, status, transactions) and their consensus
messages are dropped and counted. A node whose validator key differs from its
certificate's refuses to start. Test-only fault injection (node/faults.py:
partitions, withheld proposals, equivocation) is active only when the process
runs with ``ZONECHAIN_TEST_FAULTS=1``; otherwise its hooks are skipped.

Logs: one JSON object per line on ``log_stream`` (stderr by default):
``{"ts_ms": ..., "node": ..., "event": ..., ...}``.

Determinism: nothing here feeds state except through the ledger; wall-clock
time is read only to stamp a proposal's header (``time_ms``, kept strictly
after the previous block's, as the ledger checks).
"""

from __future__ import annotations

import contextlib
import functools
import gc
import heapq
import json
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Final, TextIO, TypeVar

from zonechain.node.config import (
    Genesis,
    NodeConfig,
    load_genesis,
    load_node_config,
    load_validator_key,
)
from zonechain.node.consensus import (
    ConsensusCore,
    ConsensusMessage,
    ConsensusRunner,
    DoubleSignRefused,
    EvidencePool,
    GuardedSigner,
    InvalidCommit,
    NodeStoreSignerStore,
    ProposalMessage,
    SignState,
    SyncedBlock,
    Timeout,
    TimeoutConfig,
    Validator,
    ValidatorSchedule,
    ValidatorSet,
    VoteMessage,
    verify_commit,
)
from zonechain.node.consensus.evidence import EVIDENCE_COMMITTED, EVIDENCE_EXPIRED
from zonechain.node.crypto import PrivateKey
from zonechain.node.executor import ExecutionResult, InvalidBlock
from zonechain.node.faults import FAULTS_FILE, FaultInjector
from zonechain.node.ledger import INVALID_EVIDENCE, Ledger
from zonechain.node.ledger import Genesis as LedgerGenesis
from zonechain.node.mempool import DUPLICATE, Mempool, MempoolRejection
from zonechain.node.metrics import Gauges, Metrics, MetricsServer
from zonechain.node.p2p import (
    ConnectionState,
    PeerStatusInfo,
    PeerTransport,
    TransactionsMessage,
)
from zonechain.node.p2p.messages import GOSSIP_BATCH_TXS_MAX, PeerMessage
from zonechain.node.permissions.genesis import writes_for_genesis
from zonechain.node.permissions.hooks import (
    consensus_validators_at,
    governance_hook,
    zone_policy,
)
from zonechain.node.permissions.store import latest_validator_set
from zonechain.node.service import ClientServer
from zonechain.node.sync import BlockSync
from zonechain.node.tls import PeerIdentity
from zonechain.node.types.block import Block
from zonechain.node.types.commit import Commit
from zonechain.node.types.evidence import DuplicateVoteEvidence
from zonechain.node.types.limits import BLOCK_BYTES_MAX
from zonechain.node.types.receipt import Receipt
from zonechain.node.types.transaction import SignedTransaction
from zonechain.node.types.vote import Proposal, Vote, VoteType
from zonechain.vm.engine import VM_THREAD_STACK_BYTES

T = TypeVar("T")

CONFIG_FILE: Final = "config.toml"

EVIDENCE_CODES: Final = frozenset({INVALID_EVIDENCE, EVIDENCE_EXPIRED, EVIDENCE_COMMITTED})
"""InvalidBlock codes of a proposal's evidence: the builder then proposes without it."""

PROPOSAL_TIME_AHEAD_MS_MAX: Final = 15_000
"""How far a proposal's header time may run ahead of this validator's clock
before it prevotes nil (Alg.1 ``valid(v)`` is false). Block time is the time
contracts see (daily limits, expiries): without a bound, one Byzantine
proposer could move it days ahead for good, since later blocks must not go
back. Checked only for proposals, never for certified blocks (block sync), so
a node with a slow clock still follows the chain; 15 s is far above the skew
of clocks kept by NTP and far below anything a contract measures in."""

PROPOSAL_TXS_MAX: Final = 2_000
"""Transactions a proposer puts in one block (the protocol allows 10,000): a
2,000-transfer block executes in about a second here, well inside a round's
timeouts, so a loaded network keeps its rounds short."""

PROPOSAL_BYTES_MAX: Final = BLOCK_BYTES_MAX - 1024 * 1024
"""Transaction bytes per proposal: the block limit less room for the header,
the last commit and framing."""

REGOSSIP_S: Final = 1.0
"""Re-send our own messages of the current height after this long without a
commit: a restarted or disconnected peer gets them within a second."""

GOSSIP_FLUSH_S: Final = 0.02
"""Client transactions are gossiped in batches at most this often (50 per
second, far below the peers' 2,000 messages/s rate limit)."""

QUEUE_EVENTS_MAX: Final = 100_000
"""Consensus inbox bound; beyond it messages are dropped (consensus recovers
lost messages through timeouts and re-gossip)."""

TX_WAIT_SLICE_S: Final = 0.05
"""A proposer waiting for transactions re-checks the mempool at least this often."""

SYNC_HANDOVER_WAIT_S: Final = 5.0
"""How long block sync waits for room in a full consensus inbox before dropping a block."""

PRUNE_EVERY_HEIGHTS: Final = 10
"""With ``storage.retain_heights`` set, the consensus thread prunes after every tenth
commit (and after every commit while a backlog remains): a prune step is one
synced write, so pruning every height would pay ten fsyncs for the same
deletions, and ten heights of garbage at 1,000 transfers a block (~36,000 tree
nodes, ~24,000 history keys) go in four bounded steps (``PRUNE_STEP_NODES_MAX``),
one per commit. The window moves in jumps of ten heights: a node keeps
``retain_heights`` to ``retain_heights + 9`` heights below its latest."""

STOP_JOIN_S: Final = 30.0
"""How long stop() waits for a thread; a block commit in flight finishes first."""


class NodeStartError(Exception):
    """The node cannot start: bad files, a port in use, a store held by another process."""


@dataclass(frozen=True, slots=True)
class CommittedBlock:
    """What subscribers (streams, metrics) learn of each commit."""

    block: Block
    commit: Commit
    receipts: tuple[Receipt, ...]


@dataclass(frozen=True, slots=True)
class ChainTip:
    """The last commit as one value (replaced whole, so readers need no lock)."""

    height: int
    block_hash: bytes
    state_root: bytes


class EventLog:
    """Structured logs: one JSON object per line."""

    def __init__(self, node_id: str, stream: TextIO | None = None) -> None:
        self._node_id = node_id
        self._stream = stream if stream is not None else sys.stderr
        self._lock = threading.Lock()

    def __call__(self, event: str, fields: dict[str, object] | None = None) -> None:
        record: dict[str, object] = {"ts_ms": time.time_ns() // 1_000_000,
                                     "node": self._node_id, "event": event}
        record.update(fields or {})
        line = json.dumps(record, default=str)
        with self._lock, contextlib.suppress(ValueError, OSError):
            self._stream.write(line + "\n")
            self._stream.flush()


class _Unwind(Exception):
    """Raised by the block builder to end the core's current call early: when this node
    alone is a quorum (it would otherwise decide height after height inside one call)
    or when the node is stopping. The core is then replaced by a fresh one at the
    ledger's next height (its signer store keeps what was signed)."""


class NonSigner:
    """The signer of a node without a validator key: it never signs (full nodes)."""

    address = b""
    state: SignState | None = None

    def sign_vote(self, vote_type: VoteType, chain_id: str, height: int, round: int,
                  block_hash: bytes | None) -> Vote:
        raise DoubleSignRefused("this node has no validator key", None)

    def sign_proposal(self, chain_id: str, height: int, round: int, pol_round: int | None,
                      block_hash: bytes) -> Proposal:
        raise DoubleSignRefused("this node has no validator key", None)


def ledger_genesis(genesis: Genesis) -> LedgerGenesis:
    """The ledger's height-0 state for a network genesis: its permission records."""
    writes = writes_for_genesis(genesis)
    return LedgerGenesis(chain_id=genesis.chain_id, time_ms=genesis.genesis_time_ms,
                         state=tuple(sorted(writes.items())))


def genesis_validator_set(genesis: Genesis) -> ValidatorSet:
    return ValidatorSet(Validator(v.public_key, v.power) for v in genesis.validators)


def timeout_config(config: NodeConfig) -> TimeoutConfig:
    timeouts = config.consensus
    return TimeoutConfig(
        propose_base_ms=timeouts.propose_ms, propose_increment_ms=timeouts.propose_delta_ms,
        prevote_base_ms=timeouts.prevote_ms, prevote_increment_ms=timeouts.prevote_delta_ms,
        precommit_base_ms=timeouts.precommit_ms,
        precommit_increment_ms=timeouts.precommit_delta_ms,
    )


GC_THRESHOLDS: Final = (20_000, 20, 20)
"""Python's cyclic collector runs a young collection every 700 allocations by
default; a node allocates ~100 objects per transaction (decoded txs, receipts,
tree nodes) and frees nearly all of them by reference counting, so those passes
find little. Collecting less often cut the devnet nodes' CPU per transaction by
~5-10% (benchmarks/RESULTS.md, "Devnet throughput")."""


def tune_garbage_collector() -> None:
    """Move what exists now (modules, genesis, the wasm engine) out of the collector's
    view and make collections rarer (GC_THRESHOLDS). Speed only; process-wide."""
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def _vm_thread_pool(name: str) -> ThreadPoolExecutor:
    """A one-thread pool whose thread has the VM's stack (created now, while the size is set)."""
    previous = threading.stack_size(VM_THREAD_STACK_BYTES)
    try:
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        pool.submit(lambda: None).result()
    finally:
        threading.stack_size(previous)
    return pool


class Node:
    """One zonechain node; see the module docstring."""

    def __init__(self, home: str | Path, *, log_stream: TextIO | None = None) -> None:
        self.home = Path(home)
        try:
            self.config = load_node_config(self.home / CONFIG_FILE)
            self.genesis = load_genesis(self.config.paths.genesis)
            self.key: PrivateKey | None = (
                load_validator_key(self.config.paths.validator_key)
                if self.config.paths.validator_key is not None else None)
        except (OSError, ValueError) as error:
            raise NodeStartError(str(error)) from None
        self.chain_id = self.genesis.chain_id
        self.log = EventLog(self.config.node_id, log_stream)
        self._genesis_validators = genesis_validator_set(self.genesis)
        try:
            self.ledger = Ledger.open(self.config.paths.data, ledger_genesis(self.genesis),
                                      zone_policy=zone_policy, governance=governance_hook,
                                      evidence_keys=self._validator_public_key)
        except Exception as error:  # store lock held, damaged store, genesis mismatch
            raise NodeStartError(f"cannot open the ledger at {self.config.paths.data}: "
                                 f"{error}") from None
        try:
            self._assemble()
        except Exception as error:  # e.g. TLS files that do not match genesis
            self.ledger.close()
            raise NodeStartError(str(error)) from None

    def _assemble(self) -> None:
        """Everything after the ledger: mempool, consensus core, transport, sync, servers."""
        self.store = self.ledger.store
        self.faults = FaultInjector.from_environment(self.home)  # test-only; off by default
        self.mempool = Mempool(self.chain_id, self.store, self.ledger.height,
                               capacity_txs=self.config.mempool.txs_max,
                               capacity_bytes=self.config.mempool.bytes_max,
                               zone_policy=zone_policy)
        self.metrics = Metrics(self._gauges)
        self.validator_schedule = ValidatorSchedule(self.validators_at)
        self.validators = self.validators_at(self.ledger.height + 1)
        self.is_validator = self.key is not None and self.key.address in self.validators
        self._events: queue.Queue[ConsensusMessage | SyncedBlock | None] = queue.Queue(
            QUEUE_EVENTS_MAX)
        self._timers: list[tuple[float, int, Timeout]] = []
        self._timer_sequence = 0
        self._checked: dict[bytes, ExecutionResult] = {}
        # Our own proposals, executing on the ``proposal`` thread while the network votes.
        self._executing: dict[bytes, Future[ExecutionResult]] = {}
        self._execute_s: dict[bytes, float] = {}  # block hash -> seconds its check took
        self._candidates: dict[bytes, Block] = {}  # this height's checked or synced blocks
        self.tip = ChainTip(self.ledger.height, self.ledger.last_block_hash,
                            self.ledger.state_root)
        self._committed = threading.Condition()
        self._last_committed: CommittedBlock | None = None
        self._tx_arrived = threading.Condition()
        self._gossip_batch: list[SignedTransaction] = []
        self._stopping = threading.Event()
        self._stopped = threading.Event()
        self._last_progress = time.monotonic()
        self._decided_at = self._last_progress
        """When this node's last commit began (``block_interval_ms`` counts from it)."""
        self._last_regossip = 0.0
        self._rebuild_core = False
        self._prune_backlog = False  # the last prune left stale nodes for the next commit
        self.fault: BaseException | None = None
        self.core = self._make_core()
        self.runner = ConsensusRunner(self.core, self, self, self)
        self._consensus_keys = self._current_validator_keys()
        self.transport = PeerTransport.from_config(
            self.config, self.genesis, self._inbox, status=self._peer_status,
            blocks=self.committed_blocks, consensus_senders=self._is_consensus_sender)
        self._check_certificate_key()
        self.sync = BlockSync(
            chain_id=self.chain_id, peers=lambda: self.transport.peers,
            local_height=lambda: self.ledger.height, validators_at=self.validators_at,
            deliver=self._deliver_synced, wait_height=self.wait_for_height,
            on_event=self.log, last_progress=lambda: self._last_progress)
        self._threads: list[threading.Thread] = []
        self._query_pool: ThreadPoolExecutor | None = None
        self._proposal_pool: ThreadPoolExecutor | None = None
        self._client_server: ClientServer | None = None
        self._metrics_server = MetricsServer(self.metrics, self.config.metrics_listen)
        self.client_port: int | None = None
        self.p2p_port: int | None = None
        self.metrics_port: int | None = None

    # ---- validator sets ---------------------------------------------------------

    def validators_at(self, height: int) -> ValidatorSet:
        """The set that signs block ``height``: governance's record if any, else genesis."""
        if latest_validator_set(self.store) is None:
            return self._genesis_validators
        return consensus_validators_at(self.store, height)

    def _current_validator_keys(self) -> frozenset[bytes]:
        """Validator keys of the sets of the last committed height H, H+1 and H+2.

        H+2 is known once H is applied (VALIDATOR_CHANGE_DELAY), so a validator
        that joins is accepted before its first height; H keeps late precommits
        of a validator that has just left (they complete certificates and evidence)."""
        height = self.ledger.height
        return frozenset(validator.public_key
                         for at in range(max(height, 1), height + 3)
                         for validator in self.validators_at(at).validators)

    def _is_consensus_sender(self, identity: PeerIdentity) -> bool:
        """The p2p server's gate (transport thread): may this peer send proposals and
        votes? Only if its certificate's validator key is in ``_consensus_keys``."""
        if identity.validator_public_key in self._consensus_keys:
            return True
        self.metrics.add("consensus_messages_refused_total")
        return False

    def _check_certificate_key(self) -> None:
        """A validator key must be the one its TLS certificate names: peers accept
        consensus messages by the certificate's key (docs/OPERATIONS.md)."""
        if self.key is None or self.transport.identity.validator_public_key == \
                self.key.public_key:
            return
        raise NodeStartError(
            f"{self.config.paths.tls_certificate} names validator key "
            f"{self.transport.identity.validator_public_key.hex()}, but "
            f"{self.config.paths.validator_key} holds {self.key.public_key.hex()}: peers "
            f"would drop this node's votes; re-issue the certificate for the key "
            f"(zonechain.node.init_cli.issue_validator_certificate)")

    def _validator_public_key(self, address: bytes, height: int) -> bytes | None:
        """The ledger's evidence check: ``address``'s key in the set of ``height``."""
        member = self.validators_at(height).get(address)
        return None if member is None else member.public_key

    def _make_core(self, evidence: EvidencePool | None = None) -> ConsensusCore:
        """A core at the next height; a rebuilt one is handed the old core's
        ``evidence`` pool so evidence not yet in a block survives the rebuild."""
        height = self.ledger.height
        certificate = self.store.load_certificate(height) if height > 0 else None
        signer = (GuardedSigner(self.key, NodeStoreSignerStore(self.store))
                  if self.is_validator and self.key is not None else NonSigner())
        if evidence is None:  # leaves out what committed blocks hold, also after a restart
            evidence = EvidencePool(committed=self.ledger.committed_evidence.holds)
        return ConsensusCore(
            self.chain_id, self.validator_schedule, signer, self,
            height=height + 1,
            last_commit=None if certificate is None else Commit.decode(certificate),
            timeouts=timeout_config(self.config), evidence=evidence)

    # ---- lifecycle ----------------------------------------------------------------

    def start(self) -> None:
        """Start serving; NodeStartError (after undoing what started) if a port is taken."""
        tune_garbage_collector()
        try:
            self.p2p_port = self.transport.start()
            self._query_pool = _vm_thread_pool("query")
            self._proposal_pool = _vm_thread_pool("proposal")
            server = ClientServer(self, self.config.client_listen, tls=self.config.client_tls)
            self.client_port = server.start()
            self._client_server = server
            self.metrics_port = self._metrics_server.start()
        except Exception as error:
            self._shutdown_services()
            self.ledger.close()
            raise NodeStartError(str(error)) from None
        previous = threading.stack_size(VM_THREAD_STACK_BYTES)
        try:
            consensus = threading.Thread(target=self._run_consensus, name="consensus")
            consensus.start()
        finally:
            threading.stack_size(previous)
        gossip = threading.Thread(target=self._run_gossip, name="tx-gossip", daemon=True)
        gossip.start()
        self._threads = [consensus, gossip]
        self.sync.start()
        if self.faults.enabled:
            self.log("test_faults_enabled", {"file": str(self.home / FAULTS_FILE)})
        self.log("node_started", {
            "height": self.ledger.height, "validator": self.is_validator,
            "client": f"{self.config.client_listen.host}:{self.client_port}",
            "client_tls": self.config.client_tls is not None,
            "p2p": f"{self.config.p2p.listen.host}:{self.p2p_port}",
            "metrics": f"{self.config.metrics_listen.host}:{self.metrics_port}"})

    def request_stop(self) -> None:
        """Ask the node to stop (safe from a signal handler or any thread)."""
        self._stopping.set()
        self.metrics.stopping = True
        with contextlib.suppress(queue.Full):
            self._events.put_nowait(None)
        with self._tx_arrived:
            self._tx_arrived.notify_all()
        with self._committed:
            self._committed.notify_all()

    def stop(self) -> None:
        """Stop every thread and server, then close the store. Idempotent."""
        if self._stopped.is_set():
            return
        self.request_stop()
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(STOP_JOIN_S)
        self._shutdown_services()  # closes peer channels: a sync call in flight ends now
        self.sync.stop()
        self.ledger.close()
        self._stopped.set()
        self.log("node_stopped", {"height": self.ledger.height,
                                  "fault": None if self.fault is None else str(self.fault)})

    def _shutdown_services(self) -> None:
        server = self._client_server
        if server is not None:
            server.stop()
        self._metrics_server.stop()
        self.transport.stop()
        if self._query_pool is not None:
            self._query_pool.shutdown(wait=True)
        if self._proposal_pool is not None:
            self._proposal_pool.shutdown(wait=True, cancel_futures=True)

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block until a stop is requested (or ``timeout_s``); True if it was."""
        return self._stopping.wait(timeout_s)

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def run_query(self, call: Callable[[], T]) -> Future[T]:
        """Run ``call()`` on the query thread (VM stack); the service waits on the future."""
        if self._query_pool is None:
            raise RuntimeError("the node is not started")
        return self._query_pool.submit(call)

    # ---- the consensus thread -------------------------------------------------------

    def _run_consensus(self) -> None:
        try:
            self._drive(self.runner.start)
            while not self._stopping.is_set():
                event = self._next_event()
                if event is not None:
                    self._handle(event)
                self._fire_timeouts()
                self._after_effects()
                self._maybe_regossip()
        except Exception as error:  # a node fault: log it and stop, never swallow
            self.fault = error
            self.log("node_fault", {"error": f"{type(error).__name__}: {error}"})
            self.request_stop()

    def _next_event(self) -> ConsensusMessage | SyncedBlock | None:
        wait_s = 0.0 if self._rebuild_core else REGOSSIP_S
        if self._timers:
            wait_s = min(wait_s, max(self._timers[0][0] - time.monotonic(), 0.0))
        try:
            return self._events.get(timeout=wait_s)
        except queue.Empty:
            return None

    def _handle(self, event: ConsensusMessage | SyncedBlock) -> None:
        if isinstance(event, ProposalMessage | VoteMessage):
            height = (event.proposal.height if isinstance(event, ProposalMessage)
                      else event.vote.height)
            if height > self.core.height + 1:  # a height we missed (sync.py ONE_AHEAD_GRACE_S)
                self.sync.poke()
        elif event.block.height == self.ledger.height + 1:
            self._candidates[event.block.hash] = event.block
        self._drive(functools.partial(self.runner.handle, event))

    def _drive(self, step: Callable[[], object]) -> None:
        """Run one core step; ``_Unwind`` from the builder ends it early (see build_block)."""
        with contextlib.suppress(_Unwind):
            step()

    def _after_effects(self) -> None:
        """Start a fresh core at the ledger's next height when one was asked for."""
        if self._rebuild_core and not self._stopping.is_set():
            self._rebuild_core = False
            self.core = self._make_core(evidence=self.core.evidence)
            self.runner = ConsensusRunner(self.core, self, self, self)
            self._drive(self.runner.start)

    def _fire_timeouts(self) -> None:
        now = time.monotonic()
        while self._timers and self._timers[0][0] <= now:
            _, _, timeout = heapq.heappop(self._timers)
            self._drive(functools.partial(self.runner.handle, timeout))

    def _maybe_regossip(self) -> None:
        now = time.monotonic()
        if now - self._last_progress < REGOSSIP_S or now - self._last_regossip < REGOSSIP_S:
            return
        self._last_regossip = now
        own = self.core.address
        for message in self.core.messages_for_peers():
            author = (message.proposal.proposer if isinstance(message, ProposalMessage)
                      else message.vote.validator)
            if author == own:
                self._to_peers(message)

    # ---- seams of the ConsensusRunner: Clock, Transport, Application, BlockBuilder -----

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000

    def schedule(self, delay_ms: int, timeout: Timeout) -> None:
        self._timer_sequence += 1
        heapq.heappush(self._timers, (time.monotonic() + delay_ms / 1000, self._timer_sequence,
                                      timeout))

    def broadcast(self, message: ConsensusMessage) -> None:
        self._to_peers(message)
        if self.faults.enabled and isinstance(message, VoteMessage) and self.key is not None:
            twin = self.faults.conflicting_vote(self.key, message.vote)
            if twin is not None:  # test-only Byzantine mode (node/faults.py)
                self.log("test_fault_equivocated", {"height": twin.height, "round": twin.round,
                                                    "type": twin.type.name})
                self._to_peers(VoteMessage(twin))

    def _to_peers(self, message: PeerMessage) -> None:
        """Broadcast, less what the test-only faults drop (node/faults.py)."""
        if not self.faults.enabled:
            self.transport.broadcast(message)
            return
        plan = self.faults.plan()
        if plan.withhold_proposals and isinstance(message, ProposalMessage):
            self.log("test_fault_proposal_withheld", {"height": message.proposal.height,
                                                      "round": message.proposal.round})
            return
        for node_id in self.transport.peers:
            if node_id not in plan.isolated_peers:
                self.transport.send(node_id, message)

    def validate(self, block: Block) -> bool:
        """Alg.1 valid(v): the block follows our chain, executes, and its last commit verifies."""
        try:
            if block.height > 1:
                last = block.last_commit
                if last is None or last.block_hash != self.ledger.last_block_hash:
                    raise InvalidBlock("wrong_last_commit", "last commit is not for our last block")
                verify_commit(last, self.validators_at(block.height - 1), self.chain_id)
            if block.header.validator_set_hash != self.validators_at(block.height).hash:
                raise InvalidBlock("wrong_validator_set", "validator set hash differs")
            ahead_ms = block.header.time_ms - self.now_ms()
            if ahead_ms > PROPOSAL_TIME_AHEAD_MS_MAX:
                raise InvalidBlock("time_too_far_ahead",
                                   f"block time is {ahead_ms} ms ahead of this validator's "
                                   f"clock (at most {PROPOSAL_TIME_AHEAD_MS_MAX} ms)")
            self._checked[block.hash] = self._timed_check(block)
            self._candidates[block.hash] = block
        except (InvalidBlock, InvalidCommit) as error:
            self.metrics.add("proposals_invalid_total")
            self.log("proposal_invalid", {"height": block.height, "block": block.hash.hex(),
                                          "error": str(error)})
            return False
        return True

    def build_block(self, height: int, round: int, last_commit: Commit | None,
                    evidence: tuple[DuplicateVoteEvidence, ...]) -> Block:
        """Alg.1 getValue(): ready mempool txs (after a short wait when there are none)."""
        assert self.key is not None, "only validators propose"
        if last_commit is not None and self.ledger.height == height - 2:
            # The core decides height - 1 and starts this height inside one handle() call,
            # before the runner carries out its CommitBlock: apply that block first.
            decided = self._candidates.get(last_commit.block_hash)
            if decided is None:
                raise InvalidBlock("unknown_decided_block", "the decided block is not held")
            self.commit(decided, last_commit)
            if self._sole_quorum():
                # Alone we would decide every following height inside this same call,
                # never returning to the event loop: end the call and start afresh.
                self._rebuild_core = True
                raise _Unwind
        if self._stopping.is_set():
            raise _Unwind
        txs = self._reap_waiting()
        while True:
            time_ms = max(self.now_ms(), self._tip_time_ms() + 1)
            block = self.ledger.propose_block(txs, time_ms, self.key, last_commit=last_commit,
                                              validator_set_hash=self.validators_at(height).hash,
                                              evidence=evidence)
            try:
                self._check_own(block)
                self._candidates[block.hash] = block
                return block
            except InvalidBlock as error:
                # The mempool admitted a tx the executor refuses (e.g. its state moved on):
                # drop it and build again; never propose a block we know is invalid.
                self.log("proposal_rebuilt", {"height": height, "error": str(error)})
                if error.code in EVIDENCE_CODES:  # never expected: our pool checked it
                    self.log("proposal_evidence_dropped", {"height": height, "error": str(error)})
                    evidence = ()
                    continue
                if error.tx_index is None:
                    raise
                txs = txs[:error.tx_index] + txs[error.tx_index + 1:]

    def _check_own(self, block: Block) -> None:
        """Make sure our proposal is valid; execute it now or, once started, meanwhile.

        Started: ``Ledger.precheck_block`` finds every InvalidBlock without running
        the VM, and the execution runs on the ``proposal`` thread while the block is
        broadcast and the others execute it, so a height costs one execution on the
        critical path instead of two; ``commit`` waits for its result.
        """
        pool = self._proposal_pool
        if pool is None:
            self._checked[block.hash] = self._timed_check(block)
            return
        self.ledger.precheck_block(block)
        self._executing[block.hash] = pool.submit(self._timed_check, block)

    def _timed_check(self, block: Block) -> ExecutionResult:
        """``Ledger.check_block``, its duration kept for the ``block_committed`` log."""
        started = time.monotonic()
        result = self.ledger.check_block(block)
        self._execute_s[block.hash] = time.monotonic() - started
        return result

    def _own_result(self, block: Block) -> ExecutionResult | None:
        """The execution of our own proposal ``block`` (None: not ours, or it failed)."""
        pending = self._executing.pop(block.hash, None)
        if pending is None:
            return None
        try:
            return pending.result()
        except (InvalidBlock, CancelledError) as error:  # re-executed by the caller
            self.log("proposal_execution_failed", {"height": block.height,
                                                   "error": f"{type(error).__name__}: {error}"})
            return None

    def _sole_quorum(self) -> bool:
        """Whether this validator's power alone is a quorum (a one-validator network)."""
        own = self.validators.get(self.key.address) if self.key is not None else None
        return own is not None and self.validators.has_quorum(own.power)

    def _tip_time_ms(self) -> int:
        """The time the next block must pass: the ledger's tip time (held in memory),
        or just before genesis time at height 0 (block 1 may carry genesis time)."""
        height = self.ledger.height
        if height == 0:
            return self.genesis.genesis_time_ms - 1
        return self.ledger.time_at(height)

    def _reap_waiting(self) -> list[SignedTransaction]:
        # At most half the propose timeout: the other validators are waiting for us;
        # and not at all while catching up (this height is long decided elsewhere).
        timeouts = self.config.consensus
        catching_up = self.sync.catching_up
        wait_ms = 0 if catching_up else min(timeouts.commit_ms, timeouts.propose_ms // 2)
        now = time.monotonic()
        deadline = now + wait_ms / 1000
        if not catching_up and len(self.mempool) < PROPOSAL_TXS_MAX:
            # Not sooner than block_interval_ms after the last decision reached this node
            # (counted from before its own execution and write, which the others need not
            # wait for; a later round's proposer, long after it, does not wait), never
            # above half a propose timeout, and not at all with a full block waiting.
            earliest = min(self._decided_at + timeouts.block_interval_ms / 1000,
                           now + timeouts.propose_ms / 2000)
            if earliest > now:
                self._stopping.wait(earliest - now)
        while True:
            txs = self._reap()  # outside the lock: clients keep submitting meanwhile
            remaining = deadline - time.monotonic()
            if txs or remaining <= 0 or self._stopping.is_set():
                return txs
            with self._tx_arrived:
                self._tx_arrived.wait(min(remaining, TX_WAIT_SLICE_S))

    def _reap(self) -> list[SignedTransaction]:
        txs: list[SignedTransaction] = []
        size = 0
        for signed in self.mempool.reap(PROPOSAL_TXS_MAX):
            size += len(signed.encode())
            if size > PROPOSAL_BYTES_MAX:
                break
            txs.append(signed)
        return txs

    def commit(self, block: Block, commit: Commit) -> None:
        """Apply a decided block with its certificate (one synced write), then tell everyone.

        Idempotent: a block already applied (by ``build_block``) is checked against
        the stored hash and skipped."""
        if block.height <= self.ledger.height:
            if self.store.block_height(block.hash) != block.height:
                raise InvalidBlock("conflicting_commit",
                                   f"height {block.height} is committed with another block")
            return
        entered = time.monotonic()
        result = self._checked.get(block.hash) or self._own_result(block)
        if result is None or result.height != self.ledger.height + 1:
            result = self._timed_check(block)  # a synced block; InvalidBlock is a fault
        started = time.monotonic()
        with self.ledger._lock:  # readers see the store and the tip change together
            receipts = self.ledger.commit_checked(block, result, commit)
            self.tip = ChainTip(block.height, block.hash, result.state_root)
        self._consensus_keys = self._current_validator_keys()
        self._checked.clear()
        for abandoned in self._executing.values():  # other rounds' proposals
            abandoned.cancel()  # not started yet: never run; running: its result is dropped
        self._executing.clear()
        self._candidates.clear()
        self.mempool.update(block)
        now = time.monotonic()
        commit_ms = round(1000 * (now - started))
        execute_ms = round(1000 * self._execute_s.pop(block.hash, 0.0))
        self._execute_s.clear()
        self._last_progress = now
        self._decided_at = entered
        self.metrics.add("blocks_committed_total")
        self.metrics.add("txs_committed_total", len(block.txs))
        self.log("block_committed", {"height": block.height, "hash": block.hash.hex(),
                                     "txs": len(block.txs), "round": commit.round,
                                     "state_root": result.state_root.hex(),
                                     "execute_ms": execute_ms, "commit_ms": commit_ms,
                                     "mempool_txs": len(self.mempool)})
        with self._committed:
            self._last_committed = CommittedBlock(block, commit, receipts)
            self._committed.notify_all()
        self._prune_state(block.height)
        next_validators = self.validators_at(block.height + 1)
        if next_validators.hash != self.validators.hash:
            # The core follows the change itself (its ValidatorSchedule); only a node
            # that joins or leaves the set needs a core with another signer.
            self.log("validator_set_changed", {"height": block.height + 1,
                                               "validators": len(next_validators)})
            self.validators = next_validators
            signs = self.key is not None and self.key.address in next_validators
            if signs != self.is_validator:
                self.is_validator = signs
                self._rebuild_core = True

    def _prune_state(self, height: int) -> None:
        """Keep ``storage.retain_heights`` heights provable and readable (tree and value
        history, Ledger.prune): one bounded prune step every
        PRUNE_EVERY_HEIGHTS commits, or at each commit while a backlog remains. Block
        sync serves stored blocks, never tree versions, so a syncing peer needs nothing
        pruned here; a store fault propagates (the node stops, as for a commit)."""
        retain = self.config.storage.retain_heights
        if retain == 0 or (height % PRUNE_EVERY_HEIGHTS != 0 and not self._prune_backlog):
            return
        result = self.ledger.prune(retain)
        self._prune_backlog = not result.done
        if result.nodes_deleted or result.history_entries_deleted:
            self.log("state_pruned", {
                "height": height, "lowest_provable_height": result.lowest_provable_height,
                "lowest_readable_height": result.lowest_readable_height,
                "nodes_deleted": result.nodes_deleted,
                "history_entries_deleted": result.history_entries_deleted,
                "backlog": self._prune_backlog})

    # ---- inputs from peers and clients -----------------------------------------------

    def _inbox(self, sender: PeerIdentity, message: PeerMessage) -> None:
        """Runs on a transport thread: only enqueue (consensus) or admit (gossip)."""
        if self.faults.enabled and self.faults.drops(sender.node_id):
            return  # test-only partition (node/faults.py)
        if isinstance(message, TransactionsMessage):
            self.metrics.add("txs_gossip_received_total", len(message.txs))
            admitted: list[SignedTransaction] = []
            for signed in message.txs:
                try:
                    self.mempool.add(signed)
                    admitted.append(signed)
                except MempoolRejection:
                    continue  # a duplicate, or stale by now: gossip is best effort
            if not admitted:
                return
            with self._tx_arrived:
                # Validators gossip their clients' txs to every peer; a full node may
                # reach only some validators, so what it sends is passed on (once:
                # only a first admission relays, so nothing circulates).
                if sender.validator_public_key not in self._consensus_keys:
                    self._gossip_batch.extend(admitted)
                    self.metrics.add("txs_relayed_total", len(admitted))
                self._tx_arrived.notify_all()
            return
        self.metrics.add("consensus_messages_received_total")
        with contextlib.suppress(queue.Full):
            self._events.put_nowait(message)

    def _deliver_synced(self, block: Block, commit: Commit) -> None:
        self.metrics.add("blocks_synced_total")
        with contextlib.suppress(queue.Full):  # dropped: the next sync pass fetches it again
            self._events.put(SyncedBlock(block, commit), timeout=SYNC_HANDOVER_WAIT_S)

    def admit(self, signed: SignedTransaction) -> None:
        """Admit a client's transaction to the mempool and queue it for gossip.

        Raises MempoolRejection with the reason code; a transaction already
        committed is refused as ``duplicate`` (so a client that re-sends after a
        failover waits for its receipt).
        """
        self.metrics.add("txs_submitted_total")
        try:
            location = self.store.tx_location(signed.hash)
            if location is not None:  # as the SDK expects: a committed tx is a duplicate too
                raise MempoolRejection(DUPLICATE, f"already committed in block {location.height}")
            self.mempool.add(signed)
        except MempoolRejection:
            self.metrics.add("txs_rejected_total")
            raise
        with self._tx_arrived:
            self._gossip_batch.append(signed)
            self._tx_arrived.notify_all()

    def _run_gossip(self) -> None:
        while not self._stopping.is_set():
            with self._tx_arrived:
                if not self._gossip_batch:
                    self._tx_arrived.wait(REGOSSIP_S)
                batch, self._gossip_batch = self._gossip_batch, []
            for start in range(0, len(batch), GOSSIP_BATCH_TXS_MAX):
                self._to_peers(
                    TransactionsMessage(tuple(batch[start:start + GOSSIP_BATCH_TXS_MAX])))
            self._stopping.wait(GOSSIP_FLUSH_S)

    # ---- reads for the services ---------------------------------------------------------

    def _peer_status(self) -> PeerStatusInfo:
        return PeerStatusInfo(self.ledger.height,
                              self.key.address if self.is_validator and self.key else b"")

    def committed_blocks(self, first: int, last: int) -> Iterator[tuple[Block, Commit]]:
        """Blocks first..last (inclusive, clipped to our height) with their certificates."""
        for height in range(max(first, 1), min(last, self.ledger.height) + 1):
            pair = self.block_at(height)
            if pair is None:
                return
            yield pair

    def block_at(self, height: int) -> tuple[Block, Commit] | None:
        if not 1 <= height <= self.ledger.height:
            return None
        raw, certificate = self.store.load_block(height), self.store.load_certificate(height)
        if raw is None or certificate is None:
            return None
        return Block.decode(raw), Commit.decode(certificate)

    def receipts_of(self, block: Block) -> list[Receipt]:
        receipts = []
        for signed in block.txs:
            raw = self.store.load_receipt(signed.hash)
            if raw is not None:
                receipts.append(Receipt.decode(raw))
        return receipts

    def wait_for_height(self, height: int, timeout_s: float) -> bool:
        """Block until the ledger reached ``height`` (True) or ``timeout_s`` passed / stopping."""
        deadline = time.monotonic() + timeout_s
        with self._committed:
            while self.ledger.height < height:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._stopping.is_set():
                    return False
                self._committed.wait(remaining)
        return True

    def _gauges(self) -> Gauges:
        peers = self.transport.peers
        connected = sum(1 for peer in peers.values() if peer.state is ConnectionState.READY)
        return Gauges(height=self.ledger.height, round=self.core.round,
                      mempool_txs=len(self.mempool), mempool_bytes=self.mempool.size_bytes,
                      peers_connected=connected, peers_total=len(peers),
                      catching_up=self.sync.catching_up, validator=self.is_validator,
                      state_pruned_below_height=self.ledger.lowest_provable_height)


__all__ = ["ChainTip", "CommittedBlock", "EventLog", "Node", "NodeStartError"]
