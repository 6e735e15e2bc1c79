"""The report writer: JSON fields, Markdown, charts only with matplotlib (bench/report.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from zonechain.benchmarks.bench.benchmark import saturation
from zonechain.benchmarks.bench.load import SendAccounting
from zonechain.benchmarks.bench.report import (
    MANIFEST_FIELDS,
    REQUIRED_FIELDS,
    charts_available,
    manifest,
    render_markdown,
    write_report,
)
from zonechain.benchmarks.bench.run import RunRecord, summarise
from zonechain.benchmarks.bench.targets import Committed
from zonechain.node.types.receipt import Receipt, ReceiptStatus


def run_entry(label: str, rate: float | None, kept_up: bool, committed: int) -> dict[str, Any]:
    sends = SendAccounting(rate, 0.0)
    record = RunRecord(sends)
    for index in range(committed):
        tx_hash = index.to_bytes(32, "big")
        sends.record(index / 100 if kept_up else index / 50, index / 100)
        record.sent_s[tx_hash] = index / 100
        record.committed.append(Committed(tx_hash, Receipt(tx_hash, ReceiptStatus.SUCCESS, 500),
                                          1, index / 100 + 0.25))
    if not kept_up:
        sends.starved = 3
    record.rejected["mempool_full"] = 2
    return {"label": label, "offered_rate": rate, "setup_txs": 0, "measured_txs": committed,
            "summary": summarise(record),
            "resources": {"ledger node, pid 1": {"cpu_s": 1.0, "cpu_percent_of_core": 50.0,
                                                 "rss_mib": 80.0, "peak_rss_mib": 90.0}}}


def result(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "schema": "zonechain-bench/1",
        "manifest": manifest({"workload": "transfer", "target": "ledger"}, 7),
        "runs": runs, "saturation": saturation(runs),
        "state_agreement": {"agreed": True, "roots": {"node": "ab" * 32}, "note": "single"},
        "physical_limits": {"ed25519_verifies_per_s": 10_000.0},
        "fractions_of_limits": {"ed25519_verifies_per_s": 0.3},
        "peer_comparison": None, "charts": [],
    }


def test_json_has_every_required_field_and_the_manifest(tmp_path: Path) -> None:
    runs = [run_entry("100 tx/s", 100.0, True, 50)]
    paths = write_report(result(runs), {"100 tx/s": [0.25] * 50}, tmp_path, charts=False)
    assert paths == [tmp_path / "bench.json", tmp_path / "bench.md"]
    written = json.loads((tmp_path / "bench.json").read_text())
    assert set(REQUIRED_FIELDS) <= set(written)
    assert set(MANIFEST_FIELDS) <= set(written["manifest"])
    assert written["manifest"]["seed"] == 7 and written["manifest"]["cpu_cores"] >= 1
    summary = written["runs"][0]["summary"]
    assert summary["committed_txs"] == 50
    assert summary["latency_s"]["p50"] == pytest.approx(0.25)
    assert summary["rejected"] == {"mempool_full": 2}
    assert written["charts"] == []


def test_markdown_renders_the_table_and_flags_a_generator_that_fell_behind() -> None:
    runs = [run_entry("100 tx/s", 100.0, True, 500), run_entry("200 tx/s", 200.0, False, 50)]
    text = render_markdown(result(runs))
    assert text.startswith("# zonechain bench: transfer on ledger")
    table = [line for line in text.splitlines() if line.startswith("| 100 tx/s | 100 |")]
    assert len(table) == 1 and "| 250.0 |" in table[0]  # p50 latency in ms
    assert "| 500 |" in table[0]  # committed
    assert "| 100 tx/s | ledger node, pid 1 | 1.0 | 50 | 80 | 90 |" in text
    assert "200 tx/s: the generator could NOT keep up" in text
    assert "rejected {'mempool_full': 2}" in text
    assert "AGREED" in text
    assert "## Saturation" in text and "between 100 and 200 tx/s" in text
    assert "matplotlib not installed" in text  # no charts in this result


def test_saturation_not_reached_and_not_applicable() -> None:
    runs = [run_entry("50 tx/s", 50.0, True, 500), run_entry("100 tx/s", 100.0, True, 500)]
    found = saturation(runs)
    assert found is not None and found["saturated_at"] is None
    assert saturation([run_entry("closed", None, True, 5)]) is None


def test_a_result_missing_fields_is_refused(tmp_path: Path) -> None:
    broken = result([run_entry("1", 1.0, True, 2)])
    del broken["physical_limits"]
    with pytest.raises(ValueError, match="physical_limits"):
        write_report(broken, {}, tmp_path, charts=False)


@pytest.mark.skipif(not charts_available(), reason="matplotlib (extra `bench`) not installed")
def test_charts_are_png_files(tmp_path: Path) -> None:
    runs = [run_entry("100 tx/s", 100.0, True, 50)]
    paths = write_report(result(runs), {"100 tx/s": [0.25, 0.3]}, tmp_path)
    charts = [path for path in paths if path.suffix == ".png"]
    assert [path.name for path in charts] == ["throughput.png", "latency.png"]
    assert all(path.read_bytes().startswith(b"\x89PNG") for path in charts)
    assert "![throughput](throughput.png)" in (tmp_path / "bench.md").read_text()


def test_without_matplotlib_no_png_is_written(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from zonechain.benchmarks.bench import report

    monkeypatch.setattr(report, "charts_available", lambda: False)
    paths = write_report(result([run_entry("1 tx/s", 1.0, True, 3)]), {"1 tx/s": [0.1]},
                         tmp_path)
    assert [path.suffix for path in paths] == [".json", ".md"]
    assert not list(tmp_path.glob("*.png"))
