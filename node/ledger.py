"""The single-node ledger: opens the store, creates or checks genesis, applies blocks.

``Ledger.open(path, genesis)`` opens a ``NodeStore``. A fresh store gets the
genesis state (accounts, contracts) committed as height 0 (the stored "block"
at height 0 is the canonical ``Genesis`` bytes, its "hash" ``Genesis.hash``);
an existing store must hold the same genesis (``GenesisMismatch``) and its
recorded state root must equal the root the state tree computes from its
nodes at the last height (``StateRootMismatch``). Reopening recomputes
nothing else: it reads the last block's header and receipts.

``apply_block(block, certificate)`` checks the header against the chain
(``check_header``: chain id, height = last + 1, previous block hash, the body
roots, the STATE-ROOT RULE of docs/PROTOCOL.md (header H carries the state
root and receipts root after block H-1; at H = 1 the genesis root and the
root of no receipts), time strictly after the previous block's, at or after
genesis time at height 1), executes it (node/executor.py) and writes block,
receipts, state writes and tree nodes in ONE synced store commit. A crash
before that commit leaves the previous height; after it, this one: the store
never holds part of a block. Any ``InvalidBlock`` leaves nothing written and
the ledger unchanged.

``check_block`` does all of it except the commit (consensus calls it on a
proposal before prevoting), and verifies the block's equivocation evidence:
both votes signed by a member of the validator set of their height (the
node supplies the keys as ``evidence_keys``), of this chain, not from a
future height, no item twice (``INVALID_EVIDENCE`` otherwise).
``precheck_block`` raises the InvalidBlock ``check_block`` would, without
executing (a proposer broadcasts its block first, then executes it).
``propose_block`` builds the next valid block (with the evidence given) for
a single node, consensus, tests and benchmarks. ``query`` runs a read-only method on the
state after any committed height H (latest by default; the call's context
carries block H's height and time); ``read_state`` returns a raw state value
after H with its Merkle proof against H's root (which header H+1 carries, per
the state-root rule). Below the latest height both read the store's value
history (node/store/history.py) and the tree's version H; a height above the
latest, or a tree version pruned away, is ``HeightUnavailable``.

Retention: ``prune(retain_heights)`` deletes the state-tree nodes and the
value-history entries that only heights below F = ``latest - retain_heights``
use, in bounded steps (at most ``PRUNE_STEP_NODES_MAX`` tree nodes and
``PRUNE_STEP_KEYS_MAX`` history keys a call, one synced store batch each; a
crash leaves the store at the end of some step, consistent: see
NodeStore.prune_tree_step / prune_history_step). Afterwards a proof below
``lowest_provable_height``, or a value or view call below
``lowest_readable_height``, is ``HeightUnavailable`` naming the heights
served (a view call that overlapped the prune of its height fails with
``history_pruned``). Pruning never changes a state root: blocks execute over
the current state and the tip's tree version, neither of which is pruned.

Errors: ``LedgerError`` ├ ``GenesisMismatch`` ├ ``GenesisError`` ├
``StateRootMismatch`` ├ ``HeightUnavailable`` ├ ``InvalidRetention``; blocks:
``InvalidBlock``.

Determinism: the genesis state is a pure function of the canonical
``Genesis`` (accounts applied in address order, contracts deployed in list
order); blocks execute as node/executor.py describes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Final

from zonechain.node.accounts import AccountRecord, account_key
from zonechain.node.consensus.evidence import (
    EVIDENCE_COMMITTED,
    EVIDENCE_EXPIRED,
    EVIDENCE_MAX_AGE_HEIGHTS,
    CommittedEvidence,
    EvidenceSlot,
    evidence_expired,
    evidence_slot,
)
from zonechain.node.crypto import PrivateKey, verify_signature
from zonechain.node.executor import (
    WRONG_CHAIN,
    BlockEnvironment,
    ExecutionResult,
    Executor,
    GovernanceHook,
    InvalidBlock,
    ZonePolicy,
    allow_all,
)
from zonechain.node.state.errors import VersionPruned
from zonechain.node.state.proof import StateProof
from zonechain.node.state.pruning import PrunePlan
from zonechain.node.state.tree import JellyfishMerkleTree
from zonechain.node.store import BlockCommit, NodeStore
from zonechain.node.store.history import HistoryPruned
from zonechain.node.types.block import (
    Block,
    BlockHeader,
    evidence_root,
    last_commit_hash,
    receipts_root,
    tx_root,
)
from zonechain.node.types.commit import Commit, CommitSignature
from zonechain.node.types.errors import MalformedMessage
from zonechain.node.types.evidence import DuplicateVoteEvidence
from zonechain.node.types.hashing import ZERO_HASH, domain_hash
from zonechain.node.types.limits import BLOCK_BYTES_MAX
from zonechain.node.types.receipt import Receipt
from zonechain.node.types.transaction import SignedTransaction, check_chain_id
from zonechain.node.types.vote import Vote, VoteType
from zonechain.vm.encoding import Reader, Writer
from zonechain.vm.host.frame import CallContext
from zonechain.vm.overlay import Overlay
from zonechain.vm.runtime import Outcome, VirtualMachine
from zonechain.vm.state import ADDRESS_BYTES, StateReader

LEDGER_GENESIS_HASH_DOMAIN: Final = b"zonechain/ledger-genesis/v1"
"""Hash of the ledger's ``Genesis`` (the initial STATE), stored as the hash of
height 0. Distinct from node/config.py's ``zonechain/genesis/v1``, which hashes
the network's genesis document (validators, organisations...)."""

