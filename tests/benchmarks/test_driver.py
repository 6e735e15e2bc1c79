"""The flow driver and generator loop against a scripted fake target (benchmarks/bench/run.py).

The fake target admits what it is told to, and commits everything it holds
on each poll with the receipt status it is told to: so the tests see exactly
which transactions the driver released, with which nonces, and when.
"""

from __future__ import annotations

import itertools

from zonechain.benchmarks.bench.load import ClosedLoopWindow, OpenLoopSchedule
from zonechain.benchmarks.bench.run import FlowDriver, drive, summarise
from zonechain.benchmarks.bench.targets import BlockRecord, Committed, StateAgreement
from zonechain.benchmarks.bench.workloads import Flow, Step
from zonechain.node.crypto import PrivateKey
from zonechain.node.types.receipt import Receipt, ReceiptStatus
from zonechain.node.types.transaction import SignedTransaction

ALICE = PrivateKey.from_seed(b"\x0a" * 32)
BOB = PrivateKey.from_seed(b"\x0b" * 32)
CAROL = PrivateKey.from_seed(b"\x0c" * 32)
CONTRACT = b"\xcc" * 20


def new_driver(flows: list[Flow]) -> FlowDriver:
    """A driver for a fresh chain (no nonces used yet) of FakeTarget's chain id."""
    return FlowDriver(flows, {}, FakeTarget.chain_id)


class StepClock:
    """Advances 1 ms on every read: a run's order of events gives its times."""

    def __init__(self) -> None:
        self.ticks = itertools.count()

    def __call__(self) -> float:
        return next(self.ticks) / 1000


class FakeTarget:
    name = "fake"
    chain_id = "zonechain-bench"

    def __init__(self, clock: StepClock, reject: set[str] | None = None,
                 fail: set[str] | None = None) -> None:
        self.clock = clock
        self.reject = reject or set()
        self.fail = fail or set()
        self.held: list[SignedTransaction] = []
        self.sent: list[tuple[str, int, bytes]] = []
        self.height = 0

    def submit_many(self, txs: list[SignedTransaction]) -> list[str | None]:
        return [self.submit(tx) for tx in txs]

    def submit(self, tx: SignedTransaction) -> str | None:
        method = tx.tx.payload.method  # type: ignore[union-attr]
        if method in self.reject:
            return "nonce_too_far"
        self.sent.append((method, tx.tx.nonce, tx.tx.sender_address))
        self.held.append(tx)
        return None

    def poll(self, now_s: float) -> tuple[list[Committed], list[BlockRecord]]:
        if not self.held:
            return [], []
        self.height += 1
        done = self.clock()
        committed = []
        for tx in self.held:
            method = tx.tx.payload.method  # type: ignore[union-attr]
            status = ReceiptStatus.CONTRACT_ERROR if method in self.fail else \
                ReceiptStatus.SUCCESS
            receipt = Receipt(tx.hash, status, 1_000, return_data=bytes([self.height]),
                              error_code="abort" if method in self.fail else "")
            committed.append(Committed(tx.hash, receipt, self.height, done))
        block = BlockRecord(self.height, len(self.held), 1_000 * len(self.held), done, 0.0)
        self.held = []
        return committed, [block]

    def seconds_until_work(self, now_s: float) -> float:
        return 0.0

    def process_ids(self) -> list[int]:
        return []

    def state_agreement(self) -> StateAgreement:
        return StateAgreement(True, {}, "fake")

    def close(self) -> None:
        pass


def step(key: PrivateKey, method: str) -> Step:
    return Step(key, CONTRACT, method, b"", 100_000)


