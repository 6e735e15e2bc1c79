"""Where the harness's transactions run: a small seam, and its VM implementation.

``Backend`` is everything ``Chain`` needs from an execution engine: execute a
signed transaction in a given block, answer a query, read state, and take or
restore a snapshot. Two implement it over an in-memory sorted state:
``ExecutorBackend`` (executor_backend.py, the default) runs each transaction
through the ledger executor (node/executor.py); ``VmBackend`` (here,
``Chain(backend="vm")``) runs ``VirtualMachine`` directly, a smaller
reference that the executor backend is tested against.

``VmBackend`` follows the executor's rules for what it covers: the sender's
nonce must equal the account's nonce and is consumed (account record in state,
node/accounts.py) whether the call succeeds or not; a deploy creates
``contract_address(sender, nonce)``; a successful call's writes are applied, a
failed call's are discarded; gas is charged either way. It does not check
signatures, chain ids, expiry, the executor's gas limit bound or zone
policies, runs no governance, and does not apply the receipt limits (event
count, error text length): use the executor backend for those.

Contracts run on one long-lived worker thread with
``vm.engine.VM_THREAD_STACK_BYTES`` of stack, as the node runs them, so nested
cross-contract calls have the native stack the VM's limits assume.

Determinism: the state answers ``next_key`` from a sorted key list by unsigned
byte order, as the ledger does.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol, TypeVar

from zonechain.node.accounts import AccountRecord, account_key, load_account
from zonechain.node.types.address import contract_address
from zonechain.node.types.receipt import Receipt
from zonechain.node.types.transaction import CallPayload, DeployPayload, SignedTransaction
from zonechain.sdk.testing.errors import InvalidTransaction
from zonechain.vm.engine import VM_THREAD_STACK_BYTES
from zonechain.vm.host.frame import CallContext, Event
from zonechain.vm.runtime import Outcome, VirtualMachine

T = TypeVar("T")


@dataclass(frozen=True)
class BlockInfo:
    """The block a transaction or query runs in."""

    chain_id: str
    height: int
    time_ms: int


@dataclass(frozen=True)
class Execution:
    """What a backend reports for one transaction or query (a receipt, plus the writes)."""

    ok: bool
    gas_used: int
    return_data: bytes
    events: tuple[Event, ...]
    error_code: str | None
    error_message: str | None
    writes: dict[bytes, bytes | None]
    created: bytes | None = None
    receipt: Receipt | None = None
    """The executor's receipt (``ExecutorBackend``); None for queries and ``VmBackend``."""


class Backend(Protocol):
    """The execution engine under a ``Chain``; also a ``StateReader`` of committed state."""

    def get(self, key: bytes) -> bytes | None:
        """The committed value under ``key``."""
        ...

    def next_key(self, prefix: bytes, after: bytes | None) -> bytes | None:
        """The smallest committed key with ``prefix`` greater than ``after`` (StateReader)."""
        ...

    def items(self, prefix: bytes = b"") -> dict[bytes, bytes]:
        """Every committed key with ``prefix`` and its value, in key order."""
        ...

    def execute(self, signed: SignedTransaction, block: BlockInfo) -> Execution:
        """Run one signed deploy or call in ``block`` and commit its effects."""
        ...

    def query(self, context: CallContext, method: str, args: bytes, gas_limit: int) -> Execution:
        """Run a read-only method against committed state; nothing is committed."""
        ...

    def snapshot(self) -> object:
        """An opaque token for the current committed state."""
        ...

    def revert(self, snapshot: object) -> None:
        """Make the committed state exactly what it was at ``snapshot``."""
        ...


class SortedState:
    """A ``StateReader`` over a dict with a sorted key list (fast ordered scans)."""

    def __init__(self, items: dict[bytes, bytes] | None = None) -> None:
        self._items: dict[bytes, bytes] = dict(items or {})
        self._keys: list[bytes] = sorted(self._items)

    def get(self, key: bytes) -> bytes | None:
        return self._items.get(key)

    def next_key(self, prefix: bytes, after: bytes | None) -> bytes | None:
        keys = self._keys
        if after is None or after < prefix:
            index = bisect.bisect_left(keys, prefix)
        else:
            index = bisect.bisect_right(keys, after)
        if index < len(keys) and keys[index].startswith(prefix):
            return keys[index]
        return None

    def apply(self, writes: dict[bytes, bytes | None]) -> None:
        """Apply writes (None = delete)."""
        for key, value in writes.items():
            if value is None:
                if self._items.pop(key, None) is not None:
                    del self._keys[bisect.bisect_left(self._keys, key)]
            else:
                if key not in self._items:
                    bisect.insort(self._keys, key)
                self._items[key] = value

    def items(self, prefix: bytes = b"") -> dict[bytes, bytes]:
        start = bisect.bisect_left(self._keys, prefix)
        out: dict[bytes, bytes] = {}
        for key in self._keys[start:]:
            if not key.startswith(prefix):
                break
            out[key] = self._items[key]
        return out

    def copy(self) -> SortedState:
        return SortedState(self._items)


