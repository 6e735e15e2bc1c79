"""Host function ``emit_event``: append an event to the call's receipt.

Guarantees: topic and data are bounded (``EVENT_TOPIC_BYTES_MAX``,
``EVENT_DATA_BYTES_MAX``), at most ``EVENTS_PER_CALL_MAX`` events per call
(counting those of successful nested calls); events of a failed call, or a
failed nested call, are dropped with its state changes; a query cannot emit.
"""

from __future__ import annotations

from zonechain.vm import gas, limits
from zonechain.vm.host.frame import Event, Frame, charge, check_range, read
from zonechain.vm.traps import LimitExceeded, ReadOnly


def emit_event(frame: Frame, topic_ptr: int, topic_len: int, data_ptr: int, data_len: int) -> None:
    # VALIDATE
    if frame.read_only:
        raise ReadOnly("a query cannot emit events")
    if topic_len > limits.EVENT_TOPIC_BYTES_MAX or data_len > limits.EVENT_DATA_BYTES_MAX:
        raise LimitExceeded(
            "event_too_large",
            f"event topics are limited to {limits.EVENT_TOPIC_BYTES_MAX} bytes and data to "
            f"{limits.EVENT_DATA_BYTES_MAX} bytes",
        )
    if len(frame.events) >= limits.EVENTS_PER_CALL_MAX:
        raise LimitExceeded(
            "too_many_events", f"a call may emit at most {limits.EVENTS_PER_CALL_MAX} events"
        )
    check_range(frame, topic_ptr, topic_len)
    check_range(frame, data_ptr, data_len)
    # GAS
    charge(frame, gas.GAS_EVENT_BASE + gas.GAS_EVENT_PER_BYTE * (topic_len + data_len))
    # OPERATION
    event = Event(frame.context.contract, read(frame, topic_ptr, topic_len),
                  read(frame, data_ptr, data_len))
    frame.events.append(event)
    # RESULT: none