GENESIS_HEIGHT: Final = 0
GENESIS_DEPLOY_GAS: Final = 1_000_000_000
"""Gas for each genesis contract's deploy and ``init`` (same as a whole block)."""

QUERY_GAS_MAX: Final = 100_000_000
"""A read-only query runs at most this much gas: bounds a client's cost on a node."""

NOBODY: Final = bytes(ADDRESS_BYTES)
"""The caller of a query that names none."""

PRUNE_STEP_NODES_MAX: Final = 10_000
"""Tree nodes one ``prune`` call deletes at most: about three blocks' worth at 1,000
transfers a block (~3,600 stale nodes each, measured with
benchmarks/retention_bench.py), so a call holds the ledger's lock for a
bounded time (docs/OPERATIONS.md, "State retention") however large the backlog;
a longer one (an archive node switching to a window) goes in later calls."""

PRUNE_STEP_KEYS_MAX: Final = 10_000
"""History keys (change-index entries) one ``prune`` call walks at most (a seek and
two deletes each): about four blocks' worth at 1,000 transfers a block (~2,400
changed keys each), bounded for the same reason as ``PRUNE_STEP_NODES_MAX``."""

INVALID_EVIDENCE: Final = "invalid_evidence"
"""InvalidBlock code of a block whose evidence does not verify."""

EvidenceKeys = Callable[[bytes, int], bytes | None]
"""(validator address, height) -> that validator's public key in the set of that
height, or None if it was not a member: how ``check_block`` verifies evidence."""


class LedgerError(Exception):
    """Base of the ledger's own errors."""


class GenesisMismatch(LedgerError):
    """The store holds a different genesis than the one given."""


class GenesisError(LedgerError):
    """The genesis document cannot be applied (a contract fails to deploy)."""


class StateRootMismatch(LedgerError):
    """The stored state root differs from the tree's root at the last height."""


class HeightUnavailable(LedgerError):
    """A read at a height this node cannot serve: above the latest, below genesis,
    below the retained value history, or (for a proof) a state-tree version pruned
    away (``prune``)."""


class InvalidRetention(LedgerError, ValueError):
    """``prune`` was given a retention that is not an int >= 1."""


@dataclass(frozen=True, slots=True)
class PruneResult:
    """One ``prune`` call: proofs are served from ``lowest_provable_height`` on,
    values and view calls from ``lowest_readable_height``; ``done`` is False while
    older tree nodes or history entries are left for a later call."""

    lowest_provable_height: int
    lowest_readable_height: int
    nodes_deleted: int
    history_entries_deleted: int
    done: bool


@dataclass(frozen=True, slots=True)
class GenesisContract:
    """A contract deployed at genesis at a fixed address."""

    address: bytes
    code: bytes
    zone: str
    deployer: bytes = NOBODY
    init_args: bytes = b""


