"""SNMPv3 USM (poller/snmp/usm.py) without a network: keys, messages, digests, ciphers, reports.

pysnmp is the reference: its own HMAC and cipher services check what usm.py sends, and build the
replies usm.py must accept. Real agents are in test_v3_agents.py.
"""

from __future__ import annotations

import hashlib
import hmac
import time

import pysnmp.proto.secmod.rfc3414  # noqa: F401  (before eso: pysnmp 7.1 imports circularly)
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyasn1.codec.ber import decoder, encoder
from pyasn1.type import univ
from pysnmp.proto.mpmod.rfc3412 import ScopedPDU, SNMPv3Message
from pysnmp.proto.secmod.eso.priv import aes192, aes256
from pysnmp.proto.secmod.rfc3414.auth import hmacmd5, hmacsha
from pysnmp.proto.secmod.rfc3414.priv import des
from pysnmp.proto.secmod.rfc3414.service import UsmSecurityParameters
from pysnmp.proto.secmod.rfc3826.priv import aes
from pysnmp.proto.secmod.rfc7860.auth import hmacsha2

from poller.model import AUTH_ALGOS, PRIV_ALGOS, Credentials
from poller.snmp.ber import SEQUENCE, encode_oid, encode_value, tlv
from poller.snmp.errors import SnmpAuthError, SnmpConfigError, SnmpDecodeError, SnmpError
from poller.snmp.pdu import (
    GET,
    REPORT,
    RESPONSE,
    decode_varbinds,
    encode_pdu,
    peek_message_id,
    peek_message_reference,
    varbind_list,
)
from poller.snmp.security import NeedsResync
from poller.snmp.usm import (
    AUTH_ALGORITHMS,
    DECRYPTION_ERRORS,
    NOT_IN_TIME_WINDOWS,
    UNKNOWN_ENGINE_IDS,
    UNKNOWN_USER_NAMES,
    UNSUPPORTED_SEC_LEVELS,
    WRONG_DIGESTS,
    EngineState,
    HmacKey,
    UsmSecurity,
    auth_algorithm,
    encode_usm_parameters,
    encode_v3_message,
    localize_auth_key,
    localize_priv_key,
    parse_scoped_pdu,
    parse_scoped_reference,
    parse_v3_message,
    parse_v3_reference,
    password_key,
    priv_algorithm,
)
from poller.snmp.values import Tag

ENGINE = bytes.fromhex("80001f8880e9bd0c1d12667a51")
OTHER_ENGINE = bytes.fromhex("80001f8880aaaaaaaaaaaaaaaa")
AUTH_PW, PRIV_PW = "auth-secret-1234", "priv-secret-5678"
SYS_NAME = "1.3.6.1.2.1.1.5.0"

PYSNMP_AUTH = {
    "MD5": lambda: hmacmd5.HmacMd5(),
    "SHA": lambda: hmacsha.HmacSha(),
    "SHA-224": lambda: hmacsha2.HmacSha2(hmacsha2.HmacSha2.SHA224_SERVICE_ID),
    "SHA-256": lambda: hmacsha2.HmacSha2(hmacsha2.HmacSha2.SHA256_SERVICE_ID),
    "SHA-384": lambda: hmacsha2.HmacSha2(hmacsha2.HmacSha2.SAH384_SERVICE_ID),
    "SHA-512": lambda: hmacsha2.HmacSha2(hmacsha2.HmacSha2.SHA512_SERVICE_ID),
}
PYSNMP_AUTH_ID = {
    "MD5": hmacmd5.HmacMd5.SERVICE_ID,
    "SHA": hmacsha.HmacSha.SERVICE_ID,
    "SHA-224": hmacsha2.HmacSha2.SHA224_SERVICE_ID,
    "SHA-256": hmacsha2.HmacSha2.SHA256_SERVICE_ID,
    "SHA-384": hmacsha2.HmacSha2.SAH384_SERVICE_ID,
    "SHA-512": hmacsha2.HmacSha2.SHA512_SERVICE_ID,
}
PYSNMP_PRIV = {
    "DES": des.Des,
    "AES": aes.Aes,
    "AES-192": aes192.AesBlumenthal192,
    "AES-256": aes256.AesBlumenthal256,
    "AES-192-C": aes192.Aes192,
    "AES-256-C": aes256.Aes256,
}
# Every auth algorithm (with AES) and every priv algorithm (with SHA), plus the two lower levels.
LEVELS = [(None, None), ("SHA", None)]
LEVELS += [(a, "AES") for a in AUTH_ALGOS] + [("SHA", p) for p in PRIV_ALGOS if p != "AES"]