class _VmThread:
    """One worker thread with a VM-sized stack; every VM entry runs on it."""

    _lock = threading.Lock()
    _pool: ThreadPoolExecutor | None = None
    _thread: threading.Thread | None = None

    @classmethod
    def run(cls, function: Callable[[], T]) -> T:
        if threading.current_thread() is cls._thread:
            return function()
        return cls._executor().submit(function).result()

    @classmethod
    def _executor(cls) -> ThreadPoolExecutor:
        with cls._lock:
            if cls._pool is None:
                previous = threading.stack_size(VM_THREAD_STACK_BYTES)
                try:
                    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="zonechain-vm")
                    cls._thread = pool.submit(threading.current_thread).result()
                finally:
                    threading.stack_size(previous)
                cls._pool = pool
            return cls._pool


def run_on_vm_thread(function: Callable[[], T]) -> T:
    """Call ``function`` on the harness's VM thread (big native stack) and return its result."""
    return _VmThread.run(function)


_shared_vm: list[VirtualMachine] = []


def shared_vm() -> VirtualMachine:
    """The process-wide VM of the harness: compiled modules are reused across chains."""
    if not _shared_vm:
        _shared_vm.append(run_on_vm_thread(VirtualMachine))
    return _shared_vm[0]


def _execution(outcome: Outcome, created: bytes | None = None) -> Execution:
    error = outcome.error
    return Execution(
        ok=outcome.ok, gas_used=outcome.gas_used, return_data=outcome.return_data,
        events=outcome.events, error_code=None if error is None else error.code,
        error_message=None if error is None else error.message, writes=dict(outcome.writes),
        created=created if outcome.ok else None)


class VmBackend:
    """Runs transactions directly on a ``VirtualMachine`` over a ``SortedState``."""

    def __init__(self, vm: VirtualMachine | None = None) -> None:
        self.vm = vm if vm is not None else shared_vm()
        self.state = SortedState()

    def get(self, key: bytes) -> bytes | None:
        return self.state.get(key)

    def next_key(self, prefix: bytes, after: bytes | None) -> bytes | None:
        return self.state.next_key(prefix, after)

    def items(self, prefix: bytes = b"") -> dict[bytes, bytes]:
        return self.state.items(prefix)

    def execute(self, signed: SignedTransaction, block: BlockInfo) -> Execution:
        tx = signed.tx
        sender = tx.sender_address
        expected = load_account(self.state, sender).nonce
        if tx.nonce != expected:
            raise InvalidTransaction(f"nonce {tx.nonce}, the account expects {expected}")
        payload = tx.payload
        if isinstance(payload, DeployPayload):
            created = contract_address(sender, tx.nonce)
            context = self._context(block, signed, sender, created)
            outcome = run_on_vm_thread(lambda: self.vm.deploy(
                payload.code, payload.init_args, context, self.state, tx.gas_limit))
            result = _execution(outcome, created)
        elif isinstance(payload, CallPayload):
            context = self._context(block, signed, sender, payload.contract)
            outcome = run_on_vm_thread(lambda: self.vm.call(
                payload.method, payload.args, context, self.state, tx.gas_limit))
            result = _execution(outcome)
        else:
            raise InvalidTransaction("the harness runs deploys and calls, not governance")
        # The nonce and the call's writes land together, after the VM returned: a
        # NodeFault (a bug) leaves the state exactly as it was.
        committed = dict(result.writes) if result.ok else {}
        committed[account_key(sender)] = AccountRecord(tx.nonce + 1).encode()
        self.state.apply(committed)
        return result

    def query(self, context: CallContext, method: str, args: bytes, gas_limit: int) -> Execution:
        return _execution(run_on_vm_thread(
            lambda: self.vm.query(method, args, context, self.state, gas_limit)))

    def snapshot(self) -> object:
        return self.state.copy()

    def revert(self, snapshot: object) -> None:
        if not isinstance(snapshot, SortedState):
            raise TypeError("not a snapshot of a VmBackend")
        self.state = snapshot.copy()

    @staticmethod
    def _context(block: BlockInfo, signed: SignedTransaction, sender: bytes,
                 contract: bytes) -> CallContext:
        return CallContext(caller=sender, origin=sender, contract=contract, zone=signed.tx.zone,
                           block_height=block.height, block_time_ms=block.time_ms,
                           tx_hash=signed.hash)
