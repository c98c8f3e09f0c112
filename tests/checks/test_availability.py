from poller.checks.availability import AvailabilityState, initial_state, observe


def up_state():
    return AvailabilityState(status=True, status_reason="")


def test_one_failure_marks_down_with_librenms_event_and_outage_by_default():
    out = observe(up_state(), False, now=1000, device_id=7)
    assert out.changed and not out.state.status and out.state.status_reason == "snmp"
    assert out.event and out.event.message == "Device status changed to Down from snmp check."
    assert (out.event.type, out.event.severity, out.event.reference, out.event.username) == (
        "down",
        2,
        None,
        "",
    )
    assert out.outage_open and out.outage_open.going_down == 1000


def test_flapping_device_is_not_reported_down_before_the_threshold():
    s = up_state()
    for t, ok in ((1, False), (2, False), (3, True), (4, False), (5, False)):
        out = observe(s, ok, now=t, device_id=1, threshold=3)
        assert not out.changed and out.event is None and out.outage_open is None
        s = out.state
    assert s.status


def test_down_after_n_consecutive_failures_with_outage_from_the_first_failure():
    s = up_state()
    for t in (10, 20):
        s = observe(s, False, now=t, device_id=1, threshold=3).state
    out = observe(s, False, now=30, device_id=1, threshold=3)
    assert out.changed and not out.state.status
    assert out.outage_open and out.outage_open.going_down == 10


def test_first_good_poll_brings_it_up_and_closes_the_outage():
    down = AvailabilityState(status=False, status_reason="snmp", failures=5)
    out = observe(down, True, now=99, device_id=3, threshold=3)
    assert out.state.status and out.changed
    assert out.event and out.event.message == "Device status changed to Up from snmp check."
    assert out.event.type == "up"
    assert out.outage_close and out.outage_close.up_again == 99


def test_staying_down_writes_nothing_more():
    s = initial_state(False, "snmp", threshold=2)
    out = observe(s, False, now=5, device_id=1, threshold=2)
    assert not out.changed and out.event is None and out.outage_open is None


def test_never_polled_device_logs_up_with_the_old_empty_reason_like_librenms():
    out = observe(initial_state(False, "", threshold=1), True, now=5, device_id=1)
    assert out.event and out.event.message == "Device status changed to Up from  check."
