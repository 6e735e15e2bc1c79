"""The hand-written EVM assembler and the py-evm / our-VM comparison (bench/evm_peer.py)."""

from __future__ import annotations

import pytest

from zonechain.benchmarks.bench.evm_peer import (
    ERC20_TRANSFER,
    AssemblyError,
    assemble,
    available,
    compare,
    evm_transfers,
    transfer_calldata,
)


def test_labels_become_jumpdests_and_push2_targets() -> None:
    code = assemble((("JUMP_TO", "end"), "JUMPI", ("PUSH", 0xAB, 1), ("LABEL", "end"), "STOP"))
    # PUSH2 0x0006, JUMPI, PUSH1 0xab, JUMPDEST (at offset 6), STOP
    assert code == bytes([0x61, 0x00, 0x06, 0x57, 0x60, 0xAB, 0x5B, 0x00])


def test_erc20_code_shape() -> None:
    code = assemble(ERC20_TRANSFER)
    assert code.startswith(bytes([0x60, 0x00, 0x35, 0x60, 0xE0, 0x1C, 0x63, 0xA9, 0x05, 0x9C,
                                  0xBB]))
    assert code.count(bytes([0x5B])) >= 2  # the two labels
    assert len(transfer_calldata(b"\x01" * 20, 5)) == 4 + 32 + 32


@pytest.mark.parametrize("items", [("NOPE",), (("JUMP_TO", "nowhere"),), (("PUSH", 1),)])
def test_bad_assembly_is_refused(items: tuple[object, ...]) -> None:
    with pytest.raises(AssemblyError):
        assemble(items)  # type: ignore[arg-type]


@pytest.mark.skipif(not available(), reason="py-evm (extra `bench`) not installed")
def test_py_evm_runs_the_transfers() -> None:
    figures = evm_transfers(3)
    assert figures["transfers_per_s"] > 0
    # 21,000 intrinsic + calldata + two warm/cold storage writes + a LOG3
    assert 25_000 < figures["gas_per_transfer"] < 60_000


def test_comparison_has_our_side_always() -> None:
    result = compare(3)
    ours = result["ours"]
    assert isinstance(ours, dict) and ours["gas_per_transfer"] > 0
    assert (result["py_evm"] is None) == (not available())


def test_without_py_evm_the_comparison_is_skipped_with_a_note(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from zonechain.benchmarks.bench import evm_peer

    monkeypatch.setattr(evm_peer, "available", lambda: False)
    result = evm_peer.compare(2)
    assert result["py_evm"] is None
    assert "py-evm not installed" in str(result["note"])
