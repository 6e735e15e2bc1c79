from __future__ import annotations

import pytest

from zonechain.node.cli import main


def test_demo_runs_and_stops_the_spinning_call(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "out of gas" in out
