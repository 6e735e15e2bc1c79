"""Named fail-points: places where a test makes the process die or fail on purpose.

A fail-point is a call ``failpoint("store.commit.before_write")`` placed at an
instant that matters for crash safety (just before or after a durable write).
Disabled, it does nothing and costs one truth test of an empty dict. Enabled
through the environment, it can kill the process right there, the way
``kill -9`` or a power cut would, so that a test can reopen the node and check
that it recovered (CometBFT's crash tests and etcd's gofail work the same way).

Enabling (read ONCE, when this module is first imported)::

    ZONECHAIN_FAILPOINTS="store.commit.before_write=exit@3,store.prune.after_write=raise"

Each entry is ``NAME=ACTION[@HIT]``:

- ``exit``: ``os._exit(137)`` at once. No ``finally`` blocks, no buffered
  output, no ``atexit`` handlers run: only what already reached the operating
  system survives, exactly as after ``kill -9`` (137 = 128 + SIGKILL, what a
  shell reports for a killed process). One line naming the fail-point is
  written to file descriptor 2 first, unbuffered, so the parent can tell which
  fail-point fired.
- ``raise``: raise ``FailpointTriggered`` (an I/O failure seen by the caller).
- ``off``: listed but disabled.

``@HIT`` (default 1) fires on the HIT-th time the point is reached; earlier
passes are let through, so "commit two blocks, die in the third" is
``store.commit.before_write=exit@3``. After firing, a ``raise`` point fires
again on every later pass.

Only names in ``FAILPOINT_NAMES`` may be used, in the code and in the
variable: a typo fails loudly (``FailpointSpecError``) instead of silently
testing nothing. Add a name here when adding a ``failpoint(...)`` call.

Tests in one process may call ``configure(text)`` / ``reset()`` instead of the
environment variable.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Final, Literal

ENVIRONMENT_VARIABLE: Final = "ZONECHAIN_FAILPOINTS"

EXIT_CODE: Final = 137
"""128 + SIGKILL(9): what a shell reports for a process killed by ``kill -9``."""

FAILPOINT_NAMES: Final[tuple[str, ...]] = (
    # node/store: opening a fresh directory (column families exist, meta not yet written)
    "store.open.before_init",
    # node/store: commit_block, in order along the path
    "store.commit.before_batch",
    "store.commit.before_write",
    "store.commit.after_write",
    # node/store: prune_tree
    "store.prune.before_write",
    "store.prune.after_write",
    # node/store: save_consensus (e.g. the last signed vote, before it is sent)
    "store.consensus.before_write",
    "store.consensus.after_write",
)
"""Every fail-point in the code base. Tests iterate over all of them."""

Action = Literal["exit", "raise", "off"]
ACTIONS: Final[tuple[Action, ...]] = ("exit", "raise", "off")


class FailpointSpecError(ValueError):
    """The fail-point specification (environment variable or ``configure``) is malformed."""


class FailpointTriggered(RuntimeError):
    """Raised by a fail-point whose action is ``raise``."""

    def __init__(self, name: str) -> None:
        super().__init__(f"fail-point {name} triggered")
        self.name = name


@dataclass
class _Trigger:
    action: Action
    fire_on_hit: int
    hits: int = 0


_active: dict[str, _Trigger] = {}
_hits_lock = threading.Lock()


def parse_spec(text: str) -> dict[str, tuple[Action, int]]:
    """Parse ``NAME=ACTION[@HIT],...`` into {name: (action, hit)}; empty text means none."""
    parsed: dict[str, tuple[Action, int]] = {}
    for raw_entry in text.split(","):
        entry = raw_entry.strip()
        if not entry:
            continue
        name, separator, rest = entry.partition("=")
        name = name.strip()
        if not separator:
            raise FailpointSpecError(f"fail-point entry {entry!r} is not NAME=ACTION[@HIT]")
        if name not in FAILPOINT_NAMES:
            raise FailpointSpecError(f"unknown fail-point {name!r}")
        action_text, _, hit_text = rest.strip().partition("@")
        parsed[name] = (_parse_action(action_text.strip(), name), _parse_hit(hit_text, name))
    return parsed


def _parse_action(text: str, name: str) -> Action:
    for action in ACTIONS:
        if text == action:
            return action
    raise FailpointSpecError(f"fail-point {name}: unknown action {text!r} (use exit, raise, off)")


def _parse_hit(text: str, name: str) -> int:
    if not text:
        return 1
    if not text.strip().isdigit() or int(text) < 1:
        raise FailpointSpecError(f"fail-point {name}: hit {text!r} is not a positive integer")
    return int(text)


def configure(text: str) -> None:
    """Replace the active fail-points with those in ``text`` (same syntax as the variable)."""
    parsed = parse_spec(text)
    with _hits_lock:
        _active.clear()
        for name, (action, hit) in parsed.items():
            if action != "off":
                _active[name] = _Trigger(action, hit)


def reset() -> None:
    """Disable every fail-point."""
    with _hits_lock:
        _active.clear()


def failpoint(name: str) -> None:
    """Mark a crash-relevant instant; does nothing unless ``name`` is enabled."""
    if _active:
        _fire(name)


def _fire(name: str) -> None:
    with _hits_lock:
        trigger = _active.get(name)
        if trigger is None:
            return
        trigger.hits += 1
        if trigger.hits < trigger.fire_on_hit:
            return
        action = trigger.action
    if action == "exit":
        os.write(2, f"fail-point {name}: exit {EXIT_CODE}\n".encode())
        os._exit(EXIT_CODE)
    raise FailpointTriggered(name)


configure(os.environ.get(ENVIRONMENT_VARIABLE, ""))
