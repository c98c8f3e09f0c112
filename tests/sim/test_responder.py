"""The simulated agent: RFC 3416 answers (pure `answer()` with an explicit clock), and walks of
every shared recording identical to snmpsim's through fastpoll's own engine."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from poller.model import Credentials, Target
from poller.sim.responder import (
    DeviceState,
    Fault,
    Limits,
    MibTable,
    Responder,
    SimAgent,
    answer,
    recordings_agent,
)
from poller.sim.snmprec import read_snmprec
from poller.snmp.ber import encode_length, tlv
from poller.snmp.client import SnmpEngine
from poller.snmp.errors import SnmpTimeout
from poller.snmp.pdu import (
    GET,
    GETBULK,
    GETNEXT,
    decode_varbinds,
    encode_community_message,
    encode_pdu,
    parse_community_message,
    varbind_list,
)
from poller.snmp.values import Tag, VarBind
from tests.support.agents import Agent
from tests.support.shared import SNMPREC_DIR, recordings

SYS_DESCR = "1.3.6.1.2.1.1.1.0"
SYS_UPTIME = "1.3.6.1.2.1.1.3.0"
IF_DESCR = "1.3.6.1.2.1.2.2.1.2"
IF_HC_IN = "1.3.6.1.2.1.31.1.1.1.6"


def small_table() -> MibTable:
    rows = [
        ((1, 3, 6, 1, 2, 1, 1, 1, 0), Tag.OCTET_STRING, b"test box"),
        ((1, 3, 6, 1, 2, 1, 1, 3, 0), Tag.TIMETICKS, 1000),
    ]
    for i in (1, 2, 3):
        rows.append(((1, 3, 6, 1, 2, 1, 2, 2, 1, 2, i), Tag.OCTET_STRING, f"if{i}".encode()))
        rows.append(((1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 6, i), Tag.COUNTER64, 10**12 + i))
    return MibTable.from_rows(rows)


def ask(
    table: MibTable,
    tag: int,
    oids: list[str],
    *,
    version: str = "2c",
    a: int = 0,
    b: int = 0,
    t: float = 0.0,
    limits: Limits = Limits(),
    community: bytes = b"public",
):
    request = encode_community_message(version, community, encode_pdu(tag, 42, varbind_list(oids), a, b))
    reply = answer(request, lambda c: table if c == b"public" else None, t, limits)
    if reply is None:
        return None
    msg = parse_community_message(reply)
    assert msg.pdu.request_id == 42
    return msg.pdu, decode_varbinds(msg.pdu)


# ---------------------------------------------------------------------------------------- GET


def test_get_returns_each_requested_value_in_order() -> None:
    pdu, vbs = ask(small_table(), GET, [f"{IF_DESCR}.2", SYS_DESCR])
    assert pdu.error_status == 0
    assert vbs == [
        VarBind(f"{IF_DESCR}.2", Tag.OCTET_STRING, b"if2"),
        VarBind(SYS_DESCR, Tag.OCTET_STRING, b"test box"),
    ]


def test_get_of_an_absent_instance_of_a_known_column_is_no_such_instance() -> None:
    _, vbs = ask(small_table(), GET, [f"{IF_DESCR}.99"])
    assert vbs == [VarBind(f"{IF_DESCR}.99", Tag.NO_SUCH_INSTANCE, None)]


def test_get_of_an_unknown_object_is_no_such_object() -> None:
    _, vbs = ask(small_table(), GET, ["1.3.6.1.4.1.9.9.9.0"])
    assert vbs == [VarBind("1.3.6.1.4.1.9.9.9.0", Tag.NO_SUCH_OBJECT, None)]


def test_v1_get_of_an_absent_oid_is_no_such_name_with_its_index() -> None:
    pdu, vbs = ask(small_table(), GET, [SYS_DESCR, "1.3.6.1.4.1.9.9.9.0"], version="1")
    assert (pdu.error_status, pdu.error_index) == (2, 2)
    assert [vb.oid for vb in vbs] == [SYS_DESCR, "1.3.6.1.4.1.9.9.9.0"]


def test_v1_never_sees_a_counter64() -> None:
    pdu, _ = ask(small_table(), GET, [f"{IF_HC_IN}.1"], version="1")
    assert pdu.error_status == 2
    pdu, _ = ask(small_table(), GETNEXT, [f"{IF_DESCR}.3"], version="1")
    assert pdu.error_status == 2  # everything after ifDescr.3 is Counter64: end of the v1 view


def test_get_that_does_not_fit_the_message_size_is_too_big_with_no_varbinds() -> None:
    pdu, vbs = ask(small_table(), GET, [SYS_DESCR] * 5, limits=Limits(max_message_size=100))
    assert (pdu.error_status, pdu.error_index, vbs) == (1, 0, [])


def test_wrong_community_gets_no_answer() -> None:
    assert ask(small_table(), GET, [SYS_DESCR], community=b"wrong") is None


def test_undecodable_datagram_gets_no_answer() -> None:
    assert answer(b"\x30\x05\x02\x01", lambda c: small_table(), 0.0) is None


# ---------------------------------------------------------------------------------------- GETNEXT / GETBULK


def test_getnext_from_a_prefix_returns_the_first_oid_under_it() -> None:
    _, vbs = ask(small_table(), GETNEXT, [IF_DESCR, "1.3.6.1.2.1.2.2.1.2.1.5"])
    assert [vb.oid for vb in vbs] == [f"{IF_DESCR}.1", f"{IF_DESCR}.2"]


def test_getnext_past_the_last_oid_is_end_of_mib_view() -> None:
    _, vbs = ask(small_table(), GETNEXT, [f"{IF_HC_IN}.3"])
    assert vbs == [VarBind(f"{IF_HC_IN}.3", Tag.END_OF_MIB_VIEW, None)]


def test_getbulk_non_repeaters_get_one_next_each_then_repeaters_repeat() -> None:
    _, vbs = ask(small_table(), GETBULK, [SYS_DESCR, IF_DESCR, IF_HC_IN], a=1, b=2)
    assert [vb.oid for vb in vbs] == [
        SYS_UPTIME,
        f"{IF_DESCR}.1",
        f"{IF_HC_IN}.1",
        f"{IF_DESCR}.2",
        f"{IF_HC_IN}.2",
    ]


def test_getbulk_with_zero_repetitions_answers_only_non_repeaters() -> None:
    _, vbs = ask(small_table(), GETBULK, [SYS_DESCR, IF_DESCR], a=1, b=0)
    assert [vb.oid for vb in vbs] == [SYS_UPTIME]


def test_getbulk_stops_after_a_row_that_is_all_end_of_mib_view() -> None:
    _, vbs = ask(small_table(), GETBULK, [f"{IF_HC_IN}.2"], b=10)
    assert [(vb.oid, vb.tag) for vb in vbs] == [
        (f"{IF_HC_IN}.3", Tag.COUNTER64),
        (f"{IF_HC_IN}.3", Tag.END_OF_MIB_VIEW),
    ]


def test_getbulk_is_capped_at_max_varbinds_in_whole_rows() -> None:
    rows = [((1, 3, 6, 1, 9, c, i), Tag.INTEGER, i) for c in (1, 2, 3) for i in range(1, 100)]
    table = MibTable.from_rows(rows)
    _, vbs = ask(
        table, GETBULK, ["1.3.6.1.9.1", "1.3.6.1.9.2", "1.3.6.1.9.3"], b=50, limits=Limits(max_varbinds=64)
    )
    assert len(vbs) == 63  # 21 whole rows of 3
    assert vbs[-1].oid == "1.3.6.1.9.3.21"


def test_getbulk_that_would_overflow_the_message_answers_fewer_varbinds_not_too_big() -> None:
    rows = [((1, 3, 6, 1, 9, 1, i), Tag.OCTET_STRING, b"x" * 100) for i in range(1, 50)]
    pdu, vbs = ask(
        MibTable.from_rows(rows), GETBULK, ["1.3.6.1.9.1"], b=40, limits=Limits(max_message_size=1000)
    )
    assert pdu.error_status == 0
    assert 0 < len(vbs) < 10


def test_v1_getbulk_is_not_answered() -> None:
    assert ask(small_table(), GETBULK, [IF_DESCR], version="1", b=5) is None


def test_a_request_in_long_form_lengths_is_answered_as_in_short_form() -> None:
    oid = tlv(Tag.OID, bytes.fromhex("2b06010201010100"))  # sysDescr.0
    value = b"\x05\x81\x00"  # NULL, its length in long form
    varbind = b"\x30" + encode_length(len(oid) + len(value)) + oid + value
    long_form = b"\x30\x81" + bytes((len(varbind),)) + varbind
    request = encode_community_message("2c", b"public", encode_pdu(GET, 42, long_form))
    reply = answer(request, lambda c: small_table(), 0.0)
    assert reply is not None
    assert [vb.value for vb in decode_varbinds(parse_community_message(reply).pdu)] == [b"test box"]


def test_a_requested_varbind_without_a_value_gets_no_answer() -> None:
    oid = tlv(Tag.OID, bytes.fromhex("2b06010201010100"))
    request = encode_community_message("2c", b"public", encode_pdu(GET, 42, tlv(0x30, oid)))
    assert answer(request, lambda c: small_table(), 0.0) is None


class Fixed:
    """A cell whose value is what the test set."""

    def __init__(self, tag: int, value: int) -> None:
        self.tag, self.value = tag, value

    def value_at(self, state: DeviceState, t: float) -> int:
        return self.value


@pytest.mark.parametrize("value", [0, 1, 127, 128, 255, 2**31, 2**32 - 1, 2**55, 2**63, 2**64 - 1])
def test_a_moving_counter64_of_any_size_is_sent_as_its_value(value: int) -> None:
    table = MibTable.from_rows(
        [((1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 6, 1), Tag.COUNTER64, Fixed(Tag.COUNTER64, value))]
    )
    assert table.value(0, 0.0) == (Tag.COUNTER64, value)
    _, (vb,) = ask(table, GETBULK, [IF_HC_IN], b=1)
    assert (vb.tag, vb.value) == (Tag.COUNTER64, value)


def test_a_moving_value_under_an_oid_too_long_for_short_form_lengths_is_still_sent() -> None:
    oid = (1, 3, 6, 1, 4, 1, 99999, *range(1, 110))
    table = MibTable.from_rows([(oid, Tag.COUNTER64, Fixed(Tag.COUNTER64, 2**64 - 1))])
    assert len(table.varbind(0, 0.0)) > 2 + 127  # its length takes two octets
    assert table.value(0, 0.0) == (Tag.COUNTER64, 2**64 - 1)


def test_moving_values_of_two_types_at_one_shared_position_keep_their_types() -> None:
    layouts: dict = {}
    oid = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 6, 1)
    a = MibTable.from_rows([(oid, Tag.COUNTER64, Fixed(Tag.COUNTER64, 5))], layouts=layouts)
    b = MibTable.from_rows([(oid, Tag.GAUGE32, Fixed(Tag.GAUGE32, 7))], layouts=layouts)
    assert a.layout is b.layout
    assert [a.value(0, 0.0), b.value(0, 0.0), a.value(0, 0.0)] == [
        (Tag.COUNTER64, 5),
        (Tag.GAUGE32, 7),
        (Tag.COUNTER64, 5),
    ]


def test_duplicate_oids_in_a_dataset_are_refused() -> None:
    with pytest.raises(ValueError, match="duplicate OID"):
        MibTable.from_rows([((1, 3, 6, 1), Tag.INTEGER, 1), ((1, 3, 6, 1), Tag.INTEGER, 2)])


# ---------------------------------------------------------------------------------------- moving values


def numeric_table(tmp_path: Path) -> MibTable:
    rec = tmp_path / "var.snmprec"
    rec.write_text(
        "1.3.6.1.2.1.1.3.0|67:numeric|initial=1789144300,rate=100\n"
        "1.3.6.1.2.1.2.2.1.10.1|65:numeric|initial=4294960000,rate=1000,wrap=1\n"
        "1.3.6.1.2.1.31.1.1.1.6.2|70:numeric|initial=74542027830569,rate=125000\n"
    )
    return MibTable.from_snmprec(rec)


def test_numeric_variation_counters_grow_at_their_rate(tmp_path: Path) -> None:
    table = numeric_table(tmp_path)
    oids = [SYS_UPTIME, "1.3.6.1.2.1.31.1.1.1.6.2"]
    _, at0 = ask(table, GET, oids, t=0.0)
    _, at5 = ask(table, GET, oids, t=5.0)
    assert [vb.value for vb in at0] == [1789144300, 74542027830569]
    assert [vb.value for vb in at5] == [1789144800, 74542027830569 + 625000]
    assert at5[1].tag == Tag.COUNTER64


def test_numeric_wrap_is_modulo_max_like_snmpsim(tmp_path: Path) -> None:
    _, vbs = ask(numeric_table(tmp_path), GET, ["1.3.6.1.2.1.2.2.1.10.1"], t=10.0)
    assert vbs[0].value == (4294960000 + 10_000) % 0xFFFFFFFF


def test_a_recordings_sys_uptime_advances_from_the_recorded_value() -> None:
    table = MibTable.from_snmprec(SNMPREC_DIR / "ptp670.snmprec")
    _, vbs = ask(table, GET, [SYS_UPTIME], t=2.5)
    assert vbs[0].value == 1789144300 + 250


async def test_counters_grow_between_two_polls_of_a_running_responder(tmp_path: Path) -> None:
    agent = SimAgent("127.0.0.1", 0, {b"public": numeric_table(tmp_path)})
    async with Responder([agent]), SnmpEngine() as engine:
        target = Target("127.0.0.1", agent.port)
        (first,) = await engine.get(target, ["1.3.6.1.2.1.31.1.1.1.6.2"])
        await asyncio.sleep(0.05)
        (second,) = await engine.get(target, ["1.3.6.1.2.1.31.1.1.1.6.2"])
    assert second.value > first.value  # type: ignore[operator]


# ---------------------------------------------------------------------------------------- faults


async def test_a_device_that_times_out_never_answers_while_its_neighbour_does() -> None:
    dead = SimAgent("127.0.0.1", 0, {b"dead": small_table()}, Fault("timeout"))
    async with Responder([dead]) as responder, SnmpEngine() as engine:
        live = Responder([SimAgent("127.0.0.1", 0, {b"public": small_table()})])
        async with live:
            (port,) = (p for _, p in live.endpoints)
            (vb,) = await engine.get(Target("127.0.0.1", port), [SYS_DESCR])
        quiet = Target(
            "127.0.0.1", dead.port, credentials=Credentials(community="dead"), timeout=0.1, retries=0
        )
        with pytest.raises(SnmpTimeout):
            await engine.get(quiet, [SYS_DESCR])
    assert vb.value == b"test box"
    assert responder.stats.silent == 1


async def test_a_garbage_device_answers_something_the_engine_cannot_decode() -> None:
    agent = SimAgent("127.0.0.1", 0, {b"public": small_table()}, Fault("garbage"))
    async with Responder([agent]) as responder, SnmpEngine() as engine:
        with pytest.raises(SnmpTimeout):
            await engine.get(Target("127.0.0.1", agent.port, timeout=0.1, retries=0), [SYS_DESCR])
        assert responder.stats.garbage == 1
        assert engine.stats.dropped_malformed == 1


def test_a_flapping_device_is_silent_in_its_window_and_comes_back_rebooted() -> None:
    fault = Fault("flap", period=100.0, down=20.0, phase=10.0)
    assert [fault.silent_at(t) for t in (5.0, 15.0, 29.9, 30.0, 111.0)] == [False, True, True, False, True]
    assert fault.seconds_since_boot(5.0) == 5.0  # never went down yet: original uptime goes on
    assert fault.seconds_since_boot(45.0) == 15.0  # back since t=30


# ---------------------------------------------------------------------------------------- vs snmpsim


def _skipped_lines(path: Path) -> int:
    """Lines read_snmprec skips as undecodable (anonymised hex like `346288XXYYZZ`, OID `0`)."""
    lines = [x for x in path.read_text(errors="replace").splitlines() if x and not x.startswith("#")]
    return len(lines) - sum(1 for _ in read_snmprec(path))


def _roots(path: Path) -> list[str]:
    return sorted({".".join(map(str, r.oid[:2])) for r in read_snmprec(path)})


@pytest.fixture
async def own_agent() -> AsyncIterator[Agent]:
    agent = recordings_agent(SNMPREC_DIR, "127.0.0.1", 0)
    async with Responder([agent]):
        yield Agent("127.0.0.1", agent.port)


@pytest.mark.snmpsim
@pytest.mark.parametrize("recording", recordings())
async def test_every_recording_answers_like_snmpsim(
    recording: str, shared_snmpsim: Agent, own_agent: Agent
) -> None:
    """Whole-tree walks compared; where a recording has lines snmpsim cannot decode, snmpsim's own
    walk breaks there (it answers endOfMibView before such a line, or nothing at all), so every
    OID our walk returns is instead fetched from snmpsim by GET and compared value by value."""
    path = SNMPREC_DIR / f"{recording}.snmprec"
    cred = Credentials(community=recording)
    ref_target = Target(shared_snmpsim.host, shared_snmpsim.port, credentials=cred, timeout=3.0, retries=1)
    async with SnmpEngine() as engine:
        ours = await engine.walk(Target(own_agent.host, own_agent.port, credentials=cred), _roots(path))
        if _skipped_lines(path) == 0:
            theirs = await engine.walk(ref_target, _roots(path))
        else:
            theirs = []
            for k in range(0, len(ours), 16):
                theirs += await engine.get(ref_target, [vb.oid for vb in ours[k : k + 16]])
    assert [vb.oid for vb in ours] == [vb.oid for vb in theirs]
    for mine, ref in zip(ours, theirs, strict=True):
        if mine.oid == SYS_UPTIME:  # ours advances from the recorded value; snmpsim's stands still
            assert mine.tag == ref.tag and mine.value >= ref.value  # type: ignore[operator]
        else:
            assert (mine.oid, mine.tag, mine.value) == (ref.oid, ref.tag, ref.value)


@pytest.mark.parametrize("recording", recordings())
async def test_walk_of_every_recording_returns_every_record(recording: str, own_agent: Agent) -> None:
    path = SNMPREC_DIR / f"{recording}.snmprec"
    expected = [(r.oid_str, r.tag) for r in read_snmprec(path)]
    async with SnmpEngine() as engine:
        target = Target(own_agent.host, own_agent.port, credentials=Credentials(community=recording))
        ours = await engine.walk(target, _roots(path))
    assert [(vb.oid, vb.tag) for vb in ours] == expected
