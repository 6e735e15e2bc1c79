"""Open-loop and closed-loop accounting with a fake clock (benchmarks/bench/load.py)."""

from __future__ import annotations

import pytest

from zonechain.benchmarks.bench.load import (
    KEEP_UP_RATIO,
    ClosedLoopWindow,
    LoadError,
    OpenLoopSchedule,
)


class FakeClock:
    def __init__(self, now: float = 100.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def send_all_due(schedule: OpenLoopSchedule, clock: FakeClock) -> int:
    due = schedule.due(clock.now)
    for _ in range(due):
        schedule.sent(clock.now)
    return due


def test_sends_are_due_at_start_plus_k_over_rate() -> None:
    clock = FakeClock()
    schedule = OpenLoopSchedule(rate=10.0, total=100, clock=clock)
    assert schedule.due(clock.now) == 1  # send 0 is due at the start
    assert send_all_due(schedule, clock) == 1
    clock.now += 0.05
    assert schedule.due(clock.now) == 0
    clock.now += 0.05  # 0.1 s: send 1
    assert send_all_due(schedule, clock) == 1
    clock.now += 0.45  # 0.55 s: sends 2..5
    assert send_all_due(schedule, clock) == 4
    assert schedule.seconds_until_next(clock.now) == pytest.approx(0.05)


def test_on_time_generator_reports_the_target_rate_and_kept_up() -> None:
    clock = FakeClock()
    schedule = OpenLoopSchedule(rate=200.0, total=1_000, clock=clock)
    while not schedule.finished:
        send_all_due(schedule, clock)
        clock.now += 0.001
    accounting = schedule.accounting
    assert accounting.sent == 1_000
    assert accounting.achieved_rate == pytest.approx(200.0, rel=0.01)
    assert accounting.kept_up
    assert max(accounting.lateness_s) < 0.0011
    assert schedule.due(clock.now + 10) == 0  # never more than total


def test_a_generator_that_falls_behind_is_reported() -> None:
    clock = FakeClock()
    schedule = OpenLoopSchedule(rate=1_000.0, total=1_000, clock=clock)
    # A busy generator: at most one send every 2 ms (500/s).
    while not schedule.finished:
        if schedule.due(clock.now) > 0:
            schedule.sent(clock.now)
        clock.now += 0.002
    accounting = schedule.accounting
    assert accounting.achieved_rate == pytest.approx(500.0, rel=0.01)
    assert accounting.achieved_rate < KEEP_UP_RATIO * 1_000.0
    assert not accounting.kept_up
    assert max(accounting.lateness_s) == pytest.approx(0.999, abs=0.003)
    assert accounting.as_dict()["kept_up"] is False


def test_starved_sends_stay_owed_and_count_once() -> None:
    clock = FakeClock()
    schedule = OpenLoopSchedule(rate=10.0, total=3, clock=clock)
    schedule.starved()
    schedule.starved()  # the same send found starved twice
    assert schedule.accounting.starved == 1
    assert schedule.due(clock.now) == 1  # still owed
    clock.now += 0.3
    send_all_due(schedule, clock)
    assert schedule.finished
    assert schedule.accounting.lateness_s[0] == pytest.approx(0.3)
    assert not schedule.accounting.kept_up  # a starved send means it did not keep up


@pytest.mark.parametrize(("rate", "total"), [(0.0, 1), (-5.0, 1), (float("inf"), 1),
                                             (float("nan"), 1), (1.0, -1)])
def test_impossible_schedules_are_refused(rate: float, total: int) -> None:
    with pytest.raises(LoadError):
        OpenLoopSchedule(rate, total, FakeClock())


def test_closed_loop_fills_the_window_and_stops_at_total() -> None:
    clock = FakeClock()
    window = ClosedLoopWindow(window=4, total=6, clock=clock)
    assert window.due(in_flight=0) == 4
    for _ in range(4):
        window.sent(clock.now)
    assert window.due(in_flight=4) == 0
    assert window.due(in_flight=1) == 2  # only 2 left of 6
    window.sent(clock.now)
    window.sent(clock.now)
    assert window.finished and window.due(in_flight=0) == 0
    assert window.accounting.kept_up  # no target: nothing to keep up with
    with pytest.raises(LoadError):
        ClosedLoopWindow(0, 1, clock)
