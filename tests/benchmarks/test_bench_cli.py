"""`zonechain bench` end to end on the in-process ledger (node/bench_cli.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from zonechain.node.cli import EXIT_OK, EXIT_USAGE, main


def test_ledger_run_of_200_transfers_completes_and_agrees(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    code = main(["bench", "--target", "ledger", "--workload", "transfer", "--txs", "200",
                 "--senders", "50", "--rate", "2000", "--block-ms", "50", "--limits-s", "0.02",
                 "--peer-txs", "2", "--no-charts", "--quiet", "--out", str(out)])
    assert code == EXIT_OK
    result = json.loads((out / "bench.json").read_text())
    (run,) = result["runs"]
    summary = run["summary"]
    assert summary["committed_txs"] == summary["succeeded_txs"] == 200
    assert summary["rejected"] == {} and summary["failed"] == {} and summary["timed_out"] == 0
    assert summary["latency_s"]["count"] == 200 and summary["blocks"] >= 1
    assert summary["load"]["target_rate"] == 2000 and summary["load"]["sent"] == 200
    assert result["state_agreement"]["agreed"] is True
    assert result["manifest"]["config"]["workload"] == "transfer"
    assert set(result["physical_limits"]) == set(result["fractions_of_limits"])
    assert result["charts"] == []
    assert "| 2,000 tx/s |" in capsys.readouterr().out
    assert "## State root" in (out / "bench.md").read_text()


@pytest.mark.parametrize("argv", [
    ["bench", "--target", "endpoints"],
    ["bench", "--target", "devnet", "--validators", "17"],
    ["bench", "--rate", "0"],
    ["bench", "--rate", "10,20"],
    ["bench", "--sweep", "10,x"],
    ["bench", "--block-ms", "-1"],
    ["bench", "--txs", "-3"],
    ["bench", "--rate", "10", "--sweep", "10,20"],
])
def test_bad_requests_are_one_line_errors(argv: list[str], tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    try:
        code = main([*argv, "--quiet", "--out", str(tmp_path)])
    except SystemExit as exit_:  # argparse refuses bad values itself
        code = int(exit_.code or 0)
    assert code == EXIT_USAGE
    error = capsys.readouterr().err
    assert error.strip() and "Traceback" not in error


@pytest.mark.slow
def test_devnet_run_starts_nodes_commits_and_all_agree(tmp_path: Path) -> None:
    out = tmp_path / "out"
    code = main(["bench", "--target", "devnet", "--validators", "2", "--workload", "loc",
                 "--txs", "40", "--rate", "100", "--limits-s", "0", "--peer-txs", "0",
                 "--no-charts", "--quiet", "--out", str(out)])
    assert code == EXIT_OK
    result = json.loads((out / "bench.json").read_text())
    summary = result["runs"][0]["summary"]
    assert summary["committed_txs"] == summary["succeeded_txs"] == 40
    assert summary["flows_completed"] == 10
    agreement = result["state_agreement"]
    assert agreement["agreed"] is True and len(agreement["roots"]) == 2
    assert len(set(agreement["roots"].values())) == 1
    resources = result["runs"][0]["resources"]
    assert len(resources) == 3  # both node processes and the generator measured
    assert sum("load generator" in label for label in resources) == 1


@pytest.mark.slow
def test_endpoints_target_drives_a_running_network(tmp_path: Path) -> None:
    from zonechain.node.node_cli import Devnet, find_base_port

    with Devnet(tmp_path / "net", 1, reset=True, base_port=find_base_port(1)) as devnet:
        out = tmp_path / "out"
        code = main(["bench", "--target", "endpoints", "--endpoints",
                     ",".join(devnet.client_endpoints), "--workload", "transfer", "--txs", "30",
                     "--senders", "5", "--limits-s", "0", "--peer-txs", "0", "--no-charts",
                     "--quiet", "--out", str(out)])
        assert code == EXIT_OK
    summary = json.loads((out / "bench.json").read_text())["runs"][0]["summary"]
    assert summary["committed_txs"] == summary["succeeded_txs"] == 30
