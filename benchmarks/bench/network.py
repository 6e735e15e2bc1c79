"""Network targets: nodes reached through the SDK client (``--target endpoints``, ``devnet``).

``ClientTarget`` hands the transactions due to a background sender and returns
at once: the sender submits the batches in order with ``Client.submit_many``
(to the first endpoint, the others only on failover: one gateway node takes the
clients' traffic, and the quorum of the other three is not slowed by it;
spreading the batches over every validator gave worse tails here), merging
those that queued behind a slow call, and reports refusals with their reason
codes through ``rejections``. A generator that waited for each submission would
let a busy node hold its schedule back and then send what it owed in a burst
("coordinated omission"): here a transaction's send time is when it was queued
(within a 10 ms tick of when it was due), and a slow node, or a sender queue
that grew behind it, shows in its latency. A submission that timed out is not
counted as refused: the node may have admitted its txs. The target follows the
chain with ``Client.stream_blocks_with_receipts`` on a background thread: a
block's arrival time is the commit time of the benchmark's transactions in it,
and their receipts come in the same message (one stream message per block
instead of one GetReceipt RPC per tx, which was about a third of a 4-node
devnet's CPU). Receipts the node did not send (a node without
``with_receipts``, or a block whose receipts exceed one message) are fetched
(``get_receipt``) by a small pool of threads, one client per endpoint in turn
(``RECEIPT_WORKERS``), so those lookups neither delay the commit time nor, one
RPC after another on one node, throttle a closed loop. A transaction is watched
from just before it is submitted, so a commit can never arrive unrecognised.

The state-root check asks every endpoint for its block at the lowest height
they all have and compares the ``last_state_root`` those headers carry (the
state root after the previous height, per docs/PROTOCOL.md) and the block
hashes.

``start_devnet`` starts ``validators`` node processes with the ``Devnet``
API (node/node_cli.py) in a temporary directory; the target stops them and
deletes the directory when closed. Its CPU and memory figures are those of
the node processes (the report adds the generator's own).

A network cannot be given the workload's genesis, so the benchmark deploys
the workload's contracts first (``Workload.deploys``, each deployer's nonce
0): on a long-lived network (``endpoints``) use a ``--seed`` not used there
before, or those nonces are taken (the runs of a sweep there use seed,
seed + 1, ...).
"""

from __future__ import annotations

import itertools
import queue
import shutil
import tempfile
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from zonechain.benchmarks.bench.load import Clock
from zonechain.benchmarks.bench.run import SUBMIT_BATCH_MAX
from zonechain.benchmarks.bench.targets import BlockRecord, Committed, StateAgreement
from zonechain.node.node_cli import Devnet, find_base_port
from zonechain.node.types.receipt import Receipt
from zonechain.node.types.transaction import SignedTransaction
from zonechain.sdk import Client
from zonechain.sdk.errors import Timeout, ZonechainError

CLIENT_TIMEOUT_S: Final = 10.0
POLL_IDLE_S: Final = 0.002
"""The generator's idle step while waiting for streamed blocks (pacing only)."""
THREAD_JOIN_S: Final = 10.0
RECEIPT_WORKERS: Final = 8
"""Receipt lookups in flight at once: enough to hide a unary RPC's round trip
(~1 ms on loopback) at a few thousand committed txs/s."""


@dataclass(frozen=True, slots=True)
class _Arrival:
    """A streamed block: its height, size, the benchmark's txs in it, when it arrived,
    and the receipts of those txs that came with it (None: to fetch)."""

    height: int
    txs: int
    tx_hashes: list[bytes]
    arrived_s: float
    streamed: list[Receipt | None]


class NetworkTargetError(Exception):
    """The network target lost its block stream or could not be reached."""


