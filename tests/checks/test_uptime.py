from poller.checks.uptime import compute_uptime, format_interval, observe_uptime

NOW = 1_700_000_000


def test_uptime_is_the_max_of_the_three_sources_rounded_like_php():
    assert compute_uptime(12350, None, None) == 124
    assert compute_uptime(100, 500, 40000) == 500
    assert compute_uptime(None, None, 99950) == 1000
    assert compute_uptime(None, None, None) is None


def test_uptime_drop_is_a_reboot_with_librenms_event():
    out = observe_uptime(93784, 120, elapsed=60, now=NOW, device_id=4)
    assert out.rebooted and out.uptime == 120
    assert (
        out.event and out.event.message == "Device rebooted after 1 day 2 hours 3 minutes 4 seconds -> 120s"
    )
    assert (out.event.type, out.event.severity, out.event.reference) == ("reboot", 4, 93784)


def test_timeticks_rollover_is_not_a_reboot():
    previous = 42949600  # 72.96 s before the 2**32 centisecond wrap
    out = observe_uptime(previous, 27, elapsed=100, now=NOW, device_id=1)
    assert not out.rebooted and out.rollover and out.event is None


def test_rising_uptime_is_stored():
    out = observe_uptime(100, 160, elapsed=60, now=NOW, device_id=1)
    assert out.uptime == 160 and not out.rebooted


def test_format_interval_uses_weeks_and_at_most_four_parts():
    assert format_interval(8 * 86400 + 3600 + 61, now=NOW) == "1 week 1 day 1 hour 1 minute"
    assert format_interval(0) == ""
