"""The benchmark's report: a manifest, then JSON, Markdown and (optionally) PNG charts.

``write_report(result, out)`` writes ``out/bench.json`` (the whole result:
every field ``REQUIRED_FIELDS`` names, at least), ``out/bench.md`` (the
same for people) and, when matplotlib (the optional extra ``bench``) is
installed, ``out/throughput.png`` (commits per second over time, one line
per run) and ``out/latency.png`` (histogram of send-to-commit latency). It
returns the paths written. The manifest (``manifest``) pins what the figures
depend on: config, seed, git commit, cores, memory, Python and wasmtime
versions, so a figure can be traced to the run that made it.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import importlib.util
import json
import os
import platform
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

SCHEMA: Final = "zonechain-bench/1"
REQUIRED_FIELDS: Final = ("schema", "manifest", "runs", "state_agreement", "physical_limits",
                          "fractions_of_limits", "peer_comparison", "saturation", "charts")
MANIFEST_FIELDS: Final = ("config", "seed", "git_commit", "cpu_cores", "memory_gib",
                          "python", "wasmtime", "date_utc", "platform")
JSON_NAME: Final = "bench.json"
MARKDOWN_NAME: Final = "bench.md"
LATENCY_BINS: Final = 40
GIT_TIMEOUT_S: Final = 5.0


def _package_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def git_commit(repository: Path) -> str | None:
    try:
        answer = subprocess.run(["git", "-C", str(repository), "rev-parse", "HEAD"],
                                capture_output=True, text=True, timeout=GIT_TIMEOUT_S,
                                check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return answer.stdout.strip() or None


def memory_gib(meminfo: Path = Path("/proc/meminfo")) -> float | None:
    try:
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def manifest(config: Mapping[str, object], seed: int) -> dict[str, object]:
    repository = Path(__file__).resolve().parents[2]
    return {
        "config": dict(config),
        "seed": seed,
        "git_commit": git_commit(repository),
        "git_dirty_note": "figures are from the working tree; the commit may not hold it",
        "cpu_cores": os.cpu_count(),
        "memory_gib": memory_gib(),
        "python": platform.python_version(),
        "wasmtime": _package_version("wasmtime"),
        "py_evm": _package_version("py-evm"),
        "matplotlib": _package_version("matplotlib"),
        "date_utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "platform": platform.platform(),
    }


# ---- Markdown -----------------------------------------------------------------------------


def _ms(summary: Mapping[str, Any] | None, key: str) -> str:
    return "-" if summary is None else f"{1000 * summary[key]:,.1f}"


def _runs_table(runs: Sequence[Mapping[str, Any]]) -> list[str]:
    lines = ["| run | offered tx/s | sent tx/s | kept up | committed | committed TPS | "
             "p50 ms | p95 ms | p99 ms | max ms | block interval ms (mean) | txs/block | "
             "gas/s |",
             "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for run in runs:
        summary, load = run["summary"], run["summary"]["load"]
        latency, interval = summary["latency_s"], summary["block_interval_s"]
        offered = "max (closed loop)" if load["target_rate"] is None else \
            f"{load['target_rate']:,.0f}"
        block_txs = summary["block_txs"]
        lines.append(
            f"| {run['label']} | {offered} | {load['achieved_rate']:,.0f} | "
            f"{'yes' if load['kept_up'] else '**no**'} | {summary['committed_txs']:,} | "
            f"{summary['committed_tps']:,.0f} | {_ms(latency, 'p50')} | {_ms(latency, 'p95')} | "
            f"{_ms(latency, 'p99')} | {_ms(latency, 'max')} | {_ms(interval, 'mean')} | "
            f"{'-' if block_txs is None else format(block_txs['mean'], ',.0f')} | "
            f"{summary['gas_per_s']:,.0f} |")
    return lines


def _problems(runs: Sequence[Mapping[str, Any]]) -> list[str]:
    lines = []
    for run in runs:
        summary, load = run["summary"], run["summary"]["load"]
        if summary["rejected"] or summary["failed"] or summary["timed_out"]:
            lines.append(f"- {run['label']}: rejected {summary['rejected'] or 'none'}, "
                         f"failed {summary['failed'] or 'none'}, timed out "
                         f"{summary['timed_out']}")
        if not load["kept_up"]:
            lateness = load["lateness_s"]
            late = "" if lateness is None else f", p99 lateness {1000 * lateness['p99']:,.0f} ms"
            lines.append(f"- {run['label']}: the generator could NOT keep up: sent "
                         f"{load['achieved_rate']:,.0f} tx/s of {load['target_rate']:,.0f} "
                         f"({load['starved']} sends found no ready tx{late})")
    return lines or ["- none"]


def _resources(runs: Sequence[Mapping[str, Any]]) -> list[str]:
    lines = ["| run | process | CPU s | CPU % of a core | RSS MiB | peak RSS MiB |",
             "|---|---|---:|---:|---:|---:|"]
    for run in runs:
        for pid, figures in run["resources"].items():
            lines.append(f"| {run['label']} | {pid} | {figures['cpu_s']:.1f} | "
                         f"{figures['cpu_percent_of_core']:.0f} | {figures['rss_mib']:.0f} | "
                         f"{figures['peak_rss_mib']:.0f} |")
    return lines


def _mapping_lines(values: Mapping[str, Any], fmt: str = ",.2f") -> list[str]:
    return [f"- {name}: {format(value, fmt) if isinstance(value, float) else value}"
            for name, value in values.items()]


def render_markdown(result: Mapping[str, Any]) -> str:
    man = result["manifest"]
    lines = [f"# zonechain bench: {man['config'].get('workload')} on "
             f"{man['config'].get('target')}", "",
             f"Date {man['date_utc']}, commit {man['git_commit']}, {man['cpu_cores']} cores, "
             f"{man['memory_gib'] or 0:.1f} GiB, Python {man['python']}, wasmtime "
             f"{man['wasmtime']}, seed {man['seed']}.", "",
             f"Config: `{json.dumps(man['config'], sort_keys=True)}`", "", "## Runs", ""]
    lines += _runs_table(result["runs"])
    lines += ["", "Latency: from the send (a network target: when the tx was queued for "
              "its node, within a 10 ms tick of its scheduled time; the ledger target: its "
              "admission) to the commit of the block holding the tx (final: BFT has no "
              "forks).", ""]
    saturation = result["saturation"]
    if saturation is not None:
        lines += ["## Saturation", "", saturation["note"], ""]
    lines += ["## Rejected, failed, generator", "", *_problems(result["runs"])]
    lines += ["", "## CPU and memory", "", *_resources(result["runs"])]
    agreement = result["state_agreement"]
    lines += ["", "## State root", "",
              f"{'AGREED' if agreement['agreed'] else '**DISAGREED**'}: {agreement['note']}",
              ""] + [f"- {name}: `{root}`" for name, root in agreement["roots"].items()]
    lines += ["", "## Physical limits measured on the spot (one core)", ""]
    lines += _mapping_lines(result["physical_limits"], ",.0f")
    lines += ["", "End-to-end committed TPS as a fraction of what each limit alone allows:", ""]
    lines += _mapping_lines(result["fractions_of_limits"], ".3f")
    lines += ["", "## Same token transfer: py-evm vs our VM", ""]
    peer = result["peer_comparison"]
    if peer is None:
        lines.append("- not run")
    else:
        ours, evm = peer["ours"], peer["py_evm"]
        lines.append(f"- ours (zone token, Zig/Wasm): {ours['transfers_per_s']:,.0f} transfers/s "
                     f"executing, {ours['with_verify_per_s']:,.0f}/s with the ed25519 verify, "
                     f"{ours['gas_per_transfer']:,.0f} gas each")
        if evm is not None:
            lines.append(f"- py-evm (hand-assembled ERC-20, {evm['code_bytes']:.0f} bytes): "
                         f"{evm['transfers_per_s']:,.0f} transfers/s, sender recovery alone "
                         f"{evm['sender_recoveries_per_s']:,.0f}/s, "
                         f"{evm['gas_per_transfer']:,.0f} gas each")
        lines.append(f"- {peer['note']}")
        if "ratio_ours_with_verify_to_py_evm" in peer:
            lines.append(f"- ours (with verify) / py-evm: "
                         f"{peer['ratio_ours_with_verify_to_py_evm']:.1f}x")
    charts = result["charts"]
    lines += ["", "## Charts", ""]
    lines += [f"![{Path(chart).stem}]({Path(chart).name})" for chart in charts] or [
        "- none (matplotlib not installed: `pip install 'zonechain[bench]'`)"]
    return "\n".join(lines) + "\n"


# ---- charts -----------------------------------------------------------------------------


def charts_available() -> bool:
    return importlib.util.find_spec("matplotlib") is not None


def write_charts(runs: Sequence[Mapping[str, Any]], latencies: Mapping[str, Sequence[float]],
                 out: Path) -> list[str]:
    """throughput.png and latency.png; [] without matplotlib."""
    if not charts_available():
        return []
    # Imported as Any: matplotlib is optional, and its types are not needed here.
    matplotlib: Any = importlib.import_module("matplotlib")
    matplotlib.use("Agg")
    pyplot: Any = importlib.import_module("matplotlib.pyplot")

    figure, axes = pyplot.subplots(figsize=(8, 4))
    for run in runs:
        points = run["summary"]["timeline"]
        axes.plot([point["second"] for point in points],
                  [point["committed"] for point in points], marker=".", label=run["label"])
    axes.set_xlabel("seconds since the first send (quarter-second buckets)")
    axes.set_ylabel("committed tx per second")
    axes.legend()
    throughput = out / "throughput.png"
    figure.savefig(throughput, dpi=100, bbox_inches="tight")
    pyplot.close(figure)
    figure, axes = pyplot.subplots(figsize=(8, 4))
    for label, samples in latencies.items():
        axes.hist([1000 * sample for sample in samples], bins=LATENCY_BINS, alpha=0.6,
                  label=label)
    axes.set_xlabel("send-to-commit latency (ms)")
    axes.set_ylabel("transactions")
    axes.legend()
    latency = out / "latency.png"
    figure.savefig(latency, dpi=100, bbox_inches="tight")
    pyplot.close(figure)
    return [str(throughput), str(latency)]


def write_report(result: dict[str, Any], latencies: Mapping[str, Sequence[float]],
                 out: Path, *, charts: bool = True) -> list[Path]:
    """Write JSON, Markdown and charts into ``out``; the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    result["charts"] = write_charts(result["runs"], latencies, out) if charts else []
    missing = [name for name in REQUIRED_FIELDS if name not in result]
    if missing:
        raise ValueError(f"the result lacks {missing}")
    json_path, markdown_path = out / JSON_NAME, out / MARKDOWN_NAME
    json_path.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    markdown_path.write_text(render_markdown(result))
    return [json_path, markdown_path, *(Path(chart) for chart in result["charts"])]
