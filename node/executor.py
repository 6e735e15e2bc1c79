"""Executing a block: its transactions, in order, against the committed state.

``Executor.execute_block`` runs a block's transactions one after the other in
a block-level ``Overlay`` over the committed state (nothing touches the store)
and returns an ``ExecutionResult``: the receipts, the block's net state writes
in sorted key order, the gas used, the state-tree update for version = height
and the new state root. The ledger (node/ledger.py) writes all of it in one
atomic store commit, or nothing.

Per transaction, in this order:

1. validity (``transaction_fault``): signature (through the node's verified-
   signature cache), chain id, gas limit <= the block gas limit, cumulative
   gas LIMITS of the block so far <= the block gas limit, expiry height >=
   block height, nonce == the account's nonce (strict sequence; the block
   overlay's nonce, so a sender may have several consecutive txs in one block).
2. the nonce is consumed (account record nonce + 1).
3. the zone-policy hook (``ZonePolicy``; the default allows everything). A
   denial gives a REJECTED receipt (gas 0, no writes). It is not a validity
   rule, because a policy may change inside the block (governance), so a
   proposer cannot know it in advance.
4. the VM: deploy (contract address = ``contract_address(sender, nonce)``) or
   call; a governance payload goes to the governance hook (REJECTED with
   ``governance_unavailable`` until the permissions module provides one).
   Success applies the call's writes to the block overlay; a failure (contract
   error, out of gas, too many events) keeps the consumed nonce and the gas
   charged, and discards every write of the call.

Rule for invalid transactions (chosen): STRICT. A block holding a transaction
that fails step 1 is invalid as a whole: ``InvalidBlock`` names the tx index
and the reason code, and nothing of the block is committed. Consensus must
therefore check a proposal (``Ledger.check_block``) before prevoting for it,
and a proposer builds blocks from the mempool, which admits only transactions
that pass the same checks (``transaction_fault`` is shared with it). The
REJECTED receipt status is used only for policy denials and governance.

Gas: the cumulative rule uses gas LIMITS, not gas used, so it is checkable
without executing (by the mempool's reap and by a proposer). Gas has no price
yet: "consumes its gas" means the receipt and the block total record it.

Errors: ``InvalidBlock`` (a block that no honest node would commit);
``NodeFault`` from the VM or the state is never caught here; store errors
propagate unchanged.

Determinism: transactions run in block order; the overlay reports writes in
sorted key order; receipts carry only deterministic codes and messages (VM
error text is fixed, vm/traps.py), cut to the receipt limit on a UTF-8
boundary; block time and height come from the header; no clock, no floats,
no iteration over unordered containers feeds state. Signature verification
through the cache gives the same answer as without it (the cache only
remembers successes, keyed by the id that covers the signature). Reads of
the committed state are cached for the length of one block
(``_CommittedReads``): that state does not change while the block executes,
so the cache changes no result.

Contracts may make nested calls: run ``execute_block`` on a thread with
``vm.engine.VM_THREAD_STACK_BYTES`` of stack (docs/ABI.md).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Final

from zonechain.node.accounts import NONCE_MAX, AccountRecord, account_key, load_account
from zonechain.node.crypto import (
    DEFAULT_VERIFIED_CACHE,
    InvalidSignature,
    VerifiedSignatureCache,
    verify_transaction,
)
from zonechain.node.state.tree import JellyfishMerkleTree, TreeUpdate
from zonechain.node.types.address import contract_address
from zonechain.node.types.block import Block
from zonechain.node.types.hashing import RECEIPT_HASH_DOMAIN, domain_hash, merkle_root
from zonechain.node.types.limits import (
    ERROR_CODE_BYTES_MAX,
    ERROR_MESSAGE_BYTES_MAX,
    RECEIPT_EVENTS_MAX,
)
from zonechain.node.types.receipt import Event, Receipt, ReceiptStatus
from zonechain.node.types.transaction import (
    CallPayload,
    DeployPayload,
    GovernancePayload,
    SignedTransaction,
    Transaction,
)
from zonechain.vm.host.frame import CallContext
from zonechain.vm.overlay import Overlay
from zonechain.vm.runtime import Outcome, VirtualMachine
from zonechain.vm.state import StateReader

BLOCK_GAS_MAX: Final = 1_000_000_000
"""Sum of the gas limits of one block's transactions. A maximal deploy (1 MiB
of code) costs ~210M gas before ``init``; 1e9 leaves room for it and for
~40,000 token transfers, and bounds a block's execution to roughly a second of
Wasm (1 gas ~ 1 instruction)."""

TX_GAS_MAX: Final = BLOCK_GAS_MAX
"""A transaction can use the whole block, no more."""

# Reason codes of invalid transactions (InvalidBlock.code, MempoolRejection.reason_code).
BAD_SIGNATURE: Final = "bad_signature"
WRONG_CHAIN: Final = "wrong_chain"
GAS_LIMIT_TOO_HIGH: Final = "gas_limit_too_high"
BLOCK_GAS_EXCEEDED: Final = "block_gas_exceeded"
EXPIRED: Final = "expired"
BAD_NONCE: Final = "bad_nonce"
NONCE_EXHAUSTED: Final = "nonce_exhausted"
DUPLICATE_TX: Final = "duplicate_tx"

# Receipt error codes the executor itself produces.
GOVERNANCE_UNAVAILABLE: Final = "governance_unavailable"
TOO_MANY_EVENTS: Final = "too_many_events"


class InvalidBlock(Exception):
    """A block that breaks a validity rule; nothing of it is committed.

    ``code`` is a stable reason code, ``tx_index`` the offending transaction
    (None for a header or block-level rule).
    """

    def __init__(self, code: str, message: str, tx_index: int | None = None) -> None:
        where = "" if tx_index is None else f"tx #{tx_index}: "
        super().__init__(f"{code}: {where}{message}")
        self.code = code
        self.message = message
        self.tx_index = tx_index


@dataclass(frozen=True, slots=True)
class TxFault:
    """Why a transaction is invalid: a stable code and a one-line message."""

    code: str
    message: str


@dataclass(frozen=True, slots=True)
class PolicyDenial:
    """A zone policy's refusal; lands in a REJECTED receipt."""

    code: str
    message: str