@dataclass(frozen=True)
class Genesis:
    """Height 0: chain id, genesis time, then initial state, applied in this order:

    ``state``     raw (key, value) entries, sorted by key without repeats (e.g. the
                  permission records of ``node.permissions.genesis_state_writes``)
    ``accounts``  (address, nonce) records, sorted by address without repeats
    ``contracts`` deployed in list order, each at its fixed address
    """

    chain_id: str
    time_ms: int
    accounts: tuple[tuple[bytes, int], ...] = ()
    contracts: tuple[GenesisContract, ...] = ()
    state: tuple[tuple[bytes, bytes], ...] = ()

    def __post_init__(self) -> None:
        check_chain_id("genesis.chain_id", self.chain_id)
        for what, keys in (("accounts", [address for address, _ in self.accounts]),
                           ("state entries", [key for key, _ in self.state])):
            if keys != sorted(set(keys)):
                raise ValueError(f"genesis {what} must be sorted by key, without repeats")
        self.encode()  # every field in range, or EncodeError/ValueError now

    def encode(self) -> bytes:
        writer = Writer().string(self.chain_id).u64(self.time_ms)
        writer.list(self.accounts,
                    lambda w, item: w.fixed(item[0], ADDRESS_BYTES).u64(item[1]))
        writer.list(self.contracts, _write_contract)
        writer.list(self.state, lambda w, item: w.bytes(item[0]).bytes(item[1]))
        return bytes(writer)

    @classmethod
    def decode(cls, data: bytes) -> Genesis:
        reader = Reader(data)
        chain_id = reader.string("genesis.chain_id")
        time_ms = reader.u64("genesis.time_ms")
        accounts = reader.list(
            lambda r: (r.fixed(ADDRESS_BYTES, "genesis.account"), r.u64("genesis.nonce")),
            "genesis.accounts")
        contracts = reader.list(_read_contract, "genesis.contracts")
        state = reader.list(
            lambda r: (r.bytes("genesis.state.key"), r.bytes("genesis.state.value")),
            "genesis.state")
        reader.finish("genesis")
        return cls(chain_id, time_ms, tuple(accounts), tuple(contracts), tuple(state))

    @property
    def hash(self) -> bytes:
        return domain_hash(LEDGER_GENESIS_HASH_DOMAIN, self.encode())


def _write_contract(writer: Writer, contract: GenesisContract) -> None:
    writer.fixed(contract.address, ADDRESS_BYTES).fixed(contract.deployer, ADDRESS_BYTES)
    writer.string(contract.zone).bytes(contract.code).bytes(contract.init_args)


def _read_contract(reader: Reader) -> GenesisContract:
    address = reader.fixed(ADDRESS_BYTES, "genesis.contract.address")
    deployer = reader.fixed(ADDRESS_BYTES, "genesis.contract.deployer")
    zone = reader.string("genesis.contract.zone")
    code = reader.bytes("genesis.contract.code")
    return GenesisContract(address, code, zone, deployer, reader.bytes("genesis.contract.init"))


@dataclass(frozen=True, slots=True)
class StateRead:
    """A raw state value at ``height`` and its proof against ``state_root`` (header H+1)."""

    key: bytes
    value: bytes | None
    height: int
    state_root: bytes
    proof: StateProof | None


@dataclass(frozen=True, slots=True)
class _Tip:
    """What the next block's header must carry, from the last committed height."""

    height: int
    block_hash: bytes
    state_root: bytes
    receipts_root: bytes
    time_ms: int
    last_commit: Commit | None