def credentials(auth: str | None = "SHA", priv: str | None = "AES", **override: str) -> Credentials:
    fields = {
        "version": "3",
        "authlevel": "authPriv" if priv else "authNoPriv" if auth else "noAuthNoPriv",
        "username": "poller",
        "auth_algo": auth or "SHA",
        "auth_password": AUTH_PW,
        "priv_algo": priv or "AES",
        "priv_password": PRIV_PW,
        "context": "ctx1",
    }
    fields.update(override)
    return Credentials(**fields)  # type: ignore[arg-type]


def usm_for(auth: str | None = "SHA", priv: str | None = "AES", boots: int = 7, etime: int = 1000, **kw: str):
    usm = UsmSecurity(credentials(auth, priv, **kw))
    usm.set_engine(ENGINE, boots, etime)
    return usm


# ---------------------------------------------------------------- pysnmp as the other side


def pysnmp_auth_key(auth: str, password: str = AUTH_PW, engine: bytes = ENGINE) -> univ.OctetString:
    service = PYSNMP_AUTH[auth]()
    return univ.OctetString(service.localize_key(service.hash_passphrase(password), univ.OctetString(engine)))


def pysnmp_priv_key(
    auth: str, priv: str, password: str = PRIV_PW, engine: bytes = ENGINE
) -> univ.OctetString:
    service = PYSNMP_PRIV[priv]()
    auth_id = PYSNMP_AUTH_ID[auth]
    ku = service.hash_passphrase(auth_id, password)
    return univ.OctetString(service.localize_key(auth_id, ku, univ.OctetString(engine)))


def agent_reply(
    pdu: bytes,
    msg_id: int,
    *,
    auth: str | None = "SHA",
    priv: str | None = "AES",
    boots: int = 7,
    etime: int = 1000,
    engine: bytes = ENGINE,
    user: bytes = b"poller",
    auth_password: str = AUTH_PW,
    priv_password: str = PRIV_PW,
) -> bytes:
    """A reply as an agent would send it, framed by pyasn1 and secured by pysnmp's own services."""
    scoped = decoder.decode(tlv(SEQUENCE, tlv(4, engine) + tlv(4, b"ctx1") + pdu), asn1Spec=ScopedPDU())[0]
    params = UsmSecurityParameters()
    params["msgAuthoritativeEngineId"] = engine
    params["msgAuthoritativeEngineBoots"] = boots
    params["msgAuthoritativeEngineTime"] = etime
    params["msgUserName"] = user
    params["msgAuthenticationParameters"] = b"\x00" * (PYSNMP_AUTH[auth]().digest_length if auth else 0)
    msg = SNMPv3Message()
    msg["msgVersion"] = 3
    header = msg["msgGlobalData"]
    header["msgID"] = msg_id
    header["msgMaxSize"] = 65507
    header["msgFlags"] = bytes([(1 if auth else 0) | (2 if priv else 0)])
    header["msgSecurityModel"] = 3
    if priv:
        assert auth is not None
        key = pysnmp_priv_key(auth, priv, priv_password, engine)
        ciphertext, salt = PYSNMP_PRIV[priv]().encrypt_data(key, (boots, etime, None), encoder.encode(scoped))
        params["msgPrivacyParameters"] = salt
        msg["msgData"]["encryptedPDU"] = ciphertext
    else:
        params["msgPrivacyParameters"] = b""
        msg["msgData"]["plaintext"] = scoped
    msg["msgSecurityParameters"] = encoder.encode(params)
    whole = encoder.encode(msg)
    if auth:
        whole = PYSNMP_AUTH[auth]().authenticate_outgoing_message(
            pysnmp_auth_key(auth, auth_password, engine), whole
        )
    return bytes(whole)


