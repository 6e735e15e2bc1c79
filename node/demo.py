"""`zonechain demo` — the README's main job: the pilot zones on a local 4-validator devnet.

    zonechain demo [--dir D]

Starts 4 validator processes (in a temporary directory, or in D, which is
kept), builds the token and the three zone contracts, deploys them into the
trade-finance, equity-market and cross-border-finance zones, and plays the
pilot (node/demo_scenario.py): a letter of credit from request to payment, an
equity trade settled delivery-versus-payment, a governance vote onboarding the
regulator's compliance officer, a cross-border payment cleared by compliance
and converted at an FX quote, and one deploy the zone policy refuses. Each
step prints its block height, gas and receipt status; a summary table and a
balance read verified with a Merkle proof against a certificate of the
validators close the run.

Guarantees: every node process started is stopped before the command
returns, also after an error or Ctrl-C (try/finally around ``Devnet``).
Exit 0 when every step ended as expected; 1 with a one-line reason
(``zonechain demo: ...`` on stderr, no traceback) when a step, the build or
the network failed; 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from zonechain.contracts.toolchain import BuildError
from zonechain.node.cli import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK
from zonechain.node.demo_scenario import (
    VALIDATORS,
    DemoFailed,
    FinalState,
    Pilot,
    PilotNetwork,
    StepRecord,
    amount_text,
    build_all,
)
from zonechain.node.node_cli import DevnetError
from zonechain.sdk import Client, ZonechainError

CLIENT_TIMEOUT_S: Final = 10.0
"""Per-request deadline of the demo's SDK client (a loaded 2-core machine)."""

PIPED_WIDTH: Final = 150
"""Output width when stdout is not a terminal, so lines and tables are not cut."""

STATUS_STYLE: Final = {"success": "green", "refused": "yellow"}


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo", help="run the pilot zones on a local 4-validator devnet (the README's main job)",
        description="Start 4 validators, deploy the pilot zone contracts and play a letter of "
                    "credit, an equity DvP and a cross-border payment end to end.")
    parser.add_argument("--dir", type=Path, default=None, metavar="D",
                        help="keep the devnet in D (replaced if it holds one); default: a "
                             "temporary directory removed afterwards")
    parser.set_defaults(handler=run)


def make_console() -> Console:
    return Console(width=None if sys.stdout.isatty() else PIPED_WIDTH, highlight=False)


def step_line(record: StepRecord) -> str:
    """One printed line for a step (rich markup)."""
    height = "   -" if record.height is None else f"{record.height:>4}"
    gas = "-" if record.gas_used is None else f"{record.gas_used:,}"
    style = STATUS_STYLE.get(record.status, "red")
    detail = f"  [dim]{escape(record.detail)}[/dim]" if record.detail else ""
    return (f"  h {height}  [{style}]{record.status:<8}[/{style}] gas {gas:>10}  "
            f"[bold]{escape(record.action)}[/bold] by {record.actor} in {record.zone}{detail}")


