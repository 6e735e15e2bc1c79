"""One benchmark run: set up a workload on a target, drive its flows, record everything.

``FlowDriver`` releases the workload's transactions: independent flows'
steps at once, a dependent flow's next step only after the previous one
committed successfully (its arguments may come from that receipt). It
assigns each sender's nonces in send order; a rejected transaction whose
nonce is the sender's latest gives it back, so later ones do not wait
behind a gap. A failed step (receipt not success, or rejected) ends its flow.

``drive`` is the generator loop: ask the load shape how many sends are due,
send what the driver has ready, let the target commit, record send and commit
times, until every flow is done (or nothing was sent or committed for
``drain_s``: whatever is still in flight is then reported as ``timed_out``). The generator and a
``LedgerTarget`` share this one thread, so block execution delays sends: the
open-loop accounting shows it as lateness and a lower achieved rate.

``RunRecord`` holds the raw observations; ``summarise`` turns them into the
figures of the report (committed TPS over the window from the first send to
the last commit, latency from send to commit, block interval, gas/s).
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from zonechain.benchmarks.bench.load import ClosedLoopWindow, OpenLoopSchedule, SendAccounting
from zonechain.benchmarks.bench.stats import Summary
from zonechain.benchmarks.bench.targets import BlockRecord, Committed, Target
from zonechain.benchmarks.bench.workloads import CHAIN_ID, ZONE, Flow
from zonechain.node.crypto import sign_transaction
from zonechain.node.types.transaction import (
    CallPayload,
    DeployPayload,
    SignedTransaction,
    Transaction,
)

IDLE_SLEEP_MAX_S: Final = 0.005
"""The generator idles at most 5 ms at a time when nothing is due (pacing, not syncing)."""
OPEN_LOOP_TICK_S: Final = 0.01
"""Open loop: sends go out every 10 ms, all that came due meanwhile in one batch, as a
busy client would send them; each send is up to a tick late, and the lateness is
reported (``SendAccounting``). Sending each tx the moment it is due costs a gRPC call
per tx, which at 1,500 tx/s loaded the generator and the node more than the txs did."""
SUBMIT_BATCH_MAX: Final = 100
"""Sends due at once go to the target together (one gRPC message for a network
target, unless its sender merges batches that queued behind a slow call), at
most 100 at a time so that a batch's send time stays close to each
transaction's own."""
SETUP_WINDOW: Final = 200
"""Setup runs closed-loop with 200 txs in flight: below the mempool's per-sender cap
(256), since one issuer mints to every funded account."""

TIMELINE_BUCKET_S: Final = 0.25
"""Throughput over time in quarter seconds: short runs still show a shape."""
SETUP_DRAIN_S: Final = 60.0
"""Setup gives up after a minute without a commit."""

ProgressCallback = Callable[[int, int], None]
"""Called with (sent, committed) as the run goes."""


class BenchError(Exception):
    """The benchmark itself could not proceed (e.g. its setup failed)."""


@dataclass
class RunRecord:
    """Raw observations of one run."""

    sends: SendAccounting
    sent_s: dict[bytes, float] = field(default_factory=dict)
    committed: list[Committed] = field(default_factory=list)
    blocks: list[BlockRecord] = field(default_factory=list)
    rejected: collections.Counter[str] = field(default_factory=collections.Counter)
    failed: collections.Counter[str] = field(default_factory=collections.Counter)
    flows_completed: int = 0
    flows_aborted: int = 0
    timed_out: int = 0

    def latencies_s(self) -> list[float]:
        return [item.committed_s - self.sent_s[item.tx_hash] for item in self.committed
                if item.tx_hash in self.sent_s]


@dataclass
class _Sent:
    flow: Flow
    step: int
    sender: bytes
    nonce: int