def response(msg_id: int, value: bytes = b"router-1") -> bytes:
    vb = tlv(SEQUENCE, tlv(SEQUENCE, encode_oid(SYS_NAME) + encode_value(Tag.OCTET_STRING, value)))
    return encode_pdu(RESPONSE, msg_id, vb)


def report(oid: str, count: int = 1) -> bytes:
    vb = tlv(SEQUENCE, tlv(SEQUENCE, encode_oid(oid) + encode_value(Tag.COUNTER32, count)))
    return encode_pdu(REPORT, 0, vb)


# ------------------------------------------------------------------------------------- keys


def test_md5_key_localisation_matches_rfc3414_a_3_1():
    md5 = auth_algorithm("MD5")
    engine = bytes.fromhex("000000000000000000000002")
    assert password_key(b"maplesyrup", md5).hex() == "9faf3283884e92834ebc9847d8edd963"
    assert localize_auth_key(b"maplesyrup", engine, md5).hex() == "526f5eed9fcce26f8964c2930787d82b"


def test_sha_key_localisation_matches_rfc3414_a_3_2():
    sha = auth_algorithm("SHA")
    engine = bytes.fromhex("000000000000000000000002")
    assert password_key(b"maplesyrup", sha).hex() == "9fb5cc0381497b3793528939ff788d5d79145211"
    assert localize_auth_key(b"maplesyrup", engine, sha).hex() == "6695febc9288e36282235fc7151f128497b38f3f"


@pytest.mark.parametrize("name", ["SHA-224", "SHA-256", "SHA-384", "SHA-512"])
def test_sha2_keys_follow_the_rfc3414_construction_with_the_longer_hash(name):
    # RFC 7860 publishes no vectors; the construction itself is the oracle: H(first 1 MB of the
    # repeated password), then H(Ku || engineID || Ku).
    algo = auth_algorithm(name)
    h = getattr(hashlib, algo.hash_name)
    ku = h((b"maplesyrup" * 104858)[: 1 << 20]).digest()
    assert localize_auth_key(b"maplesyrup", ENGINE, algo) == h(ku + ENGINE + ku).digest()


