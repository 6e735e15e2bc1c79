"""`zonechain bench`: the operator's end-to-end benchmark (benchmarks/bench/).

    zonechain bench --target ledger --workload transfer --txs 2000 --rate 1500 --out DIR
    zonechain bench --workload mix --sweep 500,1000,2000,4000 --out DIR
    zonechain bench --workload loc                      # closed loop: the maximum
    zonechain bench --target devnet --validators 4 --rate 200
    zonechain bench --target endpoints --endpoints h1:7050,h2:7050 --seed 7 --rate 200

Writes DIR/bench.json (with a manifest: config, seed, git commit, cores,
memory, Python and wasmtime versions), DIR/bench.md and, with the optional
extra ``bench`` installed (matplotlib, py-evm), PNG charts and the py-evm
comparison. Prints the Markdown summary's main table when done.

Bad arguments are a one-line error and exit code 2 (``UserError``). Exit 1,
with a one-line error, if the setup failed or the network could not be
reached or was lost; exit 1 also if the state-root check disagreed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from zonechain.node.cli import EXIT_FAILED, EXIT_OK, UserError

OUT_DEFAULT = Path("bench-results")


def _rates(text: str) -> tuple[float, ...]:
    try:
        rates = tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of rates: {text!r}") from None
    if not rates or any(not rate > 0 for rate in rates):
        raise argparse.ArgumentTypeError("rates must be positive numbers, e.g. 500,1000,2000")
    return rates


def _rate(text: str) -> tuple[float, ...]:
    rates = _rates(text)
    if len(rates) != 1:
        raise argparse.ArgumentTypeError("--rate takes one rate; use --sweep for several")
    return rates


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from zonechain.benchmarks.bench.benchmark import TARGETS
    from zonechain.benchmarks.bench.workloads import WORKLOADS

    bench = subparsers.add_parser(
        "bench", help="end-to-end throughput and latency benchmark",
        description="Drive a workload open-loop (--rate, --sweep) or closed-loop (default) "
                    "and report committed TPS, latency percentiles, block interval, gas/s, "
                    "CPU/memory and a state-root check.")
    bench.add_argument("--target", choices=TARGETS, default="ledger",
                       help="ledger: one in-process node (default)")
    bench.add_argument("--workload", choices=WORKLOADS, default="transfer")
    bench.add_argument("--txs", type=_positive, default=2_000, help="measured txs per run")
    bench.add_argument("--senders", type=_positive, default=1_000,
                       help="funded senders (transfer, hot)")
    bench.add_argument("--seed", type=int, default=20261128)
    load = bench.add_mutually_exclusive_group()
    load.add_argument("--rate", type=_rate, default=None, metavar="R",
                      help="open loop at R tx/s")
    load.add_argument("--sweep", type=_rates, default=None, metavar="R1,R2,...",
                      help="one open-loop run per rate, to find saturation")
    bench.add_argument("--window", type=_positive, default=2_000,
                       help="closed loop: txs in flight")
    bench.add_argument("--block-txs", type=_positive, default=2_000)
    bench.add_argument("--block-ms", type=int, default=200, help="block interval (ledger)")
    bench.add_argument("--validators", type=_positive, default=4, help="devnet size")
    bench.add_argument("--endpoints", default="", help="host:port,... (endpoints target)")
    bench.add_argument("--limits-s", type=float, default=0.5,
                       help="seconds per physical-limit measurement (0: skip)")
    bench.add_argument("--peer-txs", type=int, default=200,
                       help="transfers for the py-evm comparison (0: skip)")
    bench.add_argument("--drain-s", type=float, default=30.0,
                       help="give up after this long without progress")
    bench.add_argument("--no-charts", action="store_true")
    bench.add_argument("--quiet", action="store_true", help="no progress bars")
    bench.add_argument("--out", type=Path, default=OUT_DEFAULT, metavar="DIR")
    bench.set_defaults(handler=run_bench)


def run_bench(arguments: argparse.Namespace) -> int:
    from zonechain.benchmarks.bench.benchmark import BenchConfig, UnsupportedTarget, run_benchmark
    from zonechain.benchmarks.bench.network import NetworkTargetError
    from zonechain.benchmarks.bench.report import write_report
    from zonechain.benchmarks.bench.run import BenchError, ProgressCallback
    from zonechain.benchmarks.bench.workloads import WorkloadError
    from zonechain.node.node_cli import DevnetError
    from zonechain.sdk.errors import ZonechainError

    rates = arguments.sweep or arguments.rate or ()
    config = BenchConfig(
        target=arguments.target, workload=arguments.workload, txs=arguments.txs,
        senders=arguments.senders, seed=arguments.seed, rates=tuple(rates),
        window=arguments.window, block_txs=arguments.block_txs,
        block_interval_ms=arguments.block_ms, drain_s=arguments.drain_s,
        limits_s=arguments.limits_s, peer_txs=arguments.peer_txs,
        validators=arguments.validators,
        endpoints=tuple(part for part in arguments.endpoints.split(",") if part))
    console = Console(stderr=True, quiet=arguments.quiet)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console, disable=arguments.quiet) as progress:

        def factory(label: str, total: int) -> ProgressCallback:
            sent = progress.add_task(f"{label}: sent", total=total)
            committed = progress.add_task(f"{label}: committed", total=total)

            def update(sent_count: int, committed_count: int) -> None:
                progress.update(sent, completed=sent_count)
                progress.update(committed, completed=committed_count)
            return update

        try:
            result, latencies = run_benchmark(config, factory)
        except (ValueError, WorkloadError, UnsupportedTarget) as error:
            raise UserError(str(error)) from None
        except (BenchError, NetworkTargetError, DevnetError, ZonechainError) as error:
            hint = (" (on a running network, pick a --seed not used there before)"
                    if isinstance(error, BenchError) and arguments.target == "endpoints" else "")
            print(f"zonechain bench: {error}{hint}", file=sys.stderr)
            return EXIT_FAILED
    paths = write_report(result, latencies, arguments.out, charts=not arguments.no_charts)
    _print_summary(result, paths)
    return EXIT_OK if result["state_agreement"]["agreed"] else EXIT_FAILED


def _print_summary(result: dict[str, object], paths: list[Path]) -> None:
    from zonechain.benchmarks.bench.report import render_markdown

    text = render_markdown(result)
    table = text.split("## Runs", 1)[1].split("\n\n", 2)[1]
    print(table)
    print("wrote " + ", ".join(str(path) for path in paths))
