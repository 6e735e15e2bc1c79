"""The whole benchmark: runs (one per offered rate), limits, the peer comparison, the result.

``run_benchmark(config)`` returns the result dictionary ``report.write_report``
writes, and the raw latencies by run (for the histogram). For each offered
rate (``--sweep``), or the one ``--rate``, or the closed-loop maximum, it
builds the workload from the seed, starts a FRESH target (a new chain, so
runs do not inherit each other's state size), runs the untimed setup, signs
the measured run's transactions ahead (``FlowDriver.presign``: the generator
shares the machine with a devnet), then the measured run, samples CPU and
memory of the node processes and of the generator around it, and checks the
final state root. With a sweep, saturation is the first offered
rate at which the generator could not keep up or the committed rate fell
below ``SATURATION_RATIO`` of the offered one.

Targets: ``ledger`` (in process, the workload's contracts at genesis),
``devnet`` (a fresh devnet of ``validators`` processes per run) and
``endpoints`` (running nodes): on the network targets the contracts are
deployed by transactions first, untimed, like the rest of the setup.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final

from zonechain.benchmarks.bench import evm_peer, limits, resources
from zonechain.benchmarks.bench.load import ClosedLoopWindow, OpenLoopSchedule
from zonechain.benchmarks.bench.report import manifest
from zonechain.benchmarks.bench.run import (
    FlowDriver,
    ProgressCallback,
    drive,
    run_setup,
    summarise,
)
from zonechain.benchmarks.bench.targets import LedgerTarget, StateAgreement, Target
from zonechain.benchmarks.bench.workloads import Workload, make_workload

TARGETS: Final = ("ledger", "devnet", "endpoints")
DEVNET_VALIDATORS_MAX: Final = 16
"""Each validator is a process: more than 16 on one machine measures the machine."""
SATURATION_RATIO: Final = 0.9
"""Committed below 90% of offered: the system no longer absorbs the load."""


class UnsupportedTarget(Exception):
    """A target that cannot be used as asked (e.g. ``endpoints`` without endpoints)."""


@dataclass(frozen=True)
class BenchConfig:
    target: str = "ledger"
    workload: str = "transfer"
    txs: int = 2_000
    senders: int = 1_000
    seed: int = 20261128
    rates: tuple[float, ...] = ()
    """Offered rates (tx/s), one run each; empty: one closed-loop run."""
    window: int = 2_000
    """Closed loop: transactions in flight."""
    block_txs: int = 2_000
    block_interval_ms: int = 200
    drain_s: float = 30.0
    limits_s: float = 0.5
    peer_txs: int = 200
    validators: int = 4
    endpoints: tuple[str, ...] = field(default=())

    def check(self) -> None:
        if self.target not in TARGETS:
            raise ValueError(f"unknown target {self.target!r}; choose from {', '.join(TARGETS)}")
        if any(not rate > 0 for rate in self.rates):
            raise ValueError("every offered rate must be > 0")
        if self.window < 1 or self.block_interval_ms < 0 or self.peer_txs < 0:
            raise ValueError("--window must be >= 1; --block-ms and --peer-txs >= 0")
        if self.target == "endpoints" and not self.endpoints:
            raise UnsupportedTarget("--target endpoints needs --endpoints host:port,...")
        if self.target == "devnet" and not 1 <= self.validators <= DEVNET_VALIDATORS_MAX:
            raise ValueError(f"--validators must be 1..{DEVNET_VALIDATORS_MAX}")


ProgressFactory = Callable[[str, int], ProgressCallback | None]
"""Given a run label and its tx count, a progress callback (or None)."""


def _one_run(config: BenchConfig, rate: float | None, seed: int, directory: Path,
             progress: ProgressCallback | None) -> tuple[dict[str, Any], list[float],
                                                         StateAgreement]:
    clock = time.perf_counter
    workload = make_workload(config.workload, config.txs, seed, config.senders)
    target = open_target(config, workload, directory, clock)
    try:
        nonces: dict[bytes, int] = {}
        phases = workload.setup if target.name == "ledger" else [workload.deploys,
                                                                 *workload.setup]
        setup_txs = run_setup(target, phases, clock, nonces)
        driver = FlowDriver(workload.flows, nonces, target.chain_id)
        driver.presign()
        load = (ClosedLoopWindow(config.window, workload.tx_count, clock) if rate is None
                else OpenLoopSchedule(rate, workload.tx_count, clock))
        pids = target.process_ids()
        if os.getpid() not in pids:
            pids = [*pids, os.getpid()]
        before = resources.sample(pids, clock())
        record = drive(target, driver, load, clock, drain_s=config.drain_s,
                       progress=progress)
        after = resources.sample(pids, clock())
        agreement = target.state_agreement()
    finally:
        target.close()
    label = "closed loop" if rate is None else f"{rate:,.0f} tx/s"
    run = {"label": label, "offered_rate": rate, "seed": seed, "setup_txs": setup_txs,
           "measured_txs": workload.tx_count, "summary": summarise(record),
           "resources": {_process_label(target.name, pid): figures
                         for pid, figures in resources.usage(before, after).items()}}
    return run, record.latencies_s(), agreement


def _process_label(target: str, pid: str) -> str:
    if pid != str(os.getpid()):
        return f"{target} node, pid {pid}"
    if target == "ledger":
        return f"ledger node and load generator, pid {pid} (this process)"
    return f"load generator, pid {pid} (this process)"


def open_target(config: BenchConfig, workload: Workload, directory: Path,
                clock: Callable[[], float]) -> Target:
    if config.target == "ledger":
        return LedgerTarget(directory, workload, clock, block_txs=config.block_txs,
                            block_interval_s=config.block_interval_ms / 1000)
    from zonechain.benchmarks.bench.network import ClientTarget, start_devnet

    if config.target == "devnet":
        return start_devnet(config.validators, clock)
    return ClientTarget(config.endpoints, clock)


def saturation(runs: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Where the sweep stopped being absorbed; None without a sweep."""
    offered = [run for run in runs if run["offered_rate"] is not None]
    if len(offered) < 2:
        return None
    absorbed = None
    for run in sorted(offered, key=lambda item: item["offered_rate"]):
        summary = run["summary"]
        keeps_up = summary["load"]["kept_up"] and (
            summary["committed_tps"] >= SATURATION_RATIO * run["offered_rate"])
        if not keeps_up:
            where = ("below the lowest offered rate" if absorbed is None
                     else f"between {absorbed:,.0f} and {run['offered_rate']:,.0f} tx/s")
            return {"saturated_at": run["offered_rate"], "last_absorbed": absorbed,
                    "note": f"saturation {where}: at {run['offered_rate']:,.0f} tx/s offered, "
                            f"{summary['committed_tps']:,.0f} tx/s committed"}
        absorbed = run["offered_rate"]
    return {"saturated_at": None, "last_absorbed": absorbed,
            "note": f"not saturated up to {absorbed:,.0f} tx/s offered"}