def _kul(h, password: bytes, engine: bytes) -> bytes:
    ku = h((password * (1 + (1 << 20) // len(password)))[: 1 << 20]).digest()
    return h(ku + engine + ku).digest()


@pytest.mark.parametrize(("auth", "size"), [("MD5", 24), ("SHA", 32), ("MD5", 32)])
def test_blumenthal_extension_appends_the_hash_of_the_key_so_far(auth, size):
    algo = auth_algorithm(auth)
    h = getattr(hashlib, algo.hash_name)
    key = _kul(h, PRIV_PW.encode(), ENGINE)
    while len(key) < size:
        key += h(key).digest()
    assert localize_priv_key(PRIV_PW.encode(), ENGINE, algo, priv_algorithm(f"AES-{size * 8}")) == key[:size]


@pytest.mark.parametrize(("auth", "size"), [("MD5", 24), ("SHA", 32), ("MD5", 32)])
def test_reeder_extension_localizes_the_key_again_as_a_password(auth, size):
    algo = auth_algorithm(auth)
    h = getattr(hashlib, algo.hash_name)
    key = _kul(h, PRIV_PW.encode(), ENGINE)
    while len(key) < size:
        key += _kul(h, key, ENGINE)
    got = localize_priv_key(PRIV_PW.encode(), ENGINE, algo, priv_algorithm(f"AES-{size * 8}-C"))
    assert got == key[:size]


def test_the_blumenthal_and_reeder_keys_differ_only_past_the_localized_key():
    sha = auth_algorithm("SHA")
    blumenthal = localize_priv_key(PRIV_PW.encode(), ENGINE, sha, priv_algorithm("AES-256"))
    reeder = localize_priv_key(PRIV_PW.encode(), ENGINE, sha, priv_algorithm("AES-256-C"))
    assert blumenthal[:20] == reeder[:20] and blumenthal[20:] != reeder[20:]


def test_keys_are_localized_per_engine():
    sha = auth_algorithm("SHA")
    assert localize_auth_key(b"maplesyrup", ENGINE, sha) != localize_auth_key(
        b"maplesyrup", OTHER_ENGINE, sha
    )


# --------------------------------------------------------------------------------- requests


@pytest.mark.parametrize(("auth", "priv"), LEVELS)
def test_a_request_is_a_v3_message_pysnmp_authenticates_and_decrypts(auth, priv):
    usm = usm_for(auth, priv)
    pdu = encode_pdu(GET, 4242, varbind_list([SYS_NAME]))
    wire = usm.encode(pdu, 4242)

    msg, rest = decoder.decode(wire, asn1Spec=SNMPv3Message())
    assert rest == b""
    header = msg["msgGlobalData"]
    assert (int(msg["msgVersion"]), int(header["msgID"]), int(header["msgSecurityModel"])) == (3, 4242, 3)
    assert bytes(header["msgFlags"])[0] == 4 | (1 if auth else 0) | (2 if priv else 0)
    params = decoder.decode(bytes(msg["msgSecurityParameters"]), asn1Spec=UsmSecurityParameters())[0]
    assert bytes(params["msgAuthoritativeEngineId"]) == ENGINE
    assert int(params["msgAuthoritativeEngineBoots"]) == 7
    assert int(params["msgAuthoritativeEngineTime"]) >= 1000
    assert bytes(params["msgUserName"]) == b"poller"
    if auth:  # pysnmp's own HMAC raises if the digest is wrong
        service = PYSNMP_AUTH[auth]()
        service.authenticate_incoming_message(
            pysnmp_auth_key(auth), params["msgAuthenticationParameters"], wire
        )
    if priv:
        plain = PYSNMP_PRIV[priv]().decrypt_data(
            pysnmp_priv_key(auth, priv),
            (
                params["msgAuthoritativeEngineBoots"],
                params["msgAuthoritativeEngineTime"],
                params["msgPrivacyParameters"],
            ),
            msg["msgData"]["encryptedPDU"],
        )
        scoped = decoder.decode(plain, asn1Spec=ScopedPDU())[0]
    else:
        scoped = msg["msgData"]["plaintext"]
    assert bytes(scoped["contextEngineId"]) == ENGINE and bytes(scoped["contextName"]) == b"ctx1"
    assert encoder.encode(scoped["data"]) == pdu


def test_each_encrypted_request_uses_a_fresh_salt():
    usm = usm_for("SHA", "AES")
    pdu = encode_pdu(GET, 1, varbind_list([SYS_NAME]))
    salts = {parse_v3_message(usm.encode(pdu, 1)).priv_params for _ in range(5)}
    assert len(salts) == 5


def test_engine_time_in_requests_advances_with_the_monotonic_clock():
    state = EngineState(ENGINE, 3, 1000, synced_at=time.monotonic() - 120.4, auth_key=None, privacy=None)
    assert state.clock() == (3, 1120)


def test_encode_before_discovery_is_refused():
    usm = UsmSecurity(credentials())
    with pytest.raises(SnmpError, match="discovery"):
        usm.encode(encode_pdu(GET, 1, varbind_list([SYS_NAME])), 1)


# ---------------------------------------------------------------------------------- replies


@pytest.mark.parametrize(("auth", "priv"), LEVELS)
def test_a_reply_secured_by_pysnmp_decodes_to_its_pdu(auth, priv):
    usm = usm_for(auth, priv)
    pdu = usm.decode(agent_reply(response(77), 77, auth=auth, priv=priv))
    assert (pdu.tag, pdu.request_id) == (RESPONSE, 77)
    assert [(vb.oid, vb.value) for vb in decode_varbinds(pdu)] == [(SYS_NAME, b"router-1")]


@pytest.mark.parametrize(("auth", "priv"), [("SHA", None), ("MD5", "DES"), ("SHA-512", "AES-256-C")])
def test_encode_then_decode_round_trips_through_our_own_codec(auth, priv):
    # The agent's reply has the same shape as our request, with a RESPONSE PDU: decode what we encode.
    usm = usm_for(auth, priv)
    wire = usm.encode(response(99, b"x" * 300), 99)  # > 127 bytes: long-form lengths everywhere
    pdu = usm.decode(wire)
    assert decode_varbinds(pdu)[0].value == b"x" * 300


def test_any_flipped_byte_in_an_authenticated_reply_is_refused_with_an_snmp_error():
    usm = usm_for("SHA", "AES")
    wire = agent_reply(response(5), 5)
    assert usm.decode(wire).request_id == 5
    for i in range(len(wire)):
        tampered = bytearray(wire)
        tampered[i] ^= 0x01
        with pytest.raises(SnmpError):
            usm.decode(bytes(tampered))


def test_a_flipped_byte_in_the_encrypted_pdu_fails_the_digest():
    usm = usm_for("SHA-256", "AES")
    wire = bytearray(agent_reply(response(5), 5, auth="SHA-256"))
    wire[-3] ^= 0xFF  # inside the encryptedPDU
    with pytest.raises(SnmpAuthError, match="wrong digest"):
        usm.decode(bytes(wire))


def test_a_reply_signed_with_another_auth_key_fails_the_digest():
    usm = usm_for("SHA", "AES")
    with pytest.raises(SnmpAuthError, match="wrong digest"):
        usm.decode(agent_reply(response(5), 5, auth_password="someone-elses-key"))


@pytest.mark.parametrize("priv", ["DES", "AES", "AES-256-C"])
def test_a_reply_encrypted_with_another_priv_key_fails_cleanly(priv):
    usm = usm_for("SHA", priv)
    with pytest.raises(SnmpAuthError, match="cannot decrypt"):
        usm.decode(agent_reply(response(5), 5, priv=priv, priv_password="someone-elses-key"))


def test_a_response_below_the_requested_security_level_is_refused():
    usm = usm_for("SHA", "AES")
    with pytest.raises(SnmpAuthError, match="security level"):
        usm.decode(agent_reply(response(5), 5, priv=None))


def test_a_response_for_another_user_is_refused():
    usm = usm_for("SHA", None)
    with pytest.raises(SnmpDecodeError, match="another SNMPv3 user"):
        usm.decode(agent_reply(response(5), 5, priv=None, user=b"someone"))


def test_a_response_whose_request_id_is_not_its_msg_id_is_refused():
    usm = usm_for("SHA", None)
    with pytest.raises(SnmpDecodeError, match="request-id"):
        usm.decode(agent_reply(response(6), 5, priv=None))


def test_a_newer_engine_time_in_a_reply_moves_the_local_clock():
    usm = usm_for("SHA", "AES", boots=7, etime=1000)
    usm.decode(agent_reply(response(5), 5, boots=7, etime=5000))
    assert usm.engine is not None and usm.engine.clock()[1] >= 5000


def test_a_replayed_reply_from_before_a_reboot_is_refused():
    usm = usm_for("SHA", "AES", boots=8, etime=100)
    with pytest.raises(SnmpDecodeError, match="time window"):
        usm.decode(agent_reply(response(5), 5, boots=7, etime=90000))


# ---------------------------------------------------------------------------------- reports


@pytest.mark.parametrize(
    ("oid", "message"),
    [
        (WRONG_DIGESTS, "rejected the digest for SNMPv3 user 'poller'"),
        (UNKNOWN_USER_NAMES, "does not know SNMPv3 user 'poller'"),
        (UNSUPPORTED_SEC_LEVELS, "does not support security level authPriv"),
        (DECRYPTION_ERRORS, "could not decrypt the request"),
        (UNKNOWN_ENGINE_IDS, "does not know the SNMPv3 engine ID"),
        ("1.3.6.1.6.3.12.1.5.0", "does not know SNMPv3 context 'ctx1'"),
    ],
)
def test_an_unauthenticated_error_report_is_an_auth_error_without_secrets(oid, message):
    usm = usm_for("SHA", "AES")
    with pytest.raises(SnmpAuthError, match=message) as err:
        usm.decode(agent_reply(report(oid), 5, auth=None, priv=None))
    assert AUTH_PW not in str(err.value) and PRIV_PW not in str(err.value)


def test_not_in_time_window_takes_the_agents_clock_and_asks_for_a_resync():
    usm = usm_for("SHA", "AES", boots=7, etime=1000)
    with pytest.raises(NeedsResync):
        usm.decode(agent_reply(report(NOT_IN_TIME_WINDOWS), 5, priv=None, boots=9, etime=42))
    assert usm.engine is not None and usm.engine.clock() in ((9, 42), (9, 43))


async def test_prepare_after_a_time_window_resync_sends_nothing():
    usm = usm_for("SHA", "AES")
    with pytest.raises(NeedsResync):
        usm.decode(agent_reply(report(NOT_IN_TIME_WINDOWS), 5, priv=None, boots=9, etime=42))

    async def exchange(build, deadline):
        raise AssertionError("prepare() should not talk to the agent")

    await usm.prepare(exchange, 0.0)


def test_a_not_in_time_window_report_with_a_bad_digest_is_refused():
    usm = usm_for("SHA", "AES")
    with pytest.raises(SnmpAuthError, match="wrong digest"):
        usm.decode(agent_reply(report(NOT_IN_TIME_WINDOWS), 5, priv=None, auth_password="forged-key-123"))


async def test_a_changed_engine_id_is_rediscovered_once_then_reported():
    usm = usm_for("SHA", "AES")
    usm.decode(agent_reply(response(5), 5))  # the engine worked once
    unknown = agent_reply(report(UNKNOWN_ENGINE_IDS), 6, auth=None, priv=None, engine=OTHER_ENGINE)
    with pytest.raises(NeedsResync):
        usm.decode(unknown)

    async def exchange(build, deadline):
        return agent_reply(report(UNKNOWN_ENGINE_IDS), 7, auth=None, priv=None, engine=OTHER_ENGINE)

    await usm.prepare(exchange, 0.0)
    assert usm.engine is not None and usm.engine.engine_id == OTHER_ENGINE and usm.discoveries == 1
    with pytest.raises(SnmpAuthError, match="engine ID"):
        usm.decode(unknown)  # straight after a discovery: no loop


# -------------------------------------------------------------------------------- discovery


async def test_discovery_sends_an_anonymous_reportable_get_and_adopts_the_reported_engine():
    usm = UsmSecurity(credentials("SHA-256", "AES-192"))
    sent: list[bytes] = []

    async def exchange(build, deadline):
        sent.append(build(31))
        return agent_reply(report(UNKNOWN_ENGINE_IDS), 31, auth=None, priv=None, boots=4, etime=777)

    await usm.prepare(exchange, 0.0)
    await usm.prepare(exchange, 0.0)  # cached: no second exchange
    assert len(sent) == 1
    probe = parse_v3_message(sent[0])
    assert (probe.msg_id, probe.flags, probe.engine_id, probe.user) == (31, 4, b"", b"")
    assert usm.engine is not None and usm.engine.engine_id == ENGINE
    assert usm.engine.clock()[0] == 4 and usm.engine.clock()[1] >= 777
    usm.decode(agent_reply(response(8), 8, auth="SHA-256", priv="AES-192", boots=4, etime=777))


async def test_discovery_without_an_engine_id_is_a_protocol_error():
    usm = UsmSecurity(credentials())

    async def exchange(build, deadline):
        return agent_reply(report(UNKNOWN_ENGINE_IDS), 1, auth=None, priv=None, engine=b"")

    with pytest.raises(SnmpError, match="engine ID"):
        await usm.prepare(exchange, 0.0)


# ------------------------------------------------------------------------------ configuration


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"auth_algo": "SHA-3"}, "unknown SNMPv3 auth algorithm 'SHA-3'"),
        ({"priv_algo": "3DES"}, "unknown SNMPv3 privacy algorithm '3DES'"),
        ({"auth_password": "short"}, "auth password must have at least 8"),
        ({"priv_password": "short"}, "privacy password must have at least 8"),
        ({"username": ""}, "needs a user name"),
        ({"authlevel": "authpriv"}, "unknown SNMPv3 security level"),
    ],
)
def test_bad_credentials_are_a_config_error_that_shows_no_secret(override, message):
    with pytest.raises(SnmpConfigError, match=message) as err:
        UsmSecurity(credentials(**override))
    assert "short" not in str(err.value) and AUTH_PW not in str(err.value)


