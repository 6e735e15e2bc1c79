"""Render the SDK's API reference from its docstrings: docs/SDK-reference.md.

    python -m zonechain.sdk.reference > docs/SDK-reference.md

Everything ``zonechain.sdk.__all__`` exports is listed, in name order: its
signature and its docstring, and for classes each public method and property.
An async method without a docstring of its own shows the docstring of its
synchronous twin (``AsyncClient.submit`` -> ``Client.submit``), since the two
clients have the same methods by design (tests/sdk/test_async_parity.py).
A test renders the reference again and compares it with the committed file, so
the document cannot drift from the code; edit docstrings, not the file.
"""

from __future__ import annotations

import inspect
import re
import sys
from typing import Final

from zonechain import sdk

HEADER: Final = (
    "# zonechain.sdk API reference\n\n"
    "Generated from the docstrings by `python -m zonechain.sdk.reference`; do not edit by\n"
    "hand. The guide is docs/SDK.md.\n"
)
_ADDRESS = re.compile(r" at 0x[0-9a-f]+")
SYNC_TWINS: Final = {"AsyncClient": "Client", "AsyncContract": "Contract"}


def signature_of(target: object) -> str:
    """``(parameters) -> result`` as inspect writes it, without memory addresses."""
    try:
        text = str(inspect.signature(target))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return ""
    return _ADDRESS.sub("", text)


def docstring_of(target: object, twin: object | None = None) -> str:
    own = inspect.getdoc(target) if getattr(target, "__doc__", None) else None
    if own is None and twin is not None and getattr(twin, "__doc__", None):
        own = inspect.getdoc(twin)
    return own or ""


def _members(cls: type) -> list[tuple[str, object]]:
    members = []
    for name, value in vars(cls).items():
        if name.startswith("_"):
            continue
        if isinstance(value, property) or inspect.isfunction(value):
            members.append((name, value))
    return sorted(members)


def _render_class(name: str, cls: type) -> list[str]:
    base = [b.__name__ for b in cls.__bases__ if b is not object]
    inherits = f" ({', '.join(base)})" if base else ""
    out = [f"## class `{name}`{inherits}", "", f"`{name}{signature_of(cls)}`", ""]
    doc = docstring_of(cls)
    if doc:
        out += [doc, ""]
    twin_class = getattr(sdk, SYNC_TWINS[name]) if name in SYNC_TWINS else None
    for member_name, member in _members(cls):
        twin = getattr(twin_class, member_name, None) if twin_class is not None else None
        if isinstance(member, property):
            out += [f"### `{name}.{member_name}` (property)", ""]
            target: object = member.fget
            twin = twin.fget if isinstance(twin, property) else twin
        else:
            out += [f"### `{name}.{member_name}{signature_of(member)}`", ""]
            target = member
        doc = docstring_of(target, twin)
        if doc:
            out += [doc, ""]
    return out


def render() -> str:
    """The whole reference, as Markdown."""
    lines = [HEADER]
    for name in sorted(sdk.__all__):
        value = getattr(sdk, name)
        if inspect.ismodule(value):
            lines += [f"## module `{name}`", "", docstring_of(value).split("\n\n")[0], ""]
        elif inspect.isclass(value):
            lines += _render_class(name, value)
        elif callable(value):
            lines += [f"## `{name}{signature_of(value)}`", "", docstring_of(value), ""]
        else:
            lines += [f"## `{name}` = `{value!r}`", ""]
    return "\n".join(lines).rstrip("\n") + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