class FlowDriver:
    """Releases the flows' steps as signed transactions; see the module docstring."""

    def __init__(self, flows: list[Flow], nonces: dict[bytes, int],
                 chain_id: str = CHAIN_ID) -> None:
        self.chain_id = chain_id
        self.not_started = collections.deque(flows)
        self.ready: collections.deque[tuple[Flow, int]] = collections.deque()
        self.in_flight: dict[bytes, _Sent] = {}
        self.nonces = nonces
        """Next nonce by sender address: shared by every drive on one chain."""
        self.completed = 0
        self.aborted = 0
        self._presigned: dict[tuple[int, int], tuple[Flow, SignedTransaction]] = {}
        """(id of flow, step index) -> that flow and the tx ``presign`` made for it."""

    @property
    def exhausted(self) -> bool:
        return not (self.not_started or self.ready or self.in_flight)

    def presign(self) -> int:
        """Sign now, ahead of the run, every step of the flows not yet started that do not
        wait for a receipt, with the nonces ``next_tx`` will assign them; the count signed.

        The load generator shares the machine with the nodes it measures (a devnet on
        loopback); signing ahead takes ~30% of its CPU out of the measured window. A
        presigned tx is used only while its nonce is still the sender's next: after a
        rejection gives a nonce back, that sender's later steps are signed when sent.
        """
        nonces = dict(self.nonces)
        for flow in self.not_started:
            if flow.dependent:
                continue
            for index, step in enumerate(flow.steps):
                sender = step.key.address
                nonce = nonces.get(sender, 0)
                nonces[sender] = nonce + 1
                self._presigned[(id(flow), index)] = (flow, self._sign(flow, index, nonce))
        return len(self._presigned)

    def next_tx(self) -> SignedTransaction | None:
        if not self.ready:
            if not self.not_started:
                return None
            flow = self.not_started.popleft()
            count = 1 if flow.dependent else len(flow.steps)
            self.ready.extend((flow, index) for index in range(count))
        flow, index = self.ready.popleft()
        sender = flow.steps[index].key.address
        nonce = self.nonces.get(sender, 0)
        self.nonces[sender] = nonce + 1
        presigned = self._presigned.pop((id(flow), index), None)
        if presigned is not None and presigned[0] is flow and presigned[1].tx.nonce == nonce:
            tx = presigned[1]
        else:
            tx = self._sign(flow, index, nonce)
        self.in_flight[tx.hash] = _Sent(flow, index, sender, nonce)
        return tx

    def _sign(self, flow: Flow, index: int, nonce: int) -> SignedTransaction:
        step = flow.steps[index]
        args = step.encoded_args(flow.context)
        payload = (CallPayload(step.contract, step.method, args) if step.deploy_code is None
                   else DeployPayload(step.deploy_code, args))
        return sign_transaction(Transaction(self.chain_id, step.key.public_key, nonce,
                                            step.gas_limit, ZONE, payload), step.key)

    def rejected(self, tx_hash: bytes) -> None:
        sent = self.in_flight.pop(tx_hash)
        if self.nonces.get(sent.sender) == sent.nonce + 1:
            self.nonces[sent.sender] = sent.nonce
        self._finish_step(sent.flow, sent.step, succeeded=False)

    def committed(self, item: Committed) -> None:
        sent = self.in_flight.pop(item.tx_hash, None)
        if sent is None:
            return
        step = sent.flow.steps[sent.step]
        if item.receipt.succeeded and step.on_receipt is not None:
            step.on_receipt(item.receipt, sent.flow.context)
        self._finish_step(sent.flow, sent.step, succeeded=item.receipt.succeeded)

    def _finish_step(self, flow: Flow, index: int, *, succeeded: bool) -> None:
        done = flow.context.setdefault("_done", 0)
        assert isinstance(done, int)
        flow.context["_done"] = done + 1
        if not succeeded:
            if not flow.context.get("_aborted"):
                flow.context["_aborted"] = True
                self.aborted += 1
            return
        if flow.context.get("_aborted"):
            return
        if flow.dependent and index + 1 < len(flow.steps):
            self.ready.append((flow, index + 1))
        elif done + 1 == len(flow.steps):
            self.completed += 1


Load = OpenLoopSchedule | ClosedLoopWindow


def drive(target: Target, driver: FlowDriver, load: Load, clock: Callable[[], float], *,
          drain_s: float, progress: ProgressCallback | None = None) -> RunRecord:
    """Run the ``driver``'s flows against ``target`` under ``load``; see the module docstring.

    The driver's ``nonces`` (next nonce by sender) carry over between drives on one chain.
    """
    record = RunRecord(load.accounting)
    last_progress_s = clock()
    while not driver.exhausted:
        now = clock()
        sent_before = load.accounting.sent
        _send_due(target, driver, load, record, now, clock)
        committed, blocks = target.poll(clock())
        for item in committed:
            driver.committed(item)
            if item.tx_hash in record.sent_s:
                record.committed.append(item)
                if not item.receipt.succeeded:
                    record.failed[item.receipt.error_code or "failed"] += 1
        for tx_hash, reason in _late_rejections(target):
            if tx_hash in driver.in_flight:  # else its commit was reported first
                record.sent_s.pop(tx_hash, None)
                record.rejected[reason] += 1
                driver.rejected(tx_hash)
        record.blocks.extend(blocks)
        if progress is not None and (committed or blocks):
            progress(load.accounting.sent, len(record.committed))
        if committed or load.accounting.sent != sent_before:
            last_progress_s = clock()
        elif clock() - last_progress_s > drain_s:
            record.timed_out = len(driver.in_flight)
            break
        if not committed:
            _idle(target, load, clock())
    record.flows_completed, record.flows_aborted = driver.completed, driver.aborted
    if progress is not None:
        progress(load.accounting.sent, len(record.committed))
    return record