def test_librenms_algorithm_names_and_common_spellings_resolve():
    assert [auth_algorithm(a).name for a in AUTH_ALGOS] == list(AUTH_ALGOS)
    assert [priv_algorithm(p).name for p in PRIV_ALGOS] == list(PRIV_ALGOS)
    assert auth_algorithm("sha1").name == "SHA" and auth_algorithm("SHA256").name == "SHA-256"
    assert priv_algorithm("aes128").name == "AES" and priv_algorithm("AES256C").name == "AES-256-C"


def test_the_ambiguous_aes192_spelling_is_refused():
    # net-snmp reads "AES192" as Blumenthal, pysnmp/snmpsim as Reeder: make the user say which.
    with pytest.raises(SnmpConfigError):
        priv_algorithm("AES192")


def test_repr_shows_user_and_algorithms_but_no_password():
    text = repr(UsmSecurity(credentials("SHA-256", "AES-256-C")))
    assert "poller" in text and "SHA-256/AES-256-C" in text
    assert AUTH_PW not in text and PRIV_PW not in text


def test_no_auth_user_needs_no_passwords():
    usm = UsmSecurity(credentials(None, None, auth_password="", priv_password=""))
    usm.set_engine(ENGINE, 1, 1)
    assert usm.decode(agent_reply(response(3), 3, auth=None, priv=None)).request_id == 3