def summary_table(records: Sequence[StepRecord], finals: Sequence[FinalState]) -> Table:
    """Per scenario: transactions, gas, the heights spanned and the outcome."""
    table = Table(title="zonechain demo: summary")
    for column, justify in (("scenario", "left"), ("txs", "right"), ("gas used", "right"),
                            ("heights", "right"), ("outcome", "left")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    outcome_by_scenario = {final.scenario: final.outcome for final in finals}
    for scenario in dict.fromkeys(record.scenario for record in records):
        mine = [record for record in records if record.scenario == scenario]
        heights = [record.height for record in mine if record.height is not None]
        span = f"{min(heights)}-{max(heights)}" if heights else "-"
        gas = sum(record.gas_used or 0 for record in mine)
        table.add_row(scenario, str(len(mine)), f"{gas:,}", span,
                      outcome_by_scenario.get(scenario, ""))
    return table


def one_line(message: str) -> str:
    """A multi-line error (e.g. a node's log tail) as one line: its first and last lines."""
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    if len(lines) <= 1:
        return lines[0] if lines else ""
    return f"{lines[0]} ... {lines[-1]}"


@contextmanager
def sigint_ignored() -> Iterator[None]:
    """Ignore SIGINT inside the block (main thread only: signals are delivered there)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@contextmanager
def devnet_directory(chosen: Path | None) -> Iterator[Path]:
    if chosen is not None:
        yield chosen
        return
    with tempfile.TemporaryDirectory(prefix="zonechain-demo-") as temporary:
        yield Path(temporary) / "devnet"


def run(arguments: argparse.Namespace) -> int:
    console = make_console()
    try:
        play(console, arguments.dir)
    except (DemoFailed, DevnetError, BuildError, ZonechainError) as error:
        reason = one_line(str(error)) or type(error).__name__
        print(f"zonechain demo: {type(error).__name__}: {reason}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        console.print("[yellow]demo interrupted[/yellow]; every node it started was stopped")
        return EXIT_INTERRUPTED
    return EXIT_OK


def play(console: Console, chosen: Path | None) -> None:
    """The whole run; raises DemoFailed (or a network/build error) on the first failure."""
    started = time.monotonic()
    console.print("[bold]Building[/bold] token, letter_of_credit, equity_settlement, "
                  "cross_border_payment ...")
    builds = build_all()
    for build in builds.values():
        console.print(f"  {build.name:<22} {len(build.code):>7,} bytes  sha256 "
                      f"{build.code_hash[:16]}")
    with devnet_directory(chosen) as directory:
        network = PilotNetwork.create(directory)
        console.print(f"[bold]Starting[/bold] {VALIDATORS} validators in {directory} "
                      f"(pilot genesis: {len(network.keys)} accounts, {network.zones} zones) ...")
        devnet = network.devnet
        try:
            devnet.start()
            for node in devnet.nodes:
                console.print(f"  {node.node_id}  client {node.client}  p2p {node.p2p}")
            with Client(devnet.client_endpoints, timeout_s=CLIENT_TIMEOUT_S,
                        verifier=network.verifier) as client:
                pilot = Pilot(client, network.keys, builds,
                              report=lambda record: console.print(step_line(record)),
                              verifier=network.verifier)
                finals = run_pilot(console, pilot)
                console.print(summary_table(pilot.records, finals))
                balance, height, signers, validators = pilot.verified_balance(
                    "USDD", "exporter")
                console.print(
                    f"[bold]Verified read[/bold]: exporter's USDD balance "
                    f"{amount_text(balance, 2)} after height {height}: Merkle proof verified "
                    f"against a root signed by {signers}/{validators} validators",
                    soft_wrap=True)
        finally:
            with sigint_ignored():  # a second Ctrl-C must not cut the nodes' shutdown short
                codes = devnet.stop()
            console.print(f"Stopped {len(codes)} validator(s) "
                          f"({', '.join(f'{name} exit {code}' for name, code in codes.items())})"
                          f"; {time.monotonic() - started:.0f} s in all.")


def run_pilot(console: Console, pilot: Pilot) -> list[FinalState]:
    sections = (("Deploying the currency, security and zone contracts", pilot.issue_currencies),
                ("Letter of credit (trade-finance)", pilot.letter_of_credit),
                ("Equity trade, delivery versus payment (equity-market)",
                 pilot.equity_settlement),
                ("Governance: onboarding the regulator's compliance officer",
                 pilot.onboard_compliance_officer),
                ("Cross-border payment at an FX quote (cross-border-finance)",
                 pilot.cross_border_payment),
                ("An unauthorised deploy (trade-finance)", pilot.refused_deploy))
    for title, section in sections:
        console.rule(f"[bold]{title}")
        section()
        final = pilot.finals[-1]
        console.print(f"  [bold]=> {escape(final.text)}[/bold]", soft_wrap=True)
    return pilot.finals