def _send_due(target: Target, driver: FlowDriver, load: Load, record: RunRecord, now: float,
              clock: Callable[[], float]) -> None:
    due = load.due(now) if isinstance(load, OpenLoopSchedule) else load.due(
        len(driver.in_flight) - _settling(target))
    while due > 0:
        batch: list[SignedTransaction] = []
        while len(batch) < min(due, SUBMIT_BATCH_MAX):
            tx = driver.next_tx()
            if tx is None:
                load.starved()
                due = 0
                break
            batch.append(tx)
        if not batch:
            return
        due -= len(batch)
        reasons = target.submit_many(batch)
        sent_at = clock()
        for tx, reason in zip(batch, reasons, strict=True):
            load.sent(sent_at)
            if reason is None:
                record.sent_s[tx.hash] = sent_at
            else:
                record.rejected[reason] += 1
                driver.rejected(tx.hash)


def _settling(target: Target) -> int:
    """Txs committed but not yet reported (a network target still fetching receipts)."""
    settling = getattr(target, "settling", None)  # optional: only network targets have it
    return int(settling()) if settling is not None else 0


def _late_rejections(target: Target) -> list[tuple[bytes, str]]:
    """Refusals a target reports after ``submit_many`` returned (a network target submits
    in the background, so that a slow node cannot hold the generator's schedule back).

    A late refusal gives its nonce back only if the sender sent nothing after it
    (``FlowDriver.rejected``); otherwise that sender's later txs wait behind the gap
    and are reported as timed out, as a real client's would be."""
    rejections = getattr(target, "rejections", None)  # optional: network targets have it
    return list(rejections()) if rejections is not None else []


def _idle(target: Target, load: Load, now: float) -> None:
    wait = target.seconds_until_work(now)
    if isinstance(load, OpenLoopSchedule):
        wait = min(wait, max(load.seconds_until_next(now), OPEN_LOOP_TICK_S))
        if wait > 0:
            time.sleep(min(wait, OPEN_LOOP_TICK_S))
        return
    if wait > 0:
        time.sleep(min(wait, IDLE_SLEEP_MAX_S))


def run_setup(target: Target, phases: list[list[Flow]], clock: Callable[[], float],
              nonces: dict[bytes, int]) -> int:
    """Run every setup phase to completion; the number of setup txs. BenchError on failure."""
    total = 0
    for number, phase in enumerate(phases):
        count = sum(len(flow.steps) for flow in phase)
        record = drive(target, FlowDriver(phase, nonces, target.chain_id),
                       ClosedLoopWindow(SETUP_WINDOW, count, clock), clock,
                       drain_s=SETUP_DRAIN_S)
        problems = dict(record.rejected + record.failed)
        if problems or record.timed_out or record.flows_aborted:
            raise BenchError(f"setup phase {number} failed: rejected/failed {problems}, "
                             f"{record.timed_out} timed out")
        total += count
    return total


def summarise(record: RunRecord) -> dict[str, object]:
    """The report's figures from one run's observations."""
    committed = record.committed
    succeeded = sum(1 for item in committed if item.receipt.succeeded)
    first_send = record.sends.started_s
    last_commit = max((item.committed_s for item in committed), default=first_send)
    window = last_commit - first_send
    gas = sum(item.receipt.gas_used for item in committed)
    latency = Summary.of(record.latencies_s())
    intervals = [later.committed_s - earlier.committed_s
                 for earlier, later in zip(record.blocks, record.blocks[1:], strict=False)]
    interval = Summary.of(intervals)
    block_txs = Summary.of([float(block.txs) for block in record.blocks])
    return {
        "committed_txs": len(committed),
        "succeeded_txs": succeeded,
        "window_s": window,
        "committed_tps": len(committed) / window if window > 0 else 0.0,
        "succeeded_tps": succeeded / window if window > 0 else 0.0,
        "gas_per_s": gas / window if window > 0 else 0.0,
        "gas_total": gas,
        "latency_s": None if latency is None else latency.as_dict(),
        "block_interval_s": None if interval is None else interval.as_dict(),
        "block_txs": None if block_txs is None else block_txs.as_dict(),
        "blocks": len(record.blocks),
        "rejected": dict(sorted(record.rejected.items())),
        "failed": dict(sorted(record.failed.items())),
        "timed_out": record.timed_out,
        "flows_completed": record.flows_completed,
        "flows_aborted": record.flows_aborted,
        "load": record.sends.as_dict(),
        "timeline": timeline(record),
    }


def timeline(record: RunRecord, bucket_s: float = TIMELINE_BUCKET_S) -> list[dict[str, float]]:
    """Commit rate (tx/s) in buckets of ``bucket_s`` since the first send (throughput chart)."""
    start = record.sends.started_s
    buckets: collections.Counter[int] = collections.Counter(
        int((item.committed_s - start) / bucket_s) for item in record.committed)
    last = max(buckets, default=-1)
    return [{"second": index * bucket_s, "committed": buckets.get(index, 0) / bucket_s}
            for index in range(last + 1)]
