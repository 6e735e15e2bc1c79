"""docs/SDK-reference.md is the SDK's docstrings, rendered: it must not drift."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from zonechain import sdk
from zonechain.sdk.reference import render

REFERENCE = Path(__file__).resolve().parents[2] / "docs" / "SDK-reference.md"


def test_committed_reference_matches_the_docstrings() -> None:
    assert REFERENCE.read_text(encoding="utf-8") == render(), (
        "docs/SDK-reference.md is stale: run "
        "`python -m zonechain.sdk.reference > docs/SDK-reference.md`"
    )


@pytest.mark.parametrize("name", sorted(sdk.__all__))
def test_every_public_symbol_is_documented(name: str) -> None:
    value = getattr(sdk, name)
    if inspect.isclass(value) or inspect.isfunction(value) or inspect.ismodule(value):
        assert (value.__doc__ or "").strip(), f"zonechain.sdk.{name} has no docstring"


@pytest.mark.parametrize("cls", [sdk.Client, sdk.Contract])
def test_every_public_method_of_the_sync_api_is_documented(cls: type) -> None:
    undocumented = [
        name for name, value in vars(cls).items()
        if not name.startswith("_") and inspect.isfunction(value)
        and not (value.__doc__ or "").strip()
    ]
    assert undocumented == []