# ------------------------------------------------------------ per-packet fast paths vs references


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(list(AUTH_ALGORITHMS.values())),
    st.binary(min_size=1, max_size=200),  # past the 64/128-byte block too: RFC 2104 hashes such keys
    st.lists(st.binary(max_size=300), max_size=4),
)
def test_a_precomputed_hmac_key_gives_hmac_digest_truncated(auth, key, parts):
    mac = HmacKey(key, auth.hash_name, auth.digest_length)
    assert mac.digest(*parts) == hmac.digest(key, b"".join(parts), auth.hash_name)[: auth.digest_length]


def test_a_precomputed_hmac_key_signs_memoryview_slices_like_their_bytes():
    mac = HmacKey(b"k" * 20, "sha1", 12)
    data = bytes(range(256)) * 3
    view = memoryview(data)
    assert mac.digest(view[:100], view[300:]) == mac.digest(data[:100], data[300:])


@pytest.mark.parametrize(("auth", "priv"), LEVELS)
@pytest.mark.parametrize("size", [1, 100, 300])  # short and long-form lengths in every layer
@pytest.mark.parametrize("user", ["poller", "u" * 32])
def test_a_request_built_in_one_join_equals_the_layered_encoding_signed_by_hmac_digest(
    auth, priv, size, user
):
    usm = usm_for(auth, priv, username=user)
    wire = usm.encode(response(424242, b"x" * size), 424242)
    msg = parse_v3_message(wire)
    digest = wire[msg.auth_start : msg.auth_end]
    params = encode_usm_parameters(
        msg.engine_id, msg.boots, msg.engine_time, msg.user, digest, msg.priv_params
    )
    assert encode_v3_message(424242, msg.flags, params, wire[msg.data_pos :]) == wire
    if auth is not None:
        algo = auth_algorithm(auth)
        unsigned = wire[: msg.auth_start] + b"\x00" * len(digest) + wire[msg.auth_end :]
        key = localize_auth_key(AUTH_PW.encode(), ENGINE, algo)
        assert digest == hmac.digest(key, unsigned, algo.hash_name)[: algo.digest_length]