def run_benchmark(config: BenchConfig, progress: ProgressFactory | None = None,
                  ) -> tuple[dict[str, Any], dict[str, list[float]]]:
    """Run everything ``config`` asks for; (result, latencies by run label)."""
    config.check()
    runs, latencies, agreements = [], {}, []
    for index, rate in enumerate(config.rates or (None,)):
        # A long-lived network keeps the keys' nonces and deployed contracts: each run
        # there gets its own keys (seed + run index); fresh chains reuse the seed.
        seed = config.seed + index if config.target == "endpoints" else config.seed
        label = "closed loop" if rate is None else f"{rate:,.0f} tx/s"
        callback = None if progress is None else progress(label, config.txs)
        with tempfile.TemporaryDirectory(prefix="zonechain-bench-") as directory:
            run, samples, agreement = _one_run(config, rate, seed, Path(directory), callback)
        runs.append(run)
        latencies[run["label"]] = samples
        agreements.append(agreement)
    measured = limits.measure(config.limits_s) if config.limits_s > 0 else {}
    best = max(runs, key=lambda run: run["summary"]["committed_tps"])
    block_txs = best["summary"]["block_txs"]
    fractions = {} if not measured else limits.fractions(
        best["summary"]["committed_tps"], 0.0 if block_txs is None else block_txs["mean"],
        measured)
    result: dict[str, Any] = {
        "schema": "zonechain-bench/1",
        "manifest": manifest(asdict(config), config.seed),
        "runs": runs,
        "saturation": saturation(runs),
        "state_agreement": {
            "agreed": all(item.agreed for item in agreements),
            "roots": {f"{run['label']} {name}": root for run, item in zip(runs, agreements,
                                                                          strict=True)
                      for name, root in item.roots.items()},
            "note": " | ".join(f"{run['label']}: {item.note}"
                               for run, item in zip(runs, agreements, strict=True)),
        },
        "physical_limits": measured,
        "fractions_of_limits": fractions,
        "peer_comparison": evm_peer.compare(config.peer_txs) if config.peer_txs else None,
        "charts": [],
    }
    return result, latencies