def test_dependent_steps_wait_for_the_previous_commit_and_see_its_receipt() -> None:
    seen: list[object] = []

    def remember(receipt: Receipt, context: dict[str, object]) -> None:
        context["id"] = receipt.return_data[0]

    def second_args(context: dict[str, object]) -> bytes:
        seen.append(context["id"])
        return b""

    flow = Flow("loc", (Step(ALICE, CONTRACT, "request", b"", 100_000, remember),
                        Step(BOB, CONTRACT, "issue", second_args, 100_000),
                        step(ALICE, "present")), dependent=True)
    clock = StepClock()
    target = FakeTarget(clock)
    record = drive(target, new_driver([flow]), ClosedLoopWindow(10, 3, clock), clock,
                   drain_s=1.0)
    # One step per block: each was released only after its predecessor committed.
    assert [method for method, _, _ in target.sent] == ["request", "issue", "present"]
    assert target.height == 3
    assert seen == [1]  # the issue step's arguments came from block 1's receipt
    assert [nonce for _, nonce, _ in target.sent] == [0, 0, 1]  # per-sender nonces
    assert record.flows_completed == 1 and record.flows_aborted == 0
    assert len(record.committed) == 3 and not record.failed


def test_independent_steps_go_out_together() -> None:
    flows = [Flow("dvp", (step(ALICE, "buy"), step(BOB, "sell"))) for _ in range(3)]
    clock = StepClock()
    target = FakeTarget(clock)
    record = drive(target, new_driver(flows), ClosedLoopWindow(100, 6, clock), clock,
                   drain_s=1.0)
    assert target.height == 1  # all six in one block
    assert sorted(nonce for _, nonce, _ in target.sent) == [0, 0, 1, 1, 2, 2]
    assert record.flows_completed == 3


def test_a_failed_step_aborts_its_flow_and_is_counted_by_reason() -> None:
    flows = [Flow("loc", (step(ALICE, "request"), step(BOB, "issue")), dependent=True),
             Flow("transfer", (step(BOB, "transfer"),))]
    clock = StepClock()
    target = FakeTarget(clock, fail={"request"})
    record = drive(target, new_driver(flows), ClosedLoopWindow(10, 3, clock), clock,
                   drain_s=1.0)
    assert [method for method, _, _ in target.sent] == ["request", "transfer"]
    assert record.flows_aborted == 1 and record.flows_completed == 1
    summary = summarise(record)
    assert summary["failed"] == {"abort": 1}
    assert summary["committed_txs"] == 2 and summary["succeeded_txs"] == 1


def test_a_rejected_tx_gives_its_nonce_back() -> None:
    nonces: dict[bytes, int] = {}
    driver = FlowDriver([Flow("t", (step(ALICE, "first"),)), Flow("t", (step(ALICE, "x"),))],
                        nonces)
    first = driver.next_tx()
    assert first is not None and first.tx.nonce == 0
    driver.rejected(first.hash)
    second = driver.next_tx()
    assert second is not None and second.tx.nonce == 0  # reused: no gap
    assert driver.aborted == 1


def test_presigned_txs_are_sent_until_a_rejection_moves_the_nonces() -> None:
    flows = [Flow("t", (step(ALICE, name),)) for name in ("a", "b", "c")]
    flows.append(Flow("dvp", (step(BOB, "buy"), step(ALICE, "d"))))
    flows.append(Flow("loc", (step(BOB, "request"),), dependent=True))
    driver = new_driver(flows)
    assert driver.presign() == 5  # the dependent flow waits for receipts: not signed ahead
    presigned = {key: tx for key, (_, tx) in driver._presigned.items()}
    first = driver.next_tx()
    assert first is not None and first is presigned[(id(flows[0]), 0)]
    assert first.tx.nonce == 0
    second = driver.next_tx()
    assert second is not None and second.tx.nonce == 1
    driver.rejected(second.hash)  # ALICE's nonce 1 is given back
    third = driver.next_tx()
    assert third is not None and third.tx.nonce == 1  # re-signed: the presigned one had 2
    assert third.tx.payload.method == "c"  # type: ignore[union-attr]
    assert third is not presigned[(id(flows[2]), 0)]
    sent = [driver.next_tx() for _ in range(3)]
    assert [(tx.tx.payload.method, tx.tx.nonce) for tx in sent  # type: ignore[union-attr]
            if tx is not None] == [("buy", 0), ("d", 2), ("request", 1)]
    assert sent[0] is presigned[(id(flows[3]), 0)]  # BOB's nonces did not move
    assert driver.next_tx() is None


