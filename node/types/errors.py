"""Typed errors for protocol messages: what was wrong, and in which field.

    ValueError
    ├── DecodeError (zonechain.vm.encoding)   canonical bytes that do not decode
    │   └── MessageTooLarge                   ...because they exceed the type's size limit
    ├── MalformedMessage                      a value (constructor argument or protobuf
    │   │                                     message) that breaks the type's rules
    │   └── MessageTooLarge                   (also a MalformedMessage)
    └── InvalidAddress                        a human-readable address that does not parse

``decode()`` raises only ``DecodeError`` (its message names the field);
``from_proto()`` and the constructors raise only ``MalformedMessage``. A caller
at a door (gRPC, SDK, CLI) catches ``(DecodeError, MalformedMessage)`` and
answers with the message; nothing else escapes these modules for bad input.
"""

from __future__ import annotations

from zonechain.vm.encoding import DecodeError


class MalformedMessage(ValueError):
    """A message that breaks its type's rules. ``field`` is the dotted path of the culprit."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason

    def within(self, outer: str) -> MalformedMessage:
        """The same error with ``outer`` prefixed to the field path."""
        return MalformedMessage(f"{outer}.{self.field}", self.reason)


class MessageTooLarge(DecodeError, MalformedMessage):
    """A message (bytes or protobuf) larger than its type's limit; refused before parsing."""

    def __init__(self, what: str, size: int, limit: int) -> None:
        reason = f"{size} bytes exceeds the limit of {limit}"
        # Both bases' __init__ chain through super(); set their attributes directly.
        ValueError.__init__(self, f"{what}: {reason}")
        self.offset = 0
        self.field = what
        self.reason = reason
        self.size = size
        self.limit = limit

    def within(self, outer: str) -> MalformedMessage:
        return MessageTooLarge(f"{outer}.{self.field}", self.size, self.limit)


class InvalidAddress(ValueError):
    """Text that is not a valid human-readable zonechain address; ``reason`` says why."""

    def __init__(self, text: str, reason: str) -> None:
        shown = text if len(text) <= 80 else text[:77] + "..."
        super().__init__(f"invalid address {shown!r}: {reason}")
        self.reason = reason


__all__ = ["DecodeError", "InvalidAddress", "MalformedMessage", "MessageTooLarge"]