def _outcome(parse, *args):
    try:
        return parse(*args)
    except SnmpDecodeError as exc:
        return "error", str(exc)


def _as_sent_altered_and_cut(wire: bytes, pos: int, byte: int, cut: int) -> tuple[bytes, bytes, bytes]:
    mutated = bytearray(wire)
    mutated[pos % len(wire)] = byte
    return wire, bytes(mutated), wire[: cut % len(wire) + 1]


V3_WIRES = [
    agent_reply(response(77), 77),  # authPriv, as an agent frames it
    agent_reply(response(2**31 - 1, b"y" * 200), 2**31 - 1, auth="SHA-512", priv=None),  # long forms
    agent_reply(report(NOT_IN_TIME_WINDOWS), 0, auth=None, priv=None),  # a plain ScopedPDU
    usm_for("SHA-512", "AES-256", username="u" * 32).encode(response(-5, b"z" * 300), 300),
]
SCOPED = [
    tlv(SEQUENCE, tlv(4, ENGINE) + tlv(4, b"ctx1") + response(77)),
    tlv(SEQUENCE, tlv(4, ENGINE) + tlv(4, b"") + response(2**31 - 1, b"y" * 300)) + b"\x00" * 5,  # DES pad
]


@settings(max_examples=600, deadline=None)
@given(st.sampled_from(V3_WIRES), st.integers(0, 2000), st.integers(0, 255), st.integers(0, 2000))
def test_the_one_pass_v3_message_parser_agrees_with_the_step_by_step_one(wire, pos, byte, cut):
    for data in _as_sent_altered_and_cut(wire, pos, byte, cut):
        assert _outcome(parse_v3_message, data) == _outcome(parse_v3_reference, data)


@settings(max_examples=600, deadline=None)
@given(st.sampled_from(SCOPED), st.integers(0, 2000), st.integers(0, 255), st.integers(0, 2000))
def test_the_one_pass_scoped_pdu_parser_agrees_with_the_step_by_step_one(plain, pos, byte, cut):
    for data in _as_sent_altered_and_cut(plain, pos, byte, cut):
        got = _outcome(parse_scoped_pdu, data, 0, len(data))
        assert got == _outcome(parse_scoped_reference, data, 0, len(data))


@settings(max_examples=600, deadline=None)
@given(st.sampled_from(V3_WIRES), st.integers(0, 2000), st.integers(0, 255), st.integers(0, 2000))
def test_the_inline_v3_message_id_peek_agrees_with_the_step_by_step_one(wire, pos, byte, cut):
    for data in _as_sent_altered_and_cut(wire, pos, byte, cut):
        assert peek_message_id(data) == peek_message_reference(data)


def test_the_inline_v3_message_id_peek_reads_the_msg_id():
    assert [peek_message_id(w) for w in V3_WIRES] == [77, 2**31 - 1, 0, 300]