class ClientTarget:
    """Nodes behind ``endpoints``; see the module docstring."""

    def __init__(self, endpoints: Sequence[str], clock: Clock, *, name: str = "endpoints",
                 pids: Sequence[int] = (), on_close: Callable[[], None] | None = None) -> None:
        self.name = name
        self.endpoints = list(endpoints)
        self.clock = clock
        self.pids = list(pids)
        self.on_close = on_close
        self.client = Client(self.endpoints, timeout_s=CLIENT_TIMEOUT_S)
        try:
            status = self.client.status()
        except ZonechainError as error:
            self.client.close()
            raise NetworkTargetError(f"cannot reach {self.endpoints}: {error}") from None
        self.chain_id = status.chain_id
        self._readers = [Client([endpoint], timeout_s=CLIENT_TIMEOUT_S)
                         for endpoint in self.endpoints]
        self._next_reader = itertools.cycle(self._readers)
        self._receipt_pool = ThreadPoolExecutor(RECEIPT_WORKERS,
                                                thread_name_prefix="bench-receipts")
        self._watched: set[bytes] = set()
        self._settling = 0
        self._lock = threading.Lock()
        self._results: queue.Queue[tuple[list[Committed], list[BlockRecord]]] = queue.Queue()
        self._stopping = threading.Event()
        self._error: str | None = None
        self._arrivals: queue.Queue[_Arrival | None] = queue.Queue()
        self._thread = threading.Thread(target=self._follow, args=(status.height + 1,),
                                        name="bench-blocks", daemon=True)
        self._collector = threading.Thread(target=self._collect, name="bench-receipts",
                                           daemon=True)
        self._refused: queue.Queue[tuple[bytes, str]] = queue.Queue()
        self._submitter = Client(self.endpoints, timeout_s=CLIENT_TIMEOUT_S)
        self._outbox: queue.Queue[list[SignedTransaction] | None] = queue.Queue()
        self._sender = threading.Thread(target=self._send, name="bench-send", daemon=True)
        self._collector.start()
        self._thread.start()
        self._sender.start()

    def _follow(self, height: int) -> None:
        """Stamp each block's arrival; missing receipts are fetched by ``_collect``."""
        try:
            for item in self.client.stream_blocks_with_receipts(height):
                arrived = self.clock()
                block = item.info.block
                sent = {receipt.tx_hash: receipt for receipt in item.receipts}
                with self._lock:
                    ours = [tx.hash for tx in block.txs if tx.hash in self._watched]
                    self._watched.difference_update(ours)
                    self._settling += len(ours)
                self._arrivals.put(_Arrival(block.height, len(block.txs), ours, arrived,
                                            [sent.get(tx_hash) for tx_hash in ours]))
                if self._stopping.is_set():
                    break
        except ZonechainError as error:
            if not self._stopping.is_set():
                self._error = f"block stream ended: {error}"
        self._arrivals.put(None)

    def _collect(self) -> None:
        """Complete each arrived block's receipts of watched txs, in block order."""
        while (arrival := self._arrivals.get()) is not None:
            try:
                receipts = self._complete(arrival)
            except (ZonechainError, RuntimeError) as error:  # RuntimeError: pool shut down
                if not self._stopping.is_set():
                    self._error = f"receipt lookup failed: {error}"
                return
            committed = [Committed(tx_hash, receipt, arrival.height, arrival.arrived_s)
                         for tx_hash, receipt in zip(arrival.tx_hashes, receipts, strict=True)
                         if receipt is not None]
            gas = sum(item.receipt.gas_used for item in committed)
            self._results.put((committed, [BlockRecord(arrival.height, arrival.txs, gas,
                                                       arrival.arrived_s, 0.0)]))
            with self._lock:
                self._settling -= len(arrival.tx_hashes)

    def _complete(self, arrival: _Arrival) -> list[Receipt | None]:
        """The streamed receipts, with those the stream lacked fetched by the pool."""
        missing = [tx_hash for tx_hash, receipt in zip(arrival.tx_hashes, arrival.streamed,
                                                       strict=True) if receipt is None]
        if not missing:
            return list(arrival.streamed)
        readers = [next(self._next_reader) for _ in missing]
        fetched = iter(list(self._receipt_pool.map(self._receipt, readers, missing)))
        return [receipt if receipt is not None else next(fetched)
                for receipt in arrival.streamed]

    def settling(self) -> int:
        """Txs whose block has arrived (committed: BFT is final) but whose receipts are
        still being fetched: a closed loop counts them as no longer in flight."""
        with self._lock:
            return self._settling

    def _receipt(self, reader: Client, tx_hash: bytes) -> Receipt | None:
        """The receipt from ``reader``, else (that node a block behind) from the streaming one."""
        receipt = reader.get_receipt(tx_hash)
        return receipt if receipt is not None else self.client.get_receipt(tx_hash)

    def submit_many(self, txs: list[SignedTransaction]) -> list[str | None]:
        """Queue ``txs`` for the sender and return at once (all None): rejections come
        later, from ``rejections``."""
        with self._lock:
            self._watched.update(tx.hash for tx in txs)
        self._outbox.put(txs)
        return [None] * len(txs)

    def rejections(self) -> list[tuple[bytes, str]]:
        """(tx hash, reason code) of each tx a node refused since the last call."""
        refused: list[tuple[bytes, str]] = []
        while True:
            try:
                refused.append(self._refused.get_nowait())
            except queue.Empty:
                return refused

    def _send(self) -> None:
        """The queued batches in order, merged while they wait."""
        outbox = self._outbox
        while (batch := outbox.get()) is not None:
            if self._stopping.is_set():
                return  # closing: what is still queued is dropped, not submitted
            while len(batch) < SUBMIT_BATCH_MAX:  # one message: a failure refuses no more
                try:
                    more = outbox.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    outbox.put(None)
                    break
                batch = batch + more
            try:
                results = self._submitter.submit_many(batch)
            except Timeout:  # the node may have admitted them: their commits may come
                continue
            except ZonechainError as error:  # the node's answer: these txs were refused
                reasons: list[str | None] = [type(error).__name__] * len(batch)
            except Exception as error:  # anything else ends the run (``poll`` raises it)
                self._error = f"submission failed: {type(error).__name__}: {error}"
                return
            else:
                reasons = [None if result.accepted else result.error_code or "rejected"
                           for result in results]
            refused = [(tx.hash, reason) for tx, reason in zip(batch, reasons, strict=True)
                       if reason is not None]
            with self._lock:
                self._watched.difference_update(tx_hash for tx_hash, _ in refused)
            for item in refused:
                self._refused.put(item)

    def poll(self, now_s: float) -> tuple[list[Committed], list[BlockRecord]]:
        if self._error is not None:
            raise NetworkTargetError(self._error)
        committed: list[Committed] = []
        blocks: list[BlockRecord] = []
        while True:
            try:
                more, block = self._results.get_nowait()
            except queue.Empty:
                return committed, blocks
            committed += more
            blocks += block

    def seconds_until_work(self, now_s: float) -> float:
        return POLL_IDLE_S

    def process_ids(self) -> list[int]:
        return list(self.pids)

    def state_agreement(self) -> StateAgreement:
        heights: dict[str, int] = {}
        for endpoint in self.endpoints:
            with Client([endpoint], timeout_s=CLIENT_TIMEOUT_S) as one:
                heights[endpoint] = one.status().height
        common = min(heights.values())
        roots: dict[str, str] = {}
        hashes = set()
        for endpoint in self.endpoints:
            with Client([endpoint], timeout_s=CLIENT_TIMEOUT_S) as one:
                info = one.get_block(common)
            if info is None:
                roots[endpoint] = "missing"
                continue
            roots[endpoint] = info.block.header.last_state_root.hex()
            hashes.add(info.block.hash)
        agreed = len(set(roots.values())) == 1 and "missing" not in roots.values() \
            and len(hashes) == 1
        return StateAgreement(agreed, roots,
                              f"{len(self.endpoints)} nodes: block {common} and the state root "
                              f"after height {common - 1} it carries, as each node serves them")

    def close(self) -> None:
        self._stopping.set()
        self._outbox.put(None)
        self._sender.join(THREAD_JOIN_S)
        self._submitter.close()
        self.client.close()
        self._thread.join(THREAD_JOIN_S)
        self._arrivals.put(None)
        self._collector.join(THREAD_JOIN_S)
        self._receipt_pool.shutdown(wait=True, cancel_futures=True)
        for reader in self._readers:
            reader.close()
        if self.on_close is not None:
            self.on_close()


def start_devnet(validators: int, clock: Clock) -> ClientTarget:
    """A fresh devnet of ``validators`` processes, as a target that stops it on close."""
    directory = Path(tempfile.mkdtemp(prefix="zonechain-bench-devnet-"))
    devnet = Devnet(directory / "net", validators, reset=True,
                    base_port=find_base_port(validators))
    try:
        devnet.start()
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise

    def stop() -> None:
        devnet.stop()
        shutil.rmtree(directory, ignore_errors=True)

    pids = [node.process.pid for node in devnet.nodes if node.process is not None]
    try:
        return ClientTarget(devnet.client_endpoints, clock, name="devnet", pids=pids,
                            on_close=stop)
    except BaseException:
        stop()
        raise
