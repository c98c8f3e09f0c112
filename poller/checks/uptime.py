"""Device uptime and reboot detection (pure).

LibreNMS (LibreNMS/Modules/Core.php::calculateUptime):
    uptime = max(round(sysUpTime/100), snmpEngineTime, round(hrSystemUptime/100))
    if uptime > 0 and uptime < devices.uptime:
        eventlog 'Device rebooted after <Time::formatInterval(old)> -> <uptime>s', type 'reboot',
        severity 4 (Warning), reference = old uptime
    devices.uptime = uptime

fastpoll adds: the 32-bit TimeTicks rollover (sysUpTime and hrSystemUptime wrap after 2**32 centiseconds,
~497 days; LibreNMS issue 13896) is not a reboot. When snmpEngineTime is available the max() already hides
the wrap; otherwise a drop that matches "previous uptime + time since the previous poll - 2**32/100" (within a
tolerance) is a rollover: no event, and the counters are not treated as reset.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from .results import EventRow

TIMETICKS_WRAP_SECONDS = 2**32 / 100  # 42949672.96 s, ~497.1 days
SEVERITY_WARNING = 4


def php_round(x: float) -> int:
    """PHP round(): half away from zero."""
    return int(x + 0.5) if x >= 0 else -int(-x + 0.5)


def compute_uptime(sys_uptime: int | None, engine_time: int | None, hr_uptime: int | None) -> int | None:
    """max(round(sysUpTime/100), snmpEngineTime, round(hrSystemUptime/100)) over the values present."""
    values = []
    if isinstance(sys_uptime, int):
        values.append(php_round(sys_uptime / 100))
    if isinstance(engine_time, int):
        values.append(engine_time)
    if isinstance(hr_uptime, int):
        values.append(php_round(hr_uptime / 100))
    return max(values) if values else None


@dataclass(frozen=True, slots=True)
class UptimeOutcome:
    uptime: int | None  # what to store in devices.uptime (None = leave it)
    rebooted: bool  # the device really restarted: counters are reset
    rollover: bool = False  # a TimeTicks wrap that was not a reboot
    event: EventRow | None = None


def is_timeticks_rollover(previous: int, current: int, elapsed: float | None) -> bool:
    """Does previous -> current (seconds) look like a 2**32-centisecond wrap given ``elapsed`` seconds?"""
    if elapsed is None or elapsed < 0 or current >= previous:
        return False
    expected = previous + elapsed
    tolerance = max(120.0, elapsed * 0.1)
    return abs(current + TIMETICKS_WRAP_SECONDS - expected) <= tolerance


def observe_uptime(
    previous: int | None, current: int | None, *, elapsed: float | None, now: int, device_id: int
) -> UptimeOutcome:
    """Compare the new uptime with the stored one. ``elapsed`` = seconds since the previous sample."""
    if current is None or current <= 0:
        return UptimeOutcome(None, rebooted=False)
    if previous is None or current >= previous:
        return UptimeOutcome(current, rebooted=False)
    if is_timeticks_rollover(previous, current, elapsed):
        return UptimeOutcome(current, rebooted=False, rollover=True)
    event = EventRow(
        device_id=device_id,
        datetime=now,
        message=f"Device rebooted after {format_interval(previous, now=now)} -> {current}s",
        type="reboot",
        severity=SEVERITY_WARNING,
        reference=previous,
    )
    return UptimeOutcome(current, rebooted=True, event=event)


_UNITS = ("year", "month", "week", "day", "hour", "minute", "second")


def _calendar_diff(start: datetime, end: datetime) -> tuple[int, int, int, int, int, int]:
    """PHP DateTime::diff-style y/m/d/h/i/s between two UTC datetimes (start <= end)."""
    y = end.year - start.year
    mo = end.month - start.month
    d = end.day - start.day
    h = end.hour - start.hour
    mi = end.minute - start.minute
    s = end.second - start.second
    if s < 0:
        s += 60
        mi -= 1
    if mi < 0:
        mi += 60
        h -= 1
    if h < 0:
        h += 24
        d -= 1
    if d < 0:
        prev_month = end.month - 1 or 12
        prev_year = end.year if end.month > 1 else end.year - 1
        d += calendar.monthrange(prev_year, prev_month)[1]
        mo -= 1
    if mo < 0:
        mo += 12
        y -= 1
    return y, mo, d, h, mi, s


def format_interval(seconds: int | None, *, now: int | None = None, parts: int = 4) -> str:
    """LibreNMS Time::formatInterval (Carbon diffForHumans, absolute, long, up to ``parts`` units).

    Calendar units (years, months) are counted back from ``now`` as Carbon does, weeks are split from days,
    zero units are skipped, e.g. 93784 -> "1 day 2 hours 3 minutes 4 seconds".
    """
    if not seconds:
        return ""
    end = datetime.fromtimestamp(now if now is not None else datetime.now(UTC).timestamp(), UTC).replace(
        microsecond=0
    )
    start = end - timedelta(seconds=abs(seconds))
    y, mo, d, h, mi, s = _calendar_diff(start, end)
    values = (y, mo, d // 7, d % 7, h, mi, s)
    out: list[str] = []
    for unit, value in zip(_UNITS, values, strict=True):
        if value > 0:
            out.append(f"{value} {unit}{'' if value == 1 else 's'}")
        if len(out) >= parts:
            break
    return " ".join(out) if out else "1 second"
