"""`zonechain demo`: the pilot on a 4-validator devnet (slow), and its parts that need no network.

The full run asserts what a person reading the output must see: each
scenario's final state, the refusal naming the zone rule, the verified read,
and that no node process outlives the command.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from rich.console import Console

from zonechain.contracts.toolchain import BuildError
from zonechain.node import demo
from zonechain.node.cli import main
from zonechain.node.config import GenesisValidator, HostPort
from zonechain.node.demo_scenario import (
    APPROVERS,
    EXTRA_MEMBERS,
    ONBOARDED,
    PROPOSER,
    TRADE_FINANCE,
    FinalState,
    StepRecord,
    amount_text,
    party_names,
    pilot_section,
)
from zonechain.node.permissions.actions import AddMember
from zonechain.node.permissions.authorize import authorize
from zonechain.node.permissions.errors import PermissionDenied
from zonechain.node.permissions.genesis import genesis_state_writes
from zonechain.node.permissions.governance import (
    TOPIC_EXECUTED,
    Approve,
    Body,
    Propose,
    apply,
    encode_body,
)
from zonechain.node.permissions.policy import ROLE_BY_NAME
from zonechain.sdk import Key
from zonechain.vm.state import DictState

RECORDS = [
    StepRecord("setup", "deploy EURD (token)", "central-bank-ops", "cross-border-finance", 2,
               2_776_272, "success", "zc..."),
    StepRecord("letter of credit", "LC.issue_credit", "bank-a-ops", TRADE_FINANCE, 11, 57_107,
               "success", "credit_issued"),
    StepRecord("letter of credit", "LC.examine", "bank-a-ops", TRADE_FINANCE, 13, 46_248,
               "success", "documents_examined, credit_paid"),
    StepRecord("permissions", "deploy letter_of_credit", "exporter", TRADE_FINANCE, None, None,
               "refused", "mempool: not_permitted"),
]
FINALS = [FinalState("setup", "deployed", "deployed EURD"),
          FinalState("letter of credit", "paid", "letter of credit #1: paid"),
          FinalState("permissions", "refused", "refused: not_permitted: ...")]


def rendered(renderable: object) -> str:
    console = Console(width=120, record=True, file=open(os.devnull, "w"))  # noqa: SIM115
    console.print(renderable)
    text = console.export_text()
    console.file.close()
    return text


def test_summary_table_totals_each_scenario() -> None:
    text = rendered(demo.summary_table(RECORDS, FINALS))
    rows = {line.split("│")[1].strip(): [cell.strip() for cell in line.split("│")[2:-1]]
            for line in text.splitlines() if line.startswith("│")}
    assert rows["setup"] == ["1", "2,776,272", "2-2", "deployed"]
    assert rows["letter of credit"] == ["2", "103,355", "11-13", "paid"]
    assert rows["permissions"] == ["1", "0", "-", "refused"]


def test_step_line_shows_height_gas_and_status() -> None:
    committed = rendered(demo.step_line(RECORDS[1]))
    assert "h   11" in committed and "57,107" in committed and "success" in committed
    assert "LC.issue_credit by bank-a-ops in trade-finance" in committed
    refused = rendered(demo.step_line(RECORDS[3]))
    assert "h    -" in refused and "refused" in refused and "[" not in refused


@pytest.mark.parametrize(("units", "decimals", "text"), [
    (0, 2, "0.00"), (5, 2, "0.05"), (500_000, 2, "5,000.00"), (1_085_000, 2, "10,850.00"),
    (1_000, 0, "1,000"),
])
def test_amount_text(units: int, decimals: int, text: str) -> None:
    assert amount_text(units, decimals) == text


def test_one_line_keeps_first_and_last_line() -> None:
    assert demo.one_line("node0 exited with code 1:\n  Traceback\n  ImportError: x\n") == \
        "node0 exited with code 1: ... ImportError: x"
    assert demo.one_line("single") == "single"
    assert demo.one_line("  \n") == ""


def test_pilot_genesis_admits_the_scenario_refuses_the_exporter_and_onboards_by_vote(
) -> None:
    keys = {name: Key.generate() for name in party_names()}
    assert {name for name, _, _ in EXTRA_MEMBERS} <= set(keys)
    validators = [GenesisValidator(f"node{index}", Key.generate().public_key, 1,
                                   HostPort("127.0.0.1", 26600 + index)) for index in range(4)]
    zones, organisations = pilot_section([validator.name for validator in validators])
    writes = genesis_state_writes(
        {"organisations": list(organisations), "zones": list(zones)},
        accounts={name: key.public_key for name, key in keys.items()}, validators=validators)
    state = DictState(writes)
    for deployer, zone in (("central-bank-ops", "cross-border-finance"),
                           ("bank-b-ops", "equity-market"), ("bank-a-ops", TRADE_FINANCE)):
        authorize(state, "deploy", zone, keys[deployer].address)
    for caller, zone in (("importer", TRADE_FINANCE), ("fund", "equity-market"),
                         ("investor", "cross-border-finance")):
        authorize(state, "call", zone, keys[caller].address)
    with pytest.raises(PermissionDenied) as refused:
        authorize(state, "deploy", TRADE_FINANCE, keys["exporter"].address)
    assert refused.value.code == "not_permitted"
    assert "requires ANY deployer of bank-a,bank-b,central-bank" in refused.value.message

    # Governance: the compliance officer is no member until the proposal executes.
    officer, organisation, roles = ONBOARDED
    with pytest.raises(PermissionDenied):
        authorize(state, "call", "cross-border-finance", keys[officer].address)
    member = AddMember(keys[officer].address, organisation,
                       frozenset(ROLE_BY_NAME[role] for role in roles))
    height = 10
    bodies: list[tuple[str, Body]] = [(PROPOSER, Propose(member, height + 100))]
    bodies += [(approver, Approve(1)) for approver in APPROVERS]
    signers = 0
    for signer, body in bodies:
        outcome = apply(state, keys[signer].address, encode_body(body), height)
        assert outcome.ok, outcome.error
        for key, value in outcome.writes.items():
            if value is None:
                state.items.pop(key, None)
            else:
                state.items[key] = value
        signers += 1
        if any(event.topic == TOPIC_EXECUTED for event in outcome.events):
            break
    assert signers == 6  # a majority of the 10 organisations' admins
    authorize(state, "call", "cross-border-finance", keys[officer].address)


def test_a_failed_build_exits_1_with_one_line(monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    def broken() -> dict[str, object]:
        raise BuildError("token: zig: compiler not found\nsecond line")

    monkeypatch.setattr(demo, "build_all", broken)
    assert main(["demo"]) == 1
    captured = capsys.readouterr()
    assert captured.err.strip() == \
        "zonechain demo: BuildError: token: zig: compiler not found ... second line"
    assert "Traceback" not in captured.out + captured.err


def node_processes(directory: Path) -> list[int]:
    """Processes whose command line names ``directory`` (the devnet's node homes)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if str(directory).encode() in command and b"zonechain" in command:
            found.append(int(entry.name))
    return found


@pytest.mark.slow
def test_demo_plays_the_pilot_on_a_devnet(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    directory = tmp_path / "devnet"
    assert main(["demo", "--dir", str(directory)]) == 0
    out = capsys.readouterr().out
    assert "=> letter of credit #1: paid; exporter received 5,000.00 EURD, escrow 0.00 EURD" \
        in out
    assert ("=> trade 77777777: settled delivery-versus-payment; investor holds 100 ACME, "
            "fund received 2,500.00 EURD") in out
    assert ("=> proposal #1 executed with 6 of 10 organisation admins (MAJORITY admin): "
            "compliance-officer joined regulator as regulator, client") in out
    assert ("=> payment #1: compliance cleared, settled; 10,000.00 EURD -> 10,850.00 USDD "
            "at 1.085") in out
    assert ("=> refused: not_permitted: deploy to zone trade-finance requires ANY deployer of "
            "bank-a,bank-b,central-bank: sender (organisation bank-b) has role client") in out
    assert "Verified read: exporter's USDD balance 10,850.00" in out
    assert "Merkle proof verified against a root signed by" in out
    signed = out.split("signed by ")[1].split(" validators")[0]
    signers, total = (int(part) for part in signed.split("/"))
    assert total == 4 and 3 <= signers <= 4
    assert "node0 exit 0, node1 exit 0, node2 exit 0, node3 exit 0" in out
    assert node_processes(directory) == []