ZonePolicy = Callable[[Transaction, bytes, StateReader], PolicyDenial | None]
"""(transaction, sender address, state before the tx) -> None to allow, or a denial."""

GovernanceHook = Callable[[SignedTransaction, bytes, StateReader, "BlockEnvironment"], Outcome]
"""Executes a governance payload; its ``writes`` are applied on success."""


def allow_all(tx: Transaction, sender: bytes, state: StateReader) -> PolicyDenial | None:
    """The default zone policy: every transaction is permitted."""
    return None


@dataclass(frozen=True, slots=True)
class BlockEnvironment:
    """What the transactions of one block see of the block."""

    chain_id: str
    height: int
    time_ms: int


READ_CACHE_BYTES_MAX: Final = 32 * 1024 * 1024
"""What one block's read cache may hold (keys + values + ``READ_CACHE_ENTRY_BYTES``
each). A contract can make a lookup of a large value cost little (a read with
a small destination pays for the key only), so without a bound a block of such
reads could hold gigabytes; past the bound, reads go to the state uncached."""

READ_CACHE_ENTRY_BYTES: Final = 100
"""Rough per-entry cost of a dict slot and two bytes objects, counted against the bound."""


class _CommittedReads:
    """The committed state as one block's execution reads it: a key fetched once.

    The state below a block does not change while the block executes (the
    executor writes only to its block overlay, and the ledger commits after
    execution), so a value read once is the value for the rest of the block.
    Keys read again and again (a contract's metadata, read by every call of
    it; the network's permission records) then cost a dict lookup instead of
    a store lookup. Lives for one ``execute_transactions`` call, holds at most
    ``READ_CACHE_BYTES_MAX``; ``next_key`` goes to the state unchanged. What is
    cached changes no result, only how fast it is found.
    """

    __slots__ = ("_bytes_left", "_state", "_values")

    def __init__(self, state: StateReader) -> None:
        self._state = state
        self._values: dict[bytes, bytes | None] = {}
        self._bytes_left = READ_CACHE_BYTES_MAX

    def get(self, key: bytes) -> bytes | None:
        values = self._values
        cached = values.get(key, _NOT_READ)
        if cached is not _NOT_READ:
            return cached  # type: ignore[return-value]
        value = self._state.get(key)
        size = READ_CACHE_ENTRY_BYTES + len(key) + (0 if value is None else len(value))
        if size <= self._bytes_left:
            self._bytes_left -= size
            values[key] = value
        return value

    def next_key(self, prefix: bytes, after: bytes | None) -> bytes | None:
        return self._state.next_key(prefix, after)


