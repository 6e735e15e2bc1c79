"""The host interface table itself: names, signatures and the method-name rule."""

from __future__ import annotations

import pytest

from zonechain.vm import abi


def test_every_host_function_is_unique_and_typed() -> None:
    names = [function.name for function in abi.HOST_FUNCTIONS_V1]
    assert len(names) == len(set(names))
    assert set(abi.HOST_FUNCTIONS_BY_NAME) == set(names)
    for function in abi.HOST_FUNCTIONS_V1:
        assert all(value in ("i32", "i64") for value in function.params + function.results)


@pytest.mark.parametrize("name", ["transfer", "balance_of", "a", "x" * 64])
def test_method_names_accepted(name: str) -> None:
    assert abi.METHOD_NAME_PATTERN.match(name)


@pytest.mark.parametrize(
    "name", ["", "Transfer", "_private", "1abc", "transfer\n", "with space", "x" * 65, "naïve"]
)
def test_method_names_refused_even_with_plain_match(name: str) -> None:
    # `match` (not only `fullmatch`) must refuse: a `$` anchor would accept "transfer\n".
    assert abi.METHOD_NAME_PATTERN.match(name) is None
