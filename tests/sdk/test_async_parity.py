"""``AsyncClient`` has ``Client``'s public methods, parameters and defaults, as coroutines.

The SDK promises the two clients "with the same methods" (sdk/aio.py). This
test fails as soon as one gains a public method, a parameter or a default the
other lacks, except for the exceptions listed here, each with its reason.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import pytest

from zonechain.sdk import AsyncClient, Client

SYNC_IN_BOTH = frozenset({"nonce_manager", "contract"})
"""Plain methods on both clients: they do no I/O (a nonce manager; a contract proxy,
whose own methods are coroutines on the async side)."""

PROPERTY_VERSUS_COROUTINE = frozenset({"chain_id"})
"""``Client.chain_id`` is a property; ``AsyncClient.chain_id()`` a coroutine, because
the first call may ask a node and a property cannot be awaited (sdk/aio.py docstring)."""

ONLY_ASYNC = frozenset({"__aenter__", "__aexit__"})
ONLY_SYNC = frozenset({"__enter__", "__exit__"})
"""The context-manager protocols differ by nature (``async with`` / ``with``)."""

PARAMETERS_DIFFER = frozenset({"__init__"})
"""The constructors differ in one place: ``sleep`` is a coroutine function for the
async client (checked on its own below)."""


def public_names(cls: type) -> set[str]:
    return {name for name in dir(cls) if not name.startswith("_")}


def signature_shape(function: Callable[..., Any]) -> list[tuple[str, Any, Any]]:
    return [(p.name, p.kind, p.default) for p in inspect.signature(function).parameters.values()]


def test_the_public_names_agree() -> None:
    assert public_names(Client) == public_names(AsyncClient), (
        "Client and AsyncClient drifted: only in Client "
        f"{sorted(public_names(Client) - public_names(AsyncClient))}, only in AsyncClient "
        f"{sorted(public_names(AsyncClient) - public_names(Client))}")


def test_the_context_managers_are_each_their_own() -> None:
    for name in ONLY_SYNC:
        assert hasattr(Client, name) and not hasattr(AsyncClient, name)
    for name in ONLY_ASYNC:
        assert hasattr(AsyncClient, name) and not hasattr(Client, name)


@pytest.mark.parametrize("name", sorted(public_names(Client) | PARAMETERS_DIFFER))
def test_each_method_has_the_same_parameters_and_defaults(name: str) -> None:
    if name in PROPERTY_VERSUS_COROUTINE:
        prop = inspect.getattr_static(Client, name)
        assert isinstance(prop, property)
        assert inspect.iscoroutinefunction(getattr(AsyncClient, name))
        assert signature_shape(getattr(AsyncClient, name)) == [
            ("self", inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.empty)]
        return
    sync, asynchronous = getattr(Client, name), getattr(AsyncClient, name)
    if name in PARAMETERS_DIFFER:
        differing = {"sleep"}
        assert [s for s in signature_shape(sync) if s[0] not in differing] == [
            s for s in signature_shape(asynchronous) if s[0] not in differing]
        return
    assert signature_shape(sync) == signature_shape(asynchronous), name


@pytest.mark.parametrize("name", sorted(public_names(Client) - PROPERTY_VERSUS_COROUTINE))
def test_io_methods_are_coroutines_and_streams_async_iterators(name: str) -> None:
    sync, asynchronous = getattr(Client, name), getattr(AsyncClient, name)
    if name in SYNC_IN_BOTH:
        assert not inspect.iscoroutinefunction(asynchronous)
        assert not inspect.isasyncgenfunction(asynchronous)
    elif inspect.isgeneratorfunction(sync):
        assert inspect.isasyncgenfunction(asynchronous), f"{name} should be an async iterator"
    else:
        assert inspect.iscoroutinefunction(asynchronous), f"{name} should be a coroutine"


def test_the_exception_lists_name_real_methods() -> None:
    """A stale exception would hide drift: every listed name exists on the client."""
    for name in SYNC_IN_BOTH | PROPERTY_VERSUS_COROUTINE:
        assert name in public_names(Client) and name in public_names(AsyncClient)
