"""SNMPv3 (poller/snmp/usm.py) end to end against real agents: net-snmp's snmpd and snmpsim (pysnmp).

Every auth/priv combination both agents support: a GET and a table walk over v3 return exactly what
the same agent answers over v2c. Then the ways credentials go wrong, and what each looks like:

    wrong auth password    SnmpAuthError at once (agents answer with a usmStatsWrongDigests report)
    unknown user           SnmpAuthError at once (usmStatsUnknownUserNames report)
    wrong priv password    snmpd:   SnmpTimeout (it cannot parse what it decrypted and stays silent)
                           snmpsim: SnmpAuthError at once (pysnmp sends a usmStatsDecryptionErrors report)
    wrong AES-192 variant  the same as a wrong priv password (Blumenthal vs Reeder/-C keys differ)
"""

from __future__ import annotations

import pytest

from poller.snmp.client import SnmpEngine
from poller.snmp.errors import SnmpAuthError, SnmpTimeout

from .conftest import V3_AUTH_PASSWORD, V3_PRIV_PASSWORD, V3Agent, combinations, user_name

SYS_DESCR, SYS_OBJECT_ID, SYS_NAME = "1.3.6.1.2.1.1.1.0", "1.3.6.1.2.1.1.2.0", "1.3.6.1.2.1.1.5.0"
SCALARS = [SYS_DESCR, SYS_OBJECT_ID, SYS_NAME]
IF_DESCR, IF_TYPE, IF_OPER = "1.3.6.1.2.1.2.2.1.2", "1.3.6.1.2.1.2.2.1.3", "1.3.6.1.2.1.2.2.1.8"
IF_HC_IN_OCTETS = "1.3.6.1.2.1.31.1.1.1.6"
# snmpd's live counters move between two walks; its usmUserTable (one row per test user) does not.
USM_USER = "1.3.6.1.6.3.15.1.2.2.1"
SNMPD_COLUMNS = [IF_DESCR, IF_TYPE, f"{USM_USER}.3", f"{USM_USER}.5", f"{USM_USER}.8", f"{USM_USER}.13"]
SNMPSIM_COLUMNS = [IF_DESCR, IF_TYPE, IF_OPER, IF_HC_IN_OCTETS]


def combo_id(combo: tuple[str | None, str | None]) -> str:
    return user_name(*combo).removeprefix("v3_")


async def assert_v3_equals_v2c(
    agent: V3Agent, auth: str | None, priv: str | None, columns: list[str]
) -> None:
    async with SnmpEngine() as engine:
        v3, v2c = agent.v3(auth, priv), agent.v2c()
        assert await engine.get(v3, SCALARS) == await engine.get(v2c, SCALARS)
        got = await engine.walk_table(v3, columns, max_repetitions=10)
        assert got == await engine.walk_table(v2c, columns, max_repetitions=10)
        assert all(got[c] for c in columns)  # the walk saw data, not two empty answers
        stats = engine.device_stats(v3)
        assert stats is not None and stats.timeouts == 0


@pytest.mark.snmpd
@pytest.mark.parametrize("combo", combinations(), ids=combo_id)
async def test_snmpd_answers_v3_exactly_as_v2c(snmpd_v3, combo):
    await assert_v3_equals_v2c(snmpd_v3, *combo, SNMPD_COLUMNS)


@pytest.mark.snmpsim
@pytest.mark.parametrize("combo", combinations(), ids=combo_id)
async def test_snmpsim_answers_v3_exactly_as_v2c(snmpsim_v3, combo):
    await assert_v3_equals_v2c(snmpsim_v3, *combo, SNMPSIM_COLUMNS)


@pytest.fixture(
    params=[
        pytest.param("snmpd", marks=pytest.mark.snmpd),
        pytest.param("snmpsim", marks=pytest.mark.snmpsim),
    ]
)
def agent(request) -> V3Agent:
    return request.getfixturevalue(f"{request.param}_v3")


async def test_wrong_auth_password_is_an_auth_error_on_the_first_answer(agent):
    target = agent.v3("SHA", "AES", auth_password="not-the-password")
    async with SnmpEngine() as engine:
        with pytest.raises(SnmpAuthError, match="rejected the digest") as err:
            await engine.get(target, [SYS_NAME])
        stats = engine.device_stats(target)
    assert stats is not None and stats.timeouts == 0 and stats.retries == 0  # not timeout x retries
    assert "not-the-password" not in str(err.value) and V3_PRIV_PASSWORD not in str(err.value)


