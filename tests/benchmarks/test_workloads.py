"""Workloads are deterministic and every business flow completes on a real single node.

Each zone workload runs a few flows through ``LedgerTarget`` (real mempool,
VM, state tree, RocksDB), setup included: every measured transaction must
succeed and the state root must match the reference computation.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from zonechain.benchmarks.bench.load import ClosedLoopWindow
from zonechain.benchmarks.bench.run import FlowDriver, drive, run_setup, summarise
from zonechain.benchmarks.bench.targets import LedgerTarget
from zonechain.benchmarks.bench.workloads import (
    STEPS_PER_FLOW,
    WorkloadError,
    make_workload,
)


def test_same_seed_same_transactions_other_seed_other_keys() -> None:
    first, again = make_workload("transfer", 20, 5, senders=4), make_workload("transfer", 20, 5,
                                                                               senders=4)
    other = make_workload("transfer", 20, 6, senders=4)
    assert first.genesis_contracts == again.genesis_contracts
    signature = [(s.key.address, s.contract, s.method, s.args)
                 for flow in first.flows for s in flow.steps]
    assert signature == [(s.key.address, s.contract, s.method, s.args)
                         for flow in again.flows for s in flow.steps]
    assert first.flows[0].steps[0].key.address != other.flows[0].steps[0].key.address
    assert first.tx_count == 20 and first.setup_tx_count == 4  # one mint per sender


def test_hot_workload_pays_one_receiver() -> None:
    workload = make_workload("hot", 10, 5, senders=5)
    receivers = {flow.steps[0].encoded_args({})[-36:-16] for flow in workload.flows}
    assert len(receivers) == 1
    spread = make_workload("transfer", 10, 5, senders=5)
    assert len({flow.steps[0].encoded_args({})[-36:-16] for flow in spread.flows}) > 1
    assert len({flow.steps[0].key.address for flow in workload.flows}) == 5


@pytest.mark.parametrize(("name", "txs", "senders"), [("x", 1, 1), ("transfer", 0, 1),
                                                      ("transfer", 1, 0)])
def test_bad_workload_requests(name: str, txs: int, senders: int) -> None:
    with pytest.raises(WorkloadError):
        make_workload(name, txs, 1, senders)


@pytest.mark.parametrize("name", ["loc", "dvp", "xborder", "mix"])
def test_every_flow_completes_on_the_ledger(name: str, tmp_path: Path) -> None:
    clock = time.perf_counter
    workload = make_workload(name, 16, 3, senders=4)
    if name != "mix":
        assert workload.tx_count == 16 // STEPS_PER_FLOW[name] * STEPS_PER_FLOW[name]
    target = LedgerTarget(tmp_path, workload, clock, block_txs=100, block_interval_s=0.0)
    try:
        nonces: dict[bytes, int] = {}
        run_setup(target, workload.setup, clock, nonces)
        record = drive(target, FlowDriver(workload.flows, nonces, target.chain_id),
                       ClosedLoopWindow(50, workload.tx_count, clock), clock, drain_s=30.0)
        agreement = target.state_agreement()
    finally:
        target.close()
    summary = summarise(record)
    assert summary["committed_txs"] == summary["succeeded_txs"] == workload.tx_count
    assert record.flows_completed == len(workload.flows) and record.flows_aborted == 0
    assert not summary["rejected"] and not summary["failed"]
    assert agreement.agreed and agreement.roots["node"] == agreement.roots["reference"]
