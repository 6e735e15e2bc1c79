"""docs/OPERATIONS.md stays true to the code.

- Every metric the /metrics endpoint renders is listed in the doc, and the doc
  names no metric that does not exist.
- Every ``zonechain ...`` command in the doc's ``sh`` blocks parses with the
  real command-line parser (the commands exist, with those options).
- Every log event the doc lists is one the node can emit.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import shlex
from pathlib import Path

import pytest

from zonechain.node.cli import build_parser
from zonechain.node.metrics import Gauges, Metrics

REPOSITORY = Path(__file__).resolve().parents[2]
OPERATIONS = REPOSITORY / "docs" / "OPERATIONS.md"
METRIC_NAME = re.compile(r"\bzonechain_[a-z_]+[a-z]\b")
SH_BLOCK = re.compile(r"```sh\n(.*?)```", re.DOTALL)


def doc_text() -> str:
    return OPERATIONS.read_text(encoding="utf-8")


def rendered_metric_names() -> set[str]:
    gauges = Gauges(height=0, round=0, mempool_txs=0, mempool_bytes=0, peers_connected=0,
                    peers_total=0, catching_up=False, validator=False)
    text = Metrics(lambda: gauges).render()
    return {line.split()[0] for line in text.splitlines() if line and not line.startswith("#")}


def test_doc_lists_exactly_the_exposed_metrics() -> None:
    exposed = rendered_metric_names()
    assert len(exposed) >= 17
    documented = set(METRIC_NAME.findall(doc_text()))
    assert exposed - documented == set(), "metrics missing from docs/OPERATIONS.md"
    assert documented - exposed == set(), "docs/OPERATIONS.md names metrics that do not exist"


def doc_commands() -> list[str]:
    commands: list[str] = []
    for block in SH_BLOCK.findall(doc_text()):
        joined = block.replace("\\\n", " ")
        for line in joined.splitlines():
            command = line.split(" #", 1)[0].strip()
            if command.startswith("zonechain "):
                commands.append(command)
    return commands


def test_doc_has_commands_to_check() -> None:
    words = {shlex.split(command)[1] for command in doc_commands()}
    assert {"init", "node", "devnet", "add-full-node"} <= words


@pytest.mark.parametrize("command", doc_commands())
def test_every_documented_command_parses(command: str) -> None:
    parser = build_parser()
    errors = io.StringIO()
    try:
        with contextlib.redirect_stderr(errors):
            arguments = parser.parse_args(shlex.split(command)[1:])
    except SystemExit:
        pytest.fail(f"{command!r} does not parse: {errors.getvalue().strip()}")
    assert isinstance(arguments, argparse.Namespace)
    assert getattr(arguments, "handler", None) is not None, command


def test_documented_log_events_exist() -> None:
    text = doc_text()
    section = text[text.index("**Logs**"):text.index("**Metrics**")]
    events = set(re.findall(r"^\| `([a-z_]+)`", section, re.MULTILINE))
    assert {"node_started", "block_committed", "node_fault", "node_stopped"} <= events
    sources = "".join(path.read_text(encoding="utf-8")
                      for path in sorted((REPOSITORY / "node").glob("*.py")))
    for event in events:
        assert f'"{event}"' in sources, f"log event {event} is documented but never emitted"