async def test_unknown_user_is_an_auth_error_naming_the_user(agent):
    target = agent.v3("SHA", "AES", username="nobody-here")
    async with SnmpEngine() as engine:
        with pytest.raises(SnmpAuthError, match="nobody-here") as err:
            await engine.get(target, [SYS_NAME])
        stats = engine.device_stats(target)
    assert stats is not None and stats.timeouts == 0
    assert V3_AUTH_PASSWORD not in str(err.value)


@pytest.mark.snmpd
async def test_wrong_priv_password_on_snmpd_is_a_timeout_because_it_drops_what_it_cannot_decrypt(snmpd_v3):
    target = snmpd_v3.v3("SHA", "AES", timeout=0.3, retries=0, priv_password="not-the-password")
    async with SnmpEngine() as engine:
        with pytest.raises(SnmpTimeout):
            await engine.get(target, [SYS_NAME])


@pytest.mark.snmpsim
async def test_wrong_priv_password_on_snmpsim_is_an_auth_error_from_its_decryption_error_report(snmpsim_v3):
    target = snmpsim_v3.v3("SHA", "AES", priv_password="not-the-password")
    async with SnmpEngine() as engine:
        with pytest.raises(SnmpAuthError, match="could not decrypt") as err:
            await engine.get(target, [SYS_NAME])
    assert "not-the-password" not in str(err.value)


@pytest.mark.snmpd
async def test_snmpd_is_silent_when_the_aes_192_key_extension_is_the_other_one(snmpd_v3):
    # The Blumenthal (AES-192) and Reeder (AES-192-C) key extensions give different keys.
    target = snmpd_v3.v3("SHA", "AES-192-C", timeout=0.3, retries=0, username=user_name("SHA", "AES-192"))
    async with SnmpEngine() as engine:
        with pytest.raises(SnmpTimeout):
            await engine.get(target, [SYS_NAME])


@pytest.mark.snmpsim
async def test_snmpsim_reports_a_decryption_error_when_the_aes_192_key_extension_is_the_other_one(snmpsim_v3):
    target = snmpsim_v3.v3("SHA", "AES-192-C", username=user_name("SHA", "AES-192"))
    async with SnmpEngine() as engine:
        with pytest.raises(SnmpAuthError, match="could not decrypt"):
            await engine.get(target, [SYS_NAME])


async def test_a_stale_engine_clock_is_resynced_from_the_agents_report(agent):
    target = agent.v3("SHA-256", "AES")
    async with SnmpEngine() as engine:
        first = await engine.get(target, [SYS_OBJECT_ID])
        # Reach into the session's USM (white box): make our idea of the agent's clock a boot behind.
        # A different snmpEngineBoots is outside the time window whatever the agent's uptime (pushing
        # the time back would not be while the agent is younger than the window).
        usm = engine._session(target).security
        state = usm.engine
        boots, now = state.clock()
        assert boots >= 1
        state.set_clock(boots - 1, now)
        assert await engine.get(target, [SYS_OBJECT_ID]) == first
        assert usm.engine.clock()[0] == boots  # re-synced from the notInTimeWindow report
        assert usm.discoveries == 1  # a resync, not a new discovery


async def test_an_engine_clock_out_of_the_window_found_by_a_walk_is_resynced_and_the_walk_completes(agent):
    target = agent.v3("SHA-256", "AES")
    async with SnmpEngine() as engine:
        first = await engine.walk_table(target, [IF_DESCR, IF_TYPE], max_repetitions=2)
        # The walk's replies are taken in the reply callback: a notInTimeWindow report must
        # still reach the walk's coroutine, which re-syncs and asks again.
        usm = engine._session(target).security
        boots, now = usm.engine.clock()
        usm.engine.set_clock(boots, now + 1000)  # ahead: a fresh agent's clock is near 0
        assert await engine.walk_table(target, [IF_DESCR, IF_TYPE], max_repetitions=2) == first
        assert usm.engine.clock()[1] < now + 1000  # re-synced from the notInTimeWindow report
        assert usm.discoveries == 1
        assert engine.device_stats(target).timeouts == 0
