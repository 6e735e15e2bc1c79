"""Assertions for contract tests: expected failures and expected events.

``expect_error(code=..., message=...)`` is a context manager. The block passes
when a contract call inside it fails with that ``code`` (exact) and a message
containing ``message`` (a ``str``: substring; a compiled ``re.Pattern``:
``search``). It catches the ``ContractFailed`` a typed call raises; made from a
chain (``chain.expect_error``), it also accepts a failed receipt of a
low-level ``chain.call`` inside the block. Anything else fails the test with
an ``AssertionError`` saying what was expected and what happened; other
exceptions pass through untouched. ``.error`` holds the failure afterwards.

``assert_event(source, name, fields, **values)`` finds an event called
``name`` whose fields include the given values (a mapping, keyword arguments,
or both; a trailing ``_`` lets a keyword name a Python keyword: ``from_=``).
It returns the event, or raises ``AssertionError`` listing the events seen.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING

from zonechain.sdk.testing.errors import ContractFailed
from zonechain.sdk.testing.results import CallResult, ContractEvent

if TYPE_CHECKING:
    from zonechain.sdk.testing.chain import Chain


class ExpectedError:
    """The context manager behind ``expect_error`` / ``Chain.expect_error``."""

    def __init__(self, code: str | None = None, message: str | re.Pattern[str] | None = None,
                 chain: Chain | None = None) -> None:
        if message is not None and not isinstance(message, str | re.Pattern):
            raise TypeError("message must be a str (substring) or a compiled re.Pattern")
        self.code = code
        self.message = message
        self.chain = chain
        self.error: ContractFailed | None = None
        self._start = 0

    def __enter__(self) -> ExpectedError:
        self._start = len(self.chain.results) if self.chain is not None else 0
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> bool:
        if exc is not None:
            if not isinstance(exc, ContractFailed):
                return False
            self._check(exc.code, exc.message)
            self.error = exc
            return True
        failed = self.chain.failed_since(self._start) if self.chain is not None else None
        if failed is None:
            raise AssertionError(f"expected a contract failure{self._wanted()}, "
                                 "but nothing failed")
        code, message = failed.error_code or "error", failed.error_message or ""
        self._check(code, message)
        self.error = ContractFailed(code, message, failed.gas_used, failed)
        return False

    def _wanted(self) -> str:
        parts = []
        if self.code is not None:
            parts.append(f"code {self.code!r}")
        if isinstance(self.message, re.Pattern):
            parts.append(f"message matching {self.message.pattern!r}")
        elif self.message is not None:
            parts.append(f"message containing {self.message!r}")
        return " with " + " and ".join(parts) if parts else ""

    def _check(self, code: str, message: str) -> None:
        code_ok = self.code is None or code == self.code
        if isinstance(self.message, re.Pattern):
            message_ok = self.message.search(message) is not None
        else:
            message_ok = self.message is None or self.message in message
        if not (code_ok and message_ok):
            raise AssertionError(f"expected a contract failure{self._wanted()}, "
                                 f"got {code!r}: {message!r}")


def expect_error(code: str | None = None,
                 message: str | re.Pattern[str] | None = None) -> ExpectedError:
    """Assert that a typed call inside the ``with`` block raises a matching ContractFailed."""
    return ExpectedError(code, message)


def assert_event(source: CallResult | Iterable[ContractEvent], name: str,
                 fields: Mapping[str, object] | None = None, /, *,
                 contract: bytes | None = None, **values: object) -> ContractEvent:
    """The first event of ``source`` called ``name`` with these field values, or AssertionError."""
    events = list(source.events if isinstance(source, CallResult) else source)
    expected = dict(fields or {})
    for key, value in values.items():
        expected[key[:-1] if key.endswith("_") and key[:-1] else key] = value
    for event in events:
        if event.matches(name, contract, **expected):
            return event
    seen = "\n".join(f"  {event.name} {event.fields}" + ("" if event.decoded else " (undecoded)")
                     for event in events) or "  (no events)"
    raise AssertionError(f"no event {name!r} with {expected}; events seen:\n{seen}")
