"""Transaction building and the thread-safe NonceManager."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zonechain.node.crypto import verify_transaction
from zonechain.node.types.address import contract_address, format_address
from zonechain.node.types.transaction import CallPayload, DeployPayload
from zonechain.sdk.errors import InvalidTransaction
from zonechain.sdk.keys import Key
from zonechain.sdk.transactions import (
    NonceManager,
    build_call,
    build_deploy,
    deployed_address,
    read_code,
    to_address,
)

KEY = Key.from_seed(b"\x07" * 32)
CONTRACT = b"\x11" * 20


def test_build_and_sign_call() -> None:
    tx = build_call(chain_id="c1", sender=KEY, nonce=3, contract=format_address(CONTRACT),
                    method="transfer", args=b"\x01", zone="payments", gas_limit=5000)
    assert tx.payload == CallPayload(CONTRACT, "transfer", b"\x01")
    assert (tx.nonce, tx.gas_limit, tx.zone, tx.sender_address) == (3, 5000, "payments",
                                                                    KEY.address)
    signed = KEY.sign(tx)
    verify_transaction(signed, cache=None)


def test_build_deploy_and_its_address() -> None:
    tx = build_deploy(chain_id="c1", sender=KEY, nonce=9, code=b"\0asm", zone="z")
    assert isinstance(tx.payload, DeployPayload)
    assert deployed_address(tx) == contract_address(KEY.address, 9)


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"chain_id": "bad chain!"}, "chain_id"),
        ({"nonce": -1}, "nonce"),
        ({"method": "Transfer"}, "method"),
        ({"gas_limit": 1 << 64}, "gas_limit"),
        ({"contract": b"\x01" * 19}, "contract"),
        ({"contract": "zc" + "0" * 48}, "checksum"),
    ],
)
def test_bad_fields_are_invalid_transaction(changes: dict[str, object], fragment: str) -> None:
    fields: dict[str, object] = {"chain_id": "c1", "sender": KEY, "nonce": 0,
                                 "contract": CONTRACT, "method": "transfer", "zone": "z"}
    fields.update(changes)
    with pytest.raises(InvalidTransaction, match=fragment):
        build_call(**fields)  # type: ignore[arg-type]


def test_to_address() -> None:
    assert to_address(CONTRACT) == CONTRACT
    assert to_address(format_address(CONTRACT)) == CONTRACT
    with pytest.raises(InvalidTransaction):
        to_address(12)  # type: ignore[arg-type]


def test_read_code(tmp_path: Path) -> None:
    (tmp_path / "a.wasm").write_bytes(b"\0asm1")
    assert read_code(tmp_path) == b"\0asm1"
    assert read_code(tmp_path / "a.wasm") == b"\0asm1"
    (tmp_path / "b.wasm").write_bytes(b"\0asm2")
    with pytest.raises(InvalidTransaction, match="exactly one"):
        read_code(tmp_path)
    with pytest.raises(InvalidTransaction, match="cannot read"):
        read_code(tmp_path / "missing.wasm")


def test_nonce_manager_fetches_once_then_counts() -> None:
    fetches: list[int] = []

    def fetch() -> int:
        fetches.append(1)
        return 5

    manager = NonceManager(fetch)
    assert [manager.allocate() for _ in range(3)] == [5, 6, 7]
    assert len(fetches) == 1


def test_nonce_manager_under_many_threads() -> None:
    manager = NonceManager(lambda: 100)
    start = threading.Barrier(8)
    taken: list[list[int]] = [[] for _ in range(8)]

    def worker(slot: int) -> None:
        start.wait()
        for _ in range(250):
            taken[slot].append(manager.allocate())

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    everything = sorted(n for slot in taken for n in slot)
    assert everything == list(range(100, 100 + 2000))
    for slot in taken:
        assert slot == sorted(slot)  # each thread sees increasing nonces


def test_release_fills_gaps_first_and_resync_refetches() -> None:
    account = [0]
    manager = NonceManager(lambda: account[0])
    assert [manager.allocate() for _ in range(4)] == [0, 1, 2, 3]
    manager.release(1)
    manager.release(3)  # the newest: simply rolled back
    assert manager.allocate() == 1
    assert manager.allocate() == 3
    assert manager.allocate() == 4
    account[0] = 42
    manager.resync()
    assert manager.pending is None
    assert manager.allocate() == 42


@settings(max_examples=50)
@given(st.lists(st.sampled_from(["allocate", "release"]), max_size=40))
def test_never_hands_out_a_nonce_twice_while_held(operations: list[str]) -> None:
    manager = NonceManager(lambda: 0)
    held: set[int] = set()
    for operation in operations:
        if operation == "allocate":
            nonce = manager.allocate()
            assert nonce not in held
            held.add(nonce)
        elif held:
            victim = min(held)
            held.remove(victim)
            manager.release(victim)


def test_async_style_priming() -> None:
    manager = NonceManager()
    assert manager.try_allocate() is None
    with pytest.raises(RuntimeError):
        manager.allocate()
    manager.prime(7)
    manager.prime(99)  # a second primer loses
    assert manager.try_allocate() == 7