_NOT_READ: Final = object()
"""Marks a key ``_CommittedReads`` has not fetched yet (None means absent)."""


@dataclass(frozen=True)
class ExecutionResult:
    """Everything a block's execution produces; the ledger commits it atomically."""

    height: int
    receipts: tuple[Receipt, ...]
    state_writes: dict[bytes, bytes | None]
    gas_used: int
    tree_update: TreeUpdate
    encoded_receipts: tuple[bytes, ...] = field(init=False)
    """Each receipt's canonical bytes (what the store keeps), encoded once."""
    receipts_root: bytes = field(init=False)
    """``block.receipts_root(receipts)``, computed from ``encoded_receipts``."""

    def __post_init__(self) -> None:
        encoded = tuple(receipt.encode() for receipt in self.receipts)
        object.__setattr__(self, "encoded_receipts", encoded)
        object.__setattr__(self, "receipts_root", merkle_root(
            [domain_hash(RECEIPT_HASH_DOMAIN, data) for data in encoded]))

    @property
    def state_root(self) -> bytes:
        return self.tree_update.root_hash


def static_fault(signed: SignedTransaction, chain_id: str, *, gas_max: int = TX_GAS_MAX,
                 ) -> TxFault | None:
    """The stateless rules other than the signature (chain, gas limit, nonce range)."""
    tx = signed.tx
    if tx.chain_id != chain_id:
        return TxFault(WRONG_CHAIN, f"chain id {tx.chain_id!r} is not {chain_id!r}")
    if tx.gas_limit > gas_max:
        return TxFault(GAS_LIMIT_TOO_HIGH, f"gas limit {tx.gas_limit} exceeds {gas_max}")
    if tx.nonce >= NONCE_MAX:
        return TxFault(NONCE_EXHAUSTED, "the nonce is the largest u64; no later nonce exists")
    return None


def signature_fault(
    signed: SignedTransaction, cache: VerifiedSignatureCache | None = DEFAULT_VERIFIED_CACHE,
) -> TxFault | None:
    """The sender's signature, checked at most once per cache."""
    try:
        verify_transaction(signed, cache)
    except InvalidSignature:
        return TxFault(BAD_SIGNATURE, "the signature does not verify for the sender")
    return None


def transaction_fault(
    signed: SignedTransaction, chain_id: str, *, gas_max: int = TX_GAS_MAX,
    cache: VerifiedSignatureCache | None = DEFAULT_VERIFIED_CACHE,
) -> TxFault | None:
    """Every stateless validity rule, signature last; None when all pass."""
    return static_fault(signed, chain_id, gas_max=gas_max) or signature_fault(signed, cache)


def nonce_fault(tx: Transaction, account_nonce: int) -> TxFault | None:
    """The strict-sequence rule: the tx must carry exactly the account's next nonce."""
    if tx.nonce != account_nonce:
        return TxFault(BAD_NONCE, f"nonce {tx.nonce}, the account expects {account_nonce}")
    return None


def expiry_fault(tx: Transaction, height: int) -> TxFault | None:
    """A tx is not valid in a block above its expiry height."""
    if tx.expiry_height is not None and height > tx.expiry_height:
        return TxFault(EXPIRED, f"expired at height {tx.expiry_height}, block is {height}")
    return None


def truncate_utf8(text: str, bytes_max: int) -> str:
    """``text`` cut to at most ``bytes_max`` UTF-8 bytes, on a character boundary."""
    encoded = text.encode("utf-8")
    if len(encoded) <= bytes_max:
        return text
    return encoded[:bytes_max].decode("utf-8", "ignore")