class Ledger:
    """One node's chain: store + state tree + executor.

    Thread-safe: blocks and state reads are serialised by one lock (they share
    one VM and one tree cache). View calls (``query``) take it only to read the
    tip: each runs on its calling thread's own VM over the value history at its
    height, which no commit changes, so a long view call never holds up a block
    (with a ``vm`` given, they share it under the lock). Header checks do not look at the
    validator set hash (consensus owns it); ``check_block`` verifies the
    block's evidence through ``evidence_keys`` (the node's validator sets).
    """

    def __init__(
        self, store: NodeStore, genesis: Genesis, *, vm: VirtualMachine | None = None,
        zone_policy: ZonePolicy = allow_all, governance: GovernanceHook | None = None,
        evidence_keys: EvidenceKeys | None = None,
    ) -> None:
        self.store = store
        self._evidence_keys = evidence_keys
        self.genesis = genesis
        self.vm = vm if vm is not None else VirtualMachine()
        self._own_vms = vm is None  # then view calls get a VM per thread (``_query_vm``)
        self._query_vms = threading.local()
        self.executor = Executor(self.vm, genesis.chain_id, zone_policy=zone_policy,
                                 governance=governance)
        self.tree = JellyfishMerkleTree(store, store.tree_pruned_below())
        # One VM and one tree cache serve blocks and reads: every entry point holds this.
        self._lock = threading.RLock()
        if store.latest_height() is None:
            self._commit_genesis()
        self._tip = self._load_tip()
        # Derived from committed blocks (no schema): rebuilt the same way after a restart.
        self.committed_evidence = CommittedEvidence.load(store.load_block, self._tip.height)

    @classmethod
    def open(
        cls, path: str | Path, genesis: Genesis, *, vm: VirtualMachine | None = None,
        zone_policy: ZonePolicy = allow_all, governance: GovernanceHook | None = None,
        evidence_keys: EvidenceKeys | None = None,
    ) -> Ledger:
        store = NodeStore(path, chain_id=genesis.chain_id, initial_height=GENESIS_HEIGHT)
        try:
            return cls(store, genesis, vm=vm, zone_policy=zone_policy, governance=governance,
                       evidence_keys=evidence_keys)
        except BaseException:
            store.close()
            raise

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    # -- genesis and restart --------------------------------------------------------

    def _commit_genesis(self) -> None:
        """Build the genesis state and commit it as height 0 (one synced batch)."""
        genesis = self.genesis
        overlay = Overlay(self.store)
        for state_key, state_value in genesis.state:
            overlay.put(state_key, state_value)
        for address, nonce in genesis.accounts:
            overlay.put(account_key(address), AccountRecord(nonce).encode())
        env = BlockEnvironment(genesis.chain_id, GENESIS_HEIGHT, genesis.time_ms)
        for index, contract in enumerate(genesis.contracts):
            context = CallContext(contract.deployer, contract.deployer, contract.address,
                                  contract.zone, env.height, env.time_ms, ZERO_HASH)
            outcome = self.vm.deploy(contract.code, contract.init_args, context, overlay,
                                     GENESIS_DEPLOY_GAS)
            if not outcome.ok:
                raise GenesisError(f"genesis contract #{index} failed to deploy: {outcome.error}")
            for key, value in outcome.writes.items():
                if value is None:
                    overlay.delete(key)
                else:
                    overlay.put(key, value)
        writes = overlay.net_writes()
        update = self.tree.put_batch(GENESIS_HEIGHT, None, writes)
        self.store.commit_block(BlockCommit(
            height=GENESIS_HEIGHT, block_hash=genesis.hash, block=genesis.encode(),
            state_root=update.root_hash, state_writes=writes, new_nodes=update.new_nodes,
            stale_nodes=update.stale_nodes,
        ))

    def _load_tip(self) -> _Tip:
        store = self.store
        stored_genesis = store.load_block(GENESIS_HEIGHT)
        if stored_genesis != self.genesis.encode():
            raise GenesisMismatch(f"{store.path}: holds a different genesis")
        height = store.latest_height()
        stored_root = store.state_root()
        assert height is not None and stored_root is not None
        tree_root = self.tree.root_hash(height)
        if tree_root != stored_root:
            raise StateRootMismatch(
                f"{store.path}: stored state root {stored_root.hex()} at height {height}, "
                f"the state tree gives {tree_root.hex()}")
        if height == GENESIS_HEIGHT:
            return _Tip(GENESIS_HEIGHT, ZERO_HASH, stored_root, receipts_root(()),
                        self.genesis.time_ms, None)
        raw = store.load_block(height)
        assert raw is not None
        block = Block.decode(raw)
        receipts = [self._stored_receipt(tx) for tx in block.txs]
        certificate = store.load_certificate(height)
        last_commit = None if certificate is None else Commit.decode(certificate)
        return _Tip(height, block.hash, stored_root, receipts_root(receipts),
                    block.header.time_ms, last_commit)

    def _stored_receipt(self, tx: SignedTransaction) -> Receipt:
        raw = self.store.load_receipt(tx.hash)
        if raw is None:
            raise StateRootMismatch(f"receipt of committed tx {tx.hash.hex()} is missing")
        return Receipt.decode(raw)

    # -- reading the tip --------------------------------------------------------------

    @property
    def chain_id(self) -> str:
        return self.genesis.chain_id

    @property
    def height(self) -> int:
        """The last committed height (0: genesis only)."""
        return self._tip.height

    @property
    def state_root(self) -> bytes:
        """The state root after the last committed height."""
        return self._tip.state_root

    @property
    def last_block_hash(self) -> bytes:
        """The hash of the last block (ZERO_HASH at genesis, as header 1 expects)."""
        return self._tip.block_hash

    @property
    def last_receipts_root(self) -> bytes:
        return self._tip.receipts_root

    # -- blocks -----------------------------------------------------------------------

    def check_header(self, block: Block) -> None:
        """Raise InvalidBlock unless ``block`` may follow the last committed block."""
        tip, header = self._tip, block.header
        if header.chain_id != self.chain_id:
            raise InvalidBlock(WRONG_CHAIN, f"block of chain {header.chain_id!r}")
        if header.height != tip.height + 1:
            raise InvalidBlock("wrong_height", f"height {header.height}, expected {tip.height + 1}")
        if header.previous_block_hash != tip.block_hash:
            raise InvalidBlock("wrong_previous_hash", "previous block hash is not the last block")
        try:
            block.check_contents()
        except MalformedMessage as error:
            raise InvalidBlock("malformed_block", str(error)) from None
        # The protobuf size is checked at the door, but the stored canonical bytes
        # are a little larger: a block over the limit here could be committed and
        # then never decoded again (no restart, no block sync).
        encoded_bytes = len(block.encode())
        if encoded_bytes > BLOCK_BYTES_MAX:
            raise InvalidBlock("block_too_large", f"{encoded_bytes} canonical bytes; "
                               f"a block holds at most {BLOCK_BYTES_MAX}")
        if header.last_state_root != tip.state_root:
            raise InvalidBlock("wrong_state_root",
                               f"last_state_root is not the state root after {tip.height}")
        if header.last_receipts_root != tip.receipts_root:
            raise InvalidBlock("wrong_receipts_root",
                               f"last_receipts_root is not the receipts root of {tip.height}")
        earliest = tip.time_ms if tip.height == GENESIS_HEIGHT else tip.time_ms + 1
        if header.time_ms < earliest:
            raise InvalidBlock("time_not_monotonic",
                               f"time {header.time_ms} ms is before {earliest} ms")

    def check_block(self, block: Block) -> ExecutionResult:
        """Validate and execute ``block`` without committing anything."""
        with self._lock:
            self.check_header(block)
            self.check_evidence(block)
            return self.executor.execute_block(block, self.store, self.tree)

    def precheck_block(self, block: Block) -> None:
        """Raise the InvalidBlock ``check_block`` would raise, without executing ``block``.

        Header, evidence and every rule that can make a tx invalid
        (``Executor.check_transactions``); contract outcomes only fill receipts.
        """
        with self._lock:
            self.check_header(block)
            self.check_evidence(block)
            header = block.header
            env = BlockEnvironment(header.chain_id, header.height, header.time_ms)
            self.executor.check_transactions(env, block.txs, self.store)

    def check_evidence(self, block: Block) -> None:
        """Raise InvalidBlock(INVALID_EVIDENCE) unless every evidence item verifies.

        Each item: votes of this chain, at a height from 1 to the block's, by a
        member of that height's validator set, both signatures valid, no item
        twice (by slot: validator, height, round, vote type, whatever the vote pair).
        A ledger opened without ``evidence_keys`` accepts no evidence.
        Not older than EVIDENCE_MAX_AGE_HEIGHTS (InvalidBlock(EVIDENCE_EXPIRED)),
        and not an equivocation a committed block already holds
        (InvalidBlock(EVIDENCE_COMMITTED); index: ``committed_evidence``)."""
        seen: set[EvidenceSlot] = set()
        for index, item in enumerate(block.evidence):
            where = f"evidence[{index}]"
            slot = evidence_slot(item)  # one equivocation, whichever vote pair shows it
            if slot in seen:
                raise InvalidBlock(INVALID_EVIDENCE, f"{where}: this equivocation is included "
                                   "twice")
            seen.add(slot)
            self._check_one_evidence(where, item, block.height)

    def _check_one_evidence(self, where: str, item: DuplicateVoteEvidence, height: int) -> None:
        if item.vote_a.chain_id != self.chain_id:
            raise InvalidBlock(INVALID_EVIDENCE, f"{where}: votes of another chain")
        if not 1 <= item.height <= height:
            raise InvalidBlock(INVALID_EVIDENCE, f"{where}: height {item.height} out of range")
        if evidence_expired(item.height, height):
            raise InvalidBlock(EVIDENCE_EXPIRED, f"{where}: height {item.height} is more than "
                               f"{EVIDENCE_MAX_AGE_HEIGHTS} heights before {height}")
        committed_at = self.committed_evidence.committed_at(item)
        if committed_at is not None:
            raise InvalidBlock(EVIDENCE_COMMITTED,
                               f"{where}: this equivocation is already in block {committed_at}")
        if self._evidence_keys is None:
            raise InvalidBlock(INVALID_EVIDENCE, f"{where}: this ledger cannot verify evidence")
        public_key = self._evidence_keys(item.validator, item.height)
        if public_key is None:
            raise InvalidBlock(INVALID_EVIDENCE, f"{where}: not a validator at {item.height}")
        for vote in (item.vote_a, item.vote_b):
            if not verify_signature(public_key, vote.signing_bytes(), vote.signature):
                raise InvalidBlock(INVALID_EVIDENCE, f"{where}: a signature does not verify")

    def apply_block(self, block: Block, certificate: Commit | None = None) -> tuple[Receipt, ...]:
        """Validate, execute and durably commit ``block``; its receipts, in tx order."""
        with self._lock:
            return self._commit(block, self.check_block(block), certificate)

    def commit_checked(
        self, block: Block, result: ExecutionResult, certificate: Commit | None = None,
    ) -> tuple[Receipt, ...]:
        """Commit ``result``, which ``check_block(block)`` returned at the current tip.

        ``apply_block`` is ``check_block`` then this; they are apart so that a
        caller (consensus, the benchmark) can time or schedule the stages.
        """
        with self._lock:
            if block.height != self._tip.height + 1 or result.height != block.height:
                raise InvalidBlock("wrong_height", "the result is not for the next height")
            return self._commit(block, result, certificate)

    def _commit(
        self, block: Block, result: ExecutionResult, certificate: Commit | None,
    ) -> tuple[Receipt, ...]:
        """One synced store batch; the tip moves only once it is durable."""
        if certificate is not None and (certificate.height, certificate.block_hash) != (
                block.height, block.hash):
            raise InvalidBlock("wrong_certificate", "the certificate is for another block")
        self.store.commit_block(BlockCommit(
            height=block.height, block_hash=block.hash, block=block.encode(),
            state_root=result.state_root,
            tx_hashes=tuple(tx.hash for tx in block.txs),
            receipts=result.encoded_receipts,
            state_writes=result.state_writes, new_nodes=result.tree_update.new_nodes,
            stale_nodes=result.tree_update.stale_nodes,
            certificate=None if certificate is None else certificate.encode(),
        ))
        # Durable now: the next block finds these nodes decoded instead of reading
        # back ~1,300-2,900 of them (speed only; never for an unpersisted update).
        self.tree.remember(result.tree_update)
        self._tip = _Tip(block.height, block.hash, result.state_root, result.receipts_root,
                         block.header.time_ms, certificate)
        self.committed_evidence.record(block)
        return result.receipts

    def propose_block(
        self, txs: Sequence[SignedTransaction], time_ms: int, key: PrivateKey, *,
        last_commit: Commit | None = None, validator_set_hash: bytes = ZERO_HASH,
        evidence: Sequence[DuplicateVoteEvidence] = (),
    ) -> Block:
        """The next block holding ``txs`` and ``evidence``, proposed by ``key``.

        At height > 1 the block needs the previous height's commit: ``last_commit``,
        else the certificate stored with it, else (single node) one signed by ``key``.
        """
        with self._lock:
            tip = self._tip
        height = tip.height + 1
        if height > 1 and last_commit is None:
            last_commit = tip.last_commit or self._single_signer_commit(tip, key)
        txs = tuple(txs)
        header = BlockHeader(
            chain_id=self.chain_id, height=height, time_ms=time_ms,
            previous_block_hash=tip.block_hash, tx_root=tx_root(txs),
            last_state_root=tip.state_root, last_receipts_root=tip.receipts_root,
            last_commit_hash=last_commit_hash(last_commit),
            validator_set_hash=validator_set_hash, evidence_root=evidence_root(evidence),
            proposer=key.address,
        )
        return Block(header, txs, last_commit, tuple(evidence))

    def _single_signer_commit(self, tip: _Tip, key: PrivateKey) -> Commit:
        message = Vote.signing_bytes_for(VoteType.PRECOMMIT, self.chain_id, tip.height, 0,
                                         tip.block_hash, key.address)
        return Commit(tip.height, 0, tip.block_hash,
                      (CommitSignature(key.address, key.sign(message)),))

    # -- reads ------------------------------------------------------------------------

    def _check_height(self, height: int | None) -> int:
        """``height`` (None: the latest) if this node holds its state, else HeightUnavailable."""
        latest = self._tip.height
        if height is None:
            return latest
        if isinstance(height, bool) or not isinstance(height, int):
            raise HeightUnavailable(f"height must be an int, got {type(height).__name__}")
        if not GENESIS_HEIGHT <= height <= latest:
            raise HeightUnavailable(
                f"height {height}: this node serves heights {GENESIS_HEIGHT}..{latest} "
                f"(latest committed {latest})")
        return height

    def _check_readable(self, height: int | None) -> int:
        """``_check_height``, and HeightUnavailable below a pruned value history."""
        height = self._check_height(height)
        floor = self.store.history_pruned_below()
        if height < floor:
            raise HeightUnavailable(
                f"height {height}: this node serves heights {floor}..{self._tip.height} "
                f"(values below {floor} are pruned: storage.retain_heights)")
        return height

    def state_at(self, height: int) -> StateReader:
        """The committed state after ``height`` (lowest readable..latest): current values
        at the latest height, the store's value history below it. Read-only."""
        if self._check_readable(height) == self._tip.height:
            return self.store
        return self.store.state_at(height)

    def time_at(self, height: int) -> int:
        """Block time of committed ``height`` (the genesis time at 0)."""
        height = self._check_height(height)
        if height == self._tip.height:
            return self._tip.time_ms
        if height == GENESIS_HEIGHT:
            return self.genesis.time_ms
        raw = self.store.load_block(height)
        assert raw is not None  # every height up to the tip is committed
        return BlockHeader.read(Reader(raw)).time_ms  # the header leads the block bytes

    def query(
        self, contract: bytes, method: str, args: bytes = b"", *, height: int | None = None,
        caller: bytes = NOBODY, gas_limit: int = QUERY_GAS_MAX,
    ) -> Outcome:
        """Run read-only ``method`` of ``contract`` on the state after ``height``
        (None: the latest), with that block's height and time in its context."""
        gas_limit = min(gas_limit, QUERY_GAS_MAX)
        with self._lock:
            height = self._check_readable(height)
            context = CallContext(caller, caller, contract, "", height, self.time_at(height),
                                  ZERO_HASH)
            if not self._own_vms:
                return self.vm.query(method, args, context, self.state_at(height), gas_limit)
        # Outside the lock: the history at a readable height never changes. A prune
        # that overtakes the call makes its reads fail (``history_pruned``), but a
        # contract may catch a nested call's failure and answer anyway, so the
        # floor is checked once more after the call: a prune raises the floor
        # before it deletes anything, so an answer given below it may be wrong.
        try:
            state = self.store.state_at(height)
            outcome = self._query_vm().query(method, args, context, state, gas_limit)
            self.store.state_at(height)  # HistoryPruned if the floor passed meanwhile
        except HistoryPruned:
            raise HeightUnavailable(f"height {height}: pruned during the call "
                                    f"(this node serves heights {self.lowest_readable_height}"
                                    f"..{self._tip.height})") from None
        return outcome

    def _query_vm(self) -> VirtualMachine:
        """This thread's VM for view calls (block execution keeps ``self.vm``)."""
        vm: VirtualMachine | None = getattr(self._query_vms, "vm", None)
        if vm is None:
            vm = self._query_vms.vm = VirtualMachine()
        return vm

    @property
    def lowest_provable_height(self) -> int:
        """Proofs (``read_state``) are served from this height up to the latest."""
        return self.tree.min_readable_version

    @property
    def lowest_readable_height(self) -> int:
        """Values and view calls are served from this height up to the latest."""
        return self.store.history_pruned_below()

    def prune(self, retain_heights: int, nodes_max: int = PRUNE_STEP_NODES_MAX,
              keys_max: int = PRUNE_STEP_KEYS_MAX) -> PruneResult:
        """Delete the tree nodes (at most ``nodes_max``) and history entries (walking at
        most ``keys_max`` changed keys) used only below F = ``latest - retain_heights``
        (``retain_heights`` >= 1): heights F..latest stay provable and readable. Never
        changes the state or a root; the tree forgets exactly what the store deleted."""
        for name, value in (("retain_heights", retain_heights), ("nodes_max", nodes_max),
                            ("keys_max", keys_max)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidRetention(f"{name} must be an int >= 1, got {value!r}")
        with self._lock:
            # Target == a floor still runs: a bounded step may have left work at the
            # floor itself (the store writes nothing when none is left).
            target = max(0, self._tip.height - retain_heights)
            nodes_deleted, tree_done = self._prune_tree(target, nodes_max)
            history = self.store.prune_history_step(target, keys_max)
            return PruneResult(self.tree.min_readable_version, history.pruned_below,
                               nodes_deleted, history.entries_deleted,
                               tree_done and history.done)

    def _prune_tree(self, target: int, nodes_max: int) -> tuple[int, bool]:
        if target < self.tree.min_readable_version:
            return 0, True
        try:
            step = self.store.prune_tree_step(target, nodes_max)
        finally:
            # The store's marker is durable even if the step failed after the
            # write: the tree must refuse those versions, not find holes in them.
            self.tree.forget_pruned(PrunePlan(self.store.tree_pruned_below(), (), ()))
        self.tree.forget_pruned(PrunePlan(step.pruned_below, step.node_keys,
                                          step.stale_entries))
        return len(step.stale_entries), step.done

    def _proof_floor_message(self, height: int) -> str:
        return (f"height {height}: state proofs are served for heights "
                f"{self.tree.min_readable_version}..{self._tip.height} (older tree versions "
                "are pruned; their values stay readable without a proof)")

    def read_state(self, key: bytes, *, height: int | None = None, prove: bool = True,
                   ) -> StateRead:
        """The raw value of state ``key`` after ``height`` (None: the latest), with its
        tree proof against that height's root (HeightUnavailable below the pruned value
        history; with ``prove``, also below the pruned tree)."""
        with self._lock:
            height = self._check_readable(height)
            value = self.state_at(height).get(key)
            if height == self._tip.height:
                root = self._tip.state_root
            elif height < self.tree.min_readable_version:
                if prove:
                    raise HeightUnavailable(self._proof_floor_message(height))
                root = self._header_after(height).last_state_root
            else:
                root = self.tree.root_hash(height)
            try:
                proof = self.tree.get_proof(key, height) if prove else None
            except VersionPruned:
                raise HeightUnavailable(self._proof_floor_message(height)) from None
            return StateRead(key, value, height, root, proof)

    def _header_after(self, height: int) -> BlockHeader:
        """Header ``height + 1`` (below the tip): it carries the state root after ``height``."""
        raw = self.store.load_block(height + 1)
        assert raw is not None  # every height up to the tip is committed
        return BlockHeader.read(Reader(raw))