class LateRefusals(FakeTarget):
    """Answers every submission at once and reports refusals after the next poll, as the
    network target's background sender does; ``also_refused`` refuses txs it commits in
    that same poll too (a refusal that arrives with or after the commit)."""

    def __init__(self, clock: StepClock, reject: set[str], also_refused: set[str]) -> None:
        super().__init__(clock, reject=reject)
        self.also_refused = also_refused
        self.refused: list[tuple[bytes, str]] = []

    def submit_many(self, txs: list[SignedTransaction]) -> list[str | None]:
        for tx in txs:
            method = tx.tx.payload.method  # type: ignore[union-attr]
            if self.submit(tx) is not None:
                self.refused.append((tx.hash, "mempool_full"))
            elif method in self.also_refused:
                self.refused.append((tx.hash, "timeout_but_admitted"))
        return [None] * len(txs)

    def rejections(self) -> list[tuple[bytes, str]]:
        refused, self.refused = self.refused, []
        return refused


def test_late_refusals_are_counted_and_one_after_the_commit_is_ignored() -> None:
    flows = [Flow("t", (step(ALICE, "bad"),)), Flow("t", (step(BOB, "good"),)),
             Flow("t", (step(CAROL, "late"),))]
    clock = StepClock()
    target = LateRefusals(clock, reject={"bad"}, also_refused={"late"})
    driver = new_driver(flows)
    record = drive(target, driver, OpenLoopSchedule(1_000.0, 3, clock), clock, drain_s=1.0)
    summary = summarise(record)
    assert summary["rejected"] == {"mempool_full": 1}  # "late" was committed first
    assert summary["committed_txs"] == 2 and summary["succeeded_txs"] == 2
    assert driver.nonces[ALICE.address] == 0  # the refused tx's nonce was given back
    assert driver.completed == 2 and driver.aborted == 1 and not driver.in_flight


def test_rejections_are_reported_and_the_run_ends() -> None:
    flows = [Flow("t", (step(ALICE, "bad"),)), Flow("t", (step(BOB, "good"),))]
    clock = StepClock()
    target = FakeTarget(clock, reject={"bad"})
    record = drive(target, new_driver(flows), OpenLoopSchedule(1_000.0, 2, clock), clock,
                   drain_s=1.0)
    summary = summarise(record)
    assert summary["rejected"] == {"nonce_too_far": 1}
    assert summary["committed_txs"] == 1
    assert summary["load"]["sent"] == 2  # type: ignore[index]


def test_a_target_that_never_commits_times_out() -> None:
    class Stuck(FakeTarget):
        def poll(self, now_s: float) -> tuple[list[Committed], list[BlockRecord]]:
            return [], []

    clock = StepClock()
    stuck = Stuck(clock)
    record = drive(stuck, new_driver([Flow("t", (step(ALICE, "x"),))]),
                   ClosedLoopWindow(1, 1, clock), clock, drain_s=0.05)
    assert record.timed_out == 1 and not record.committed


def test_summary_latency_is_send_to_commit() -> None:
    clock = StepClock()
    target = FakeTarget(clock)
    record = drive(target, new_driver([Flow("t", (step(ALICE, "x"),))]),
                   ClosedLoopWindow(1, 1, clock), clock, drain_s=1.0)
    (latency,) = record.latencies_s()
    assert latency > 0
    summary = summarise(record)
    assert summary["latency_s"]["p99"] == latency  # type: ignore[index]
    assert summary["timeline"]