def _failure_receipt(
    tx_hash: bytes, status: ReceiptStatus, gas_used: int, code: str, message: str,
) -> Receipt:
    return Receipt(
        tx_hash=tx_hash, status=status, gas_used=gas_used,
        error_code=truncate_utf8(code, ERROR_CODE_BYTES_MAX) or "error",
        error_message=truncate_utf8(message, ERROR_MESSAGE_BYTES_MAX),
    )


class Executor:
    """Executes blocks for one chain with one VM (not thread-safe: one per executing thread)."""

    def __init__(
        self, vm: VirtualMachine, chain_id: str, *, block_gas_max: int = BLOCK_GAS_MAX,
        zone_policy: ZonePolicy = allow_all, governance: GovernanceHook | None = None,
        signature_cache: VerifiedSignatureCache | None = DEFAULT_VERIFIED_CACHE,
    ) -> None:
        if block_gas_max < 1:
            raise ValueError("block_gas_max must be positive")
        self.vm = vm
        self.chain_id = chain_id
        self.block_gas_max = block_gas_max
        self.zone_policy = zone_policy
        self.governance = governance
        self.signature_cache = signature_cache

    # -- stages ---------------------------------------------------------------------

    def verify_signatures(self, txs: Sequence[SignedTransaction]) -> None:
        """Check every stateless rule of every tx (fills the signature cache); InvalidBlock."""
        gas_total = 0
        for index, signed in enumerate(txs):
            fault = transaction_fault(signed, self.chain_id, gas_max=self.block_gas_max,
                                      cache=self.signature_cache)
            if fault is not None:
                raise InvalidBlock(fault.code, fault.message, index)
            gas_total += signed.tx.gas_limit
            if gas_total > self.block_gas_max:
                raise InvalidBlock(
                    BLOCK_GAS_EXCEEDED,
                    f"the block's gas limits add up to more than {self.block_gas_max}", index)

    def execute_transactions(
        self, env: BlockEnvironment, txs: Sequence[SignedTransaction], state: StateReader,
    ) -> tuple[tuple[Receipt, ...], dict[bytes, bytes | None], int]:
        """Run ``txs`` in order over ``state``: (receipts, sorted net writes, gas used).

        Raises InvalidBlock on the first invalid tx (see the module docstring).
        ``state`` is committed state, never an ``Overlay``: the read cache would hide
        the overlay's deleted keys from ``next_key``'s per-skip gas.
        """
        if isinstance(state, Overlay):
            raise TypeError("execute_transactions runs over committed state, not an Overlay")
        self.verify_signatures(txs)
        overlay = Overlay(_CommittedReads(state))
        receipts: list[Receipt] = []
        gas_used = 0
        seen: set[bytes] = set()
        for index, signed in enumerate(txs):
            if signed.hash in seen:
                raise InvalidBlock(DUPLICATE_TX, "the transaction appears twice", index)
            seen.add(signed.hash)
            receipt = self._execute_one(env, index, signed, overlay)
            gas_used += receipt.gas_used
            receipts.append(receipt)
        return tuple(receipts), overlay.net_writes(), gas_used

    def check_transactions(
        self, env: BlockEnvironment, txs: Sequence[SignedTransaction], state: StateReader,
    ) -> None:
        """Raise the InvalidBlock ``execute_transactions`` would raise, without executing.

        A block is invalid only through the stateless rules (``verify_signatures``),
        a repeated tx, expiry, or the nonce sequence; and an account's nonce changes
        only by this executor's +1 per included tx (no contract or governance call
        writes an account record), so the sequence is followed here without running
        anything. A proposer uses it to broadcast its block before executing it
        (node/node.py); every validator still executes the block before voting for it.
        """
        self.verify_signatures(txs)
        seen: set[bytes] = set()
        nonces: dict[bytes, int] = {}
        for index, signed in enumerate(txs):
            if signed.hash in seen:
                raise InvalidBlock(DUPLICATE_TX, "the transaction appears twice", index)
            seen.add(signed.hash)
            tx = signed.tx
            sender = tx.sender_address
            nonce = nonces.get(sender)
            if nonce is None:
                nonce = load_account(state, sender).nonce
            fault = expiry_fault(tx, env.height) or nonce_fault(tx, nonce)
            if fault is not None:
                raise InvalidBlock(fault.code, fault.message, index)
            nonces[sender] = nonce + 1

    def update_tree(
        self, tree: JellyfishMerkleTree, height: int, writes: dict[bytes, bytes | None],
    ) -> TreeUpdate:
        """The tree of ``height - 1`` with ``writes`` applied, as version ``height``."""
        return tree.put_batch(height, height - 1 if height > 0 else None, writes)

    def execute_block(
        self, block: Block, state: StateReader, tree: JellyfishMerkleTree,
    ) -> ExecutionResult:
        """All stages for ``block`` over ``state`` (the state after block height - 1)."""
        header = block.header
        env = BlockEnvironment(header.chain_id, header.height, header.time_ms)
        if header.chain_id != self.chain_id:
            raise InvalidBlock(WRONG_CHAIN, f"block of chain {header.chain_id!r}")
        receipts, writes, gas_used = self.execute_transactions(env, block.txs, state)
        update = self.update_tree(tree, header.height, writes)
        return ExecutionResult(header.height, receipts, writes, gas_used, update)

    # -- one transaction --------------------------------------------------------------

    def _execute_one(
        self, env: BlockEnvironment, index: int, signed: SignedTransaction, overlay: Overlay,
    ) -> Receipt:
        tx = signed.tx
        sender = tx.sender_address
        account = load_account(overlay, sender)
        fault = expiry_fault(tx, env.height) or nonce_fault(tx, account.nonce)
        if fault is not None:
            raise InvalidBlock(fault.code, fault.message, index)
        overlay.put(account_key(sender), AccountRecord(account.nonce + 1).encode())
        denial = self.zone_policy(tx, sender, overlay)
        if denial is not None:
            return _failure_receipt(signed.hash, ReceiptStatus.REJECTED, 0, denial.code,
                                    denial.message)
        payload = tx.payload
        created: bytes | None = None
        if isinstance(payload, GovernancePayload):
            if self.governance is None:
                return _failure_receipt(signed.hash, ReceiptStatus.REJECTED, 0,
                                        GOVERNANCE_UNAVAILABLE,
                                        "this node has no governance module")
            outcome = self.governance(signed, sender, overlay, env)
        elif isinstance(payload, DeployPayload):
            created = contract_address(sender, tx.nonce)
            context = self._context(env, signed, sender, created)
            outcome = self.vm.deploy(payload.code, payload.init_args, context, overlay,
                                     tx.gas_limit)
        else:
            assert isinstance(payload, CallPayload)
            context = self._context(env, signed, sender, payload.contract)
            outcome = self.vm.call(payload.method, payload.args, context, overlay, tx.gas_limit)
        return self._receipt(signed.hash, outcome, overlay, created)

    @staticmethod
    def _context(
        env: BlockEnvironment, signed: SignedTransaction, sender: bytes, contract: bytes,
    ) -> CallContext:
        return CallContext(
            caller=sender, origin=sender, contract=contract, zone=signed.tx.zone,
            block_height=env.height, block_time_ms=env.time_ms, tx_hash=signed.hash,
        )

    @staticmethod
    def _receipt(
        tx_hash: bytes, outcome: Outcome, overlay: Overlay, created: bytes | None,
    ) -> Receipt:
        gas_used = outcome.gas_used
        if not outcome.ok:
            error = outcome.error
            code = error.code if error is not None else "contract_error"
            message = error.message if error is not None else "the call failed"
            return _failure_receipt(tx_hash, ReceiptStatus.CONTRACT_ERROR, gas_used, code,
                                    message)
        if len(outcome.events) > RECEIPT_EVENTS_MAX:
            return _failure_receipt(
                tx_hash, ReceiptStatus.CONTRACT_ERROR, gas_used, TOO_MANY_EVENTS,
                f"a transaction may emit at most {RECEIPT_EVENTS_MAX} events")
        for key, value in outcome.writes.items():
            if value is None:
                overlay.delete(key)
            else:
                overlay.put(key, value)
        events = tuple(Event(event.contract, event.topic, event.data) for event in outcome.events)
        return Receipt(tx_hash=tx_hash, status=ReceiptStatus.SUCCESS, gas_used=gas_used,
                       return_data=outcome.return_data, events=events, created_contract=created)
