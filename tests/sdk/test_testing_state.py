"""The harness's sorted state against the readable reference (vm.state.DictState)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from zonechain.sdk.testing.backend import SortedState
from zonechain.vm.state import DictState

KEYS = st.binary(min_size=0, max_size=3)
WRITES = st.dictionaries(KEYS, st.none() | st.binary(max_size=2), max_size=12)


@settings(max_examples=150)
@given(batches=st.lists(WRITES, max_size=6), probes=st.lists(st.tuples(KEYS, st.none() | KEYS),
                                                             max_size=12))
def test_sorted_state_agrees_with_the_reference(
    batches: list[dict[bytes, bytes | None]], probes: list[tuple[bytes, bytes | None]],
) -> None:
    fast, reference = SortedState(), DictState()
    for writes in batches:
        fast.apply(writes)
        reference.apply(writes)
        for prefix, after in probes:
            assert fast.next_key(prefix, after) == reference.next_key(prefix, after)
    assert fast.items() == dict(sorted(reference.items.items()))
    for prefix, _ in probes:
        assert fast.items(prefix) == {k: v for k, v in sorted(reference.items.items())
                                      if k.startswith(prefix)}
    copy = fast.copy()
    fast.apply(dict.fromkeys(reference.items))
    assert copy.items() == dict(sorted(reference.items.items())) and fast.items() == {}
