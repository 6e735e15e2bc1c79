"""Gas per method of the zone contracts, as measured by their scenario tests.

Run from the repository root:
``.venv/bin/python -m zonechain.benchmarks.contract_gas``. It runs
tests/contracts/test_{letter_of_credit,equity_settlement,cross_border_payment}.py
in this process (except the Hypothesis tests, named ``test_property_*``, whose
random examples would make the counts vary); their chain
(tests/contracts/zone_support.py) records the gas of every transaction, and
this prints one Markdown table per contract:
successful calls per method with the smallest, median and largest gas, and
how many calls failed. Figures go to benchmarks/RESULTS.md ("## Zone contract
gas").

Gas is deterministic (vm/gas.py: Wasm fuel plus the host-call schedule), so
unlike timings these figures repeat exactly run to run for the same code. A
method's gas includes the token calls it makes (transfer_from, transfer,
balance_of): the callee's gas is charged to the caller.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections import defaultdict
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parent.parent
SCENARIO_TESTS = ("test_letter_of_credit.py", "test_equity_settlement.py",
                  "test_cross_border_payment.py")
ZONE_CONTRACTS = ("letter_of_credit", "equity_settlement", "cross_border_payment")
GAS_LOG_MODULE = "tests.contracts.zone_support"
DESELECT = "not test_property_"

GasLog = list[tuple[str, str, int, bool]]


def run_scenarios() -> GasLog:
    """Run the scenario tests here and return the gas log they filled."""
    paths = [str(REPOSITORY / "tests" / "contracts" / name) for name in SCENARIO_TESTS]
    code = pytest.main(["-q", "-p", "no:cacheprovider", "--rootdir", str(REPOSITORY),
                        "-k", DESELECT, *paths])
    if code != 0:
        raise SystemExit(f"the scenario tests failed (pytest exit code {code})")
    module = sys.modules.get(GAS_LOG_MODULE)
    if module is None:
        raise SystemExit(f"{GAS_LOG_MODULE} was not imported by the tests")
    log: GasLog = module.GAS_LOG
    return log


def tables(log: GasLog) -> str:
    """One Markdown table per zone contract, methods in alphabetical order."""
    succeeded: dict[tuple[str, str], list[int]] = defaultdict(list)
    failed: dict[tuple[str, str], int] = defaultdict(int)
    for contract, method, gas, ok in log:
        if ok:
            succeeded[(contract, method)].append(gas)
        else:
            failed[(contract, method)] += 1
    lines: list[str] = []
    for contract in ZONE_CONTRACTS:
        methods = sorted({method for name, method in (*succeeded, *failed) if name == contract})
        lines += [f"### {contract}", "",
                  "| method | ok calls | min gas | median gas | max gas | failed calls |",
                  "|---|---:|---:|---:|---:|---:|"]
        for method in methods:
            used = sorted(succeeded.get((contract, method), []))
            figures = (f"{used[0]:,} | {statistics.median_low(used):,} | {used[-1]:,}"
                       if used else "- | - | -")
            lines.append(f"| `{method}` | {len(used)} | {figures} | "
                         f"{failed.get((contract, method), 0)} |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.parse_args(argv)
    log = run_scenarios()
    print()
    print(tables(log))
    return 0


if __name__ == "__main__":
    sys.exit(main())
