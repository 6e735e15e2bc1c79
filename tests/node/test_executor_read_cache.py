"""The executor's per-block read cache: same answers as the state, bounded in size."""

from __future__ import annotations

import pytest

from zonechain.node import executor
from zonechain.node.executor import _CommittedReads
from zonechain.vm.state import DictState


class CountingState(DictState):
    def __init__(self, items: dict[bytes, bytes]) -> None:
        super().__init__(items)
        self.gets: list[bytes] = []

    def get(self, key: bytes) -> bytes | None:
        self.gets.append(key)
        return super().get(key)


def test_each_key_is_fetched_once_and_answers_match_the_state() -> None:
    state = CountingState({b"a1": b"one", b"a2": b"two", b"b1": b""})
    reads = _CommittedReads(state)
    for _ in range(3):
        assert reads.get(b"a1") == b"one"
        assert reads.get(b"b1") == b""
        assert reads.get(b"missing") is None
    assert state.gets == [b"a1", b"b1", b"missing"]
    assert reads.next_key(b"a", None) == b"a1"
    assert reads.next_key(b"a", b"a1") == b"a2"
    assert reads.next_key(b"a", b"a2") is None


def test_past_the_bound_reads_go_to_the_state_and_stay_right(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    big = {bytes([65, i]): bytes([i]) * 1000 for i in range(10)}
    state = CountingState(big)
    monkeypatch.setattr(executor, "READ_CACHE_BYTES_MAX", 3 * 1200)
    reads = _CommittedReads(state)
    for _ in range(2):
        for key, value in big.items():
            assert reads.get(key) == value
    # three entries fit under the bound; the other seven are fetched every time
    assert len(state.gets) == 10 + 7
    assert state.gets[10:] == list(big)[3:]
