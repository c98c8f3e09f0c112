"""SNMPv3 User-based Security Model (RFC 3414), plugged into security.SecurityModel.

    auth: MD5, SHA (HMAC-96, RFC 3414); SHA-224/256/384/512 (RFC 7860, truncated to 16/24/32/48 bytes)
    priv: DES (CBC, RFC 3414); AES = AES-128 (CFB, RFC 3826); AES-192 / AES-256 and AES-192-C / AES-256-C

The names are LibreNMS's devices.authalgo / devices.cryptoalgo values, which LibreNMS hands to
net-snmp's `-a` / `-x` unchanged. The two AES-192/256 families differ only in how the localized
key is stretched to 24/32 bytes:

    LibreNMS / net-snmp  key extension                     pysnmp 7.1 class (protocol constant)    snmpsim
    AES-192, AES-256     Blumenthal (draft-blumenthal-04)  AesBlumenthal192/256                    AES192BLMT
                                                           (USM_PRIV_CFB192/256_AES_BLUMENTHAL)    AES256BLMT
    AES-192-C, AES-256-C Reeder (3DES draft; Cisco's)      Aes192/256 (USM_PRIV_CFB192/256_AES)    AES192
                                                                                                   AES256

Note the trap: pysnmp's and snmpsim's plain "AES192" is the Cisco/Reeder variant, net-snmp's
plain "AES-192" is Blumenthal.

Cost split: password-to-key (a 1 MB hash) and key localisation use pysnmp's own code, once per
(password, algorithm) and once per engine ID respectively, and are cached. Per packet the message
is built by hand in one join and read in one pass (step-by-step ber.py references take the unusual
shapes and judge malformed ones), digests use HmacKey (the key's HMAC pads hashed once per engine)
and ciphers use `cryptography` directly.

Engine discovery and time synchronisation (RFC 3414 section 4) happen in prepare(); the agent's
snmpEngineBoots/Time are then tracked locally with the monotonic clock so requests stay inside the
150 s time window. A notInTimeWindow report updates the clock and raises NeedsResync; the client
then calls prepare() (a no-op, the clock is already fixed) and resends.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.decrepit.ciphers.modes import CFB
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from ..model import Credentials
from .ber import SEQUENCE, encode_integer, encode_length, expect, read_integer, read_tl, tlv
from .errors import SnmpAuthError, SnmpConfigError, SnmpDecodeError, SnmpProtocolError
from .pdu import GET, REPORT, RESPONSE, Pdu, content_at, decode_varbinds, encode_pdu, parse_pdu, read_pdu
from .security import Exchange, NeedsResync

OCTET_STRING = 0x04
USM_SECURITY_MODEL = 3
MAX_MESSAGE_SIZE = 65507
TIME_WINDOW = 150  # seconds, RFC 3414 section 2.2.3
MAX_INT32 = 0x7FFFFFFF
FLAG_AUTH, FLAG_PRIV, FLAG_REPORTABLE = 0x01, 0x02, 0x04
MIN_PASSWORD_LENGTH = 8  # RFC 3414 11.2; net-snmp refuses shorter pass phrases too

# Reports (RFC 3414 usmStats, RFC 3412 snmpMPDStats, RFC 3413 target contexts)
USM_STATS = "1.3.6.1.6.3.15.1.1."
UNSUPPORTED_SEC_LEVELS = USM_STATS + "1.0"
NOT_IN_TIME_WINDOWS = USM_STATS + "2.0"
UNKNOWN_USER_NAMES = USM_STATS + "3.0"
UNKNOWN_ENGINE_IDS = USM_STATS + "4.0"
WRONG_DIGESTS = USM_STATS + "5.0"
DECRYPTION_ERRORS = USM_STATS + "6.0"
UNAVAILABLE_CONTEXTS = "1.3.6.1.6.3.12.1.4.0"
UNKNOWN_CONTEXTS = "1.3.6.1.6.3.12.1.5.0"


# ------------------------------------------------------------------------------------ algorithms


@dataclass(frozen=True, slots=True)
class AuthAlgorithm:
    name: str
    hash_name: str  # hashlib / hmac.digest name
    digest_length: int  # bytes of the HMAC sent (HMAC-96 = 12)

    @property
    def hash_func(self) -> Callable[..., hashlib._Hash]:
        return getattr(hashlib, self.hash_name)


@dataclass(frozen=True, slots=True)
class PrivAlgorithm:
    name: str
    cipher: str  # "des" | "aes"
    key_size: int  # bytes of localized key used (DES: 8 key + 8 pre-IV)


AUTH_ALGORITHMS: dict[str, AuthAlgorithm] = {
    a.name: a
    for a in (
        AuthAlgorithm("MD5", "md5", 12),
        AuthAlgorithm("SHA", "sha1", 12),
        AuthAlgorithm("SHA-224", "sha224", 16),
        AuthAlgorithm("SHA-256", "sha256", 24),
        AuthAlgorithm("SHA-384", "sha384", 32),
        AuthAlgorithm("SHA-512", "sha512", 48),
    )
}

PRIV_ALGORITHMS: dict[str, PrivAlgorithm] = {
    p.name: p
    for p in (
        PrivAlgorithm("DES", "des", 16),
        PrivAlgorithm("AES", "aes", 16),
        PrivAlgorithm("AES-192", "aes", 24),
        PrivAlgorithm("AES-256", "aes", 32),
        PrivAlgorithm("AES-192-C", "aes", 24),
        PrivAlgorithm("AES-256-C", "aes", 32),
    )
}

# Spellings seen in configs and other tools, mapped to LibreNMS's names.
_AUTH_ALIASES = {"SHA1": "SHA", "SHA-1": "SHA", "SHA224": "SHA-224", "SHA256": "SHA-256"}
_AUTH_ALIASES |= {"SHA384": "SHA-384", "SHA512": "SHA-512"}
# Not "AES192"/"AES256": net-snmp reads them as Blumenthal, pysnmp/snmpsim as Reeder (ambiguous).
_PRIV_ALIASES = {"AES128": "AES", "AES-128": "AES", "AES192C": "AES-192-C", "AES256C": "AES-256-C"}


def auth_algorithm(name: str) -> AuthAlgorithm:
    key = name.strip().upper()
    key = _AUTH_ALIASES.get(key, key)
    try:
        return AUTH_ALGORITHMS[key]
    except KeyError:
        known = ", ".join(AUTH_ALGORITHMS)
        raise SnmpConfigError(f"unknown SNMPv3 auth algorithm {name!r} (known: {known})") from None


def priv_algorithm(name: str) -> PrivAlgorithm:
    key = name.strip().upper()
    key = _PRIV_ALIASES.get(key, key)
    try:
        return PRIV_ALGORITHMS[key]
    except KeyError:
        known = ", ".join(PRIV_ALGORITHMS)
        raise SnmpConfigError(f"unknown SNMPv3 privacy algorithm {name!r} (known: {known})") from None


# ------------------------------------------------------------------------- keys (pysnmp, cached)


@dataclass(frozen=True, slots=True)
class _Pysnmp:
    localkey: Any
    auth_ids: dict[str, tuple[int, ...]]
    priv_services: dict[str, Any]


@lru_cache(maxsize=1)
def _pysnmp() -> _Pysnmp:
    """pysnmp's key code, imported on first use (v2c-only pollers never load it)."""
    # A plain import first: importing pysnmp's eso (AES-192/256) modules before secmod.rfc3414 trips
    # a circular import inside pysnmp 7.1.
    import pysnmp.proto.secmod.rfc3414  # noqa: F401
    from pysnmp.proto.secmod.eso.priv import aes192, aes256
    from pysnmp.proto.secmod.rfc3414 import localkey
    from pysnmp.proto.secmod.rfc3414.auth import hmacmd5, hmacsha
    from pysnmp.proto.secmod.rfc3414.priv import des
    from pysnmp.proto.secmod.rfc3826.priv import aes
    from pysnmp.proto.secmod.rfc7860.auth import hmacsha2

    sha2 = hmacsha2.HmacSha2
    auth_ids = {
        "MD5": hmacmd5.HmacMd5.SERVICE_ID,
        "SHA": hmacsha.HmacSha.SERVICE_ID,
        "SHA-224": sha2.SHA224_SERVICE_ID,
        "SHA-256": sha2.SHA256_SERVICE_ID,
        "SHA-384": sha2.SAH384_SERVICE_ID,  # sic: pysnmp's spelling
        "SHA-512": sha2.SHA512_SERVICE_ID,
    }
    priv_services = {
        "DES": des.Des(),
        "AES": aes.Aes(),
        "AES-192": aes192.AesBlumenthal192(),
        "AES-256": aes256.AesBlumenthal256(),
        "AES-192-C": aes192.Aes192(),  # Reeder key extension
        "AES-256-C": aes256.Aes256(),
    }
    return _Pysnmp(localkey, auth_ids, priv_services)


@lru_cache(maxsize=256)
def password_key(password: bytes, auth: AuthAlgorithm) -> bytes:
    """Ku = H(1 MB of the repeated password) (RFC 3414 A.2): ~9 ms, so cached per password.

    Fleets usually share one v3 credential set: this runs once for the whole fleet.
    """
    return bytes(_pysnmp().localkey.hash_passphrase(password, auth.hash_func))


def localize_auth_key(password: bytes, engine_id: bytes, auth: AuthAlgorithm) -> bytes:
    """Kul = H(Ku || engineID || Ku)."""
    from pyasn1.type.univ import OctetString

    ku = password_key(password, auth)
    return bytes(_pysnmp().localkey.localize_key(ku, OctetString(engine_id), auth.hash_func))


def localize_priv_key(password: bytes, engine_id: bytes, auth: AuthAlgorithm, priv: PrivAlgorithm) -> bytes:
    """The privacy key: localized with the auth hash, then extended (Blumenthal / Reeder) if short."""
    from pyasn1.type.univ import OctetString

    lib = _pysnmp()
    service = lib.priv_services[priv.name]
    key = bytes(
        service.localize_key(lib.auth_ids[auth.name], password_key(password, auth), OctetString(engine_id))
    )
    if len(key) < priv.key_size:  # pysnmp never does this; a guard against silently short keys
        raise SnmpConfigError(f"{priv.name} key localisation gave {len(key)} bytes")
    return key[: priv.key_size]


# ------------------------------------------------------------------------ per-packet crypto

_IPAD = bytes(b ^ 0x36 for b in range(256))  # RFC 2104's pads, as bytes.translate tables
_OPAD = bytes(b ^ 0x5C for b in range(256))


class HmacKey:
    """HMAC (RFC 2104) with one key, truncated to `length` bytes: the key's inner and outer pad
    blocks are hashed once here, so a message costs only its own hashing plus two hash copies
    (hmac.digest sets the key up again on every call)."""

    __slots__ = ("_inner", "_outer", "length")

    def __init__(self, key: bytes, hash_name: str, length: int) -> None:
        inner = hashlib.new(hash_name)
        outer = hashlib.new(hash_name)
        block = inner.block_size
        if len(key) > block:
            key = hashlib.new(hash_name, key).digest()
        key = key.ljust(block, b"\x00")
        inner.update(key.translate(_IPAD))
        outer.update(key.translate(_OPAD))
        self._inner = inner
        self._outer = outer
        self.length = length

    def digest(self, *parts: bytes | memoryview) -> bytes:
        """The HMAC of the parts joined, truncated (no part is copied into a joined message)."""
        inner = self._inner.copy()
        for part in parts:
            inner.update(part)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()[: self.length]


class Privacy:
    """Encrypt/decrypt scoped PDUs with one localized key (per-packet work: keep it lean)."""

    __slots__ = ("_aes", "_cipher", "_des", "_pre_iv", "_salt")

    def __init__(self, algorithm: PrivAlgorithm, key: bytes, salt_seed: int | None = None) -> None:
        self._cipher = algorithm.cipher
        if algorithm.cipher == "des":
            # Single DES as 3DES with K1=K2=K3: `cryptography` only offers DES that way.
            self._des = TripleDES(key[:8] * 3)
            self._pre_iv = key[8:16]
            bits = 32
        else:
            self._aes = algorithms.AES(key)
            bits = 64
        seed = int.from_bytes(os.urandom(8), "big") if salt_seed is None else salt_seed
        self._salt = seed & ((1 << bits) - 1)

    def encrypt(self, plaintext: bytes, boots: int, engine_time: int) -> tuple[bytes, bytes]:
        """(ciphertext, msgPrivacyParameters)."""
        if self._cipher == "aes":
            # RFC 3826 3.1.2.1: IV = boots(4) || time(4) || 64-bit salt; the salt is a counter.
            salt = self._salt.to_bytes(8, "big")
            self._salt = (self._salt + 1) & 0xFFFFFFFFFFFFFFFF
            iv = boots.to_bytes(4, "big") + engine_time.to_bytes(4, "big") + salt
            enc = Cipher(self._aes, CFB(iv)).encryptor()
            return enc.update(plaintext) + enc.finalize(), salt
        # RFC 3414 8.1.1.1: salt = boots(4) || 32-bit counter; IV = salt XOR pre-IV; pad to 8 bytes.
        salt = boots.to_bytes(4, "big") + self._salt.to_bytes(4, "big")
        self._salt = (self._salt + 1) & 0xFFFFFFFF
        iv = bytes(a ^ b for a, b in zip(salt, self._pre_iv, strict=True))
        pad = -len(plaintext) % 8
        enc = Cipher(self._des, modes.CBC(iv)).encryptor()
        return enc.update(plaintext + b"\x00" * pad) + enc.finalize(), salt

    def decrypt(self, ciphertext: bytes | memoryview, boots: int, engine_time: int, salt: bytes) -> bytes:
        if len(salt) != 8:
            raise SnmpAuthError("reply has malformed privacy parameters (decryption error)")
        if self._cipher == "aes":
            iv = boots.to_bytes(4, "big") + engine_time.to_bytes(4, "big") + salt
            dec = Cipher(self._aes, CFB(iv)).decryptor()
            return dec.update(ciphertext) + dec.finalize()
        if len(ciphertext) % 8:
            raise SnmpAuthError("reply's encrypted PDU is not a multiple of 8 bytes (decryption error)")
        iv = bytes(a ^ b for a, b in zip(salt, self._pre_iv, strict=True))
        dec = Cipher(self._des, modes.CBC(iv)).decryptor()
        return dec.update(ciphertext) + dec.finalize()


# -------------------------------------------------------------------------------- the message


@dataclass(slots=True)
class V3Message:
    """A decoded SNMPv3 message; positions index into `buf` (auth params for the digest check)."""

    buf: bytes
    msg_id: int
    flags: int
    engine_id: bytes
    boots: int
    engine_time: int
    user: bytes
    auth_start: int
    auth_end: int
    priv_params: bytes
    data_tag: int  # SEQUENCE (plaintext ScopedPDU) or OCTET STRING (encrypted)
    data_pos: int  # where the msgData TLV starts
    data_start: int
    data_end: int


def parse_v3_message(buf: bytes) -> V3Message:
    """Take an SNMPv3/USM message apart without decrypting or checking anything cryptographic.

    The usual shape (minimal one-octet version, flags and security model, integers of 1-8 octets,
    lengths in short form or 0x81/0x82) is read in one pass; anything else, malformed datagrams
    included, goes to parse_v3_reference, which judges it (same answers: tests/snmp/test_usm.py).
    """
    try:
        end = len(buf)
        if buf[0] != SEQUENCE:
            raise IndexError
        s, n = content_at(buf, 0)
        e = s + n
        if e > end or buf[s : s + 3] != b"\x02\x01\x03" or buf[s + 3] != SEQUENCE:
            raise IndexError
        hs, n = content_at(buf, s + 3)  # msgGlobalData
        he = hs + n
        k = buf[hs + 1]
        q = hs + 2 + k
        if he > e or buf[hs] != 0x02 or not 0 < k <= 8:
            raise IndexError
        msg_id = int.from_bytes(buf[hs + 2 : q], "big", signed=True)
        k = buf[q + 1]  # msgMaxSize: checked, not kept
        r = q + 2 + k
        if buf[q] != 0x02 or not 0 < k <= 8 or r + 6 > he:
            raise IndexError
        if buf[r : r + 2] != b"\x04\x01" or buf[r + 3 : r + 6] != b"\x02\x01\x03":
            raise IndexError
        flags = buf[r + 2]
        if buf[he] != OCTET_STRING:  # msgSecurityParameters
            raise IndexError
        ss, n = content_at(buf, he)
        se = ss + n
        if se > e or buf[ss] != SEQUENCE:
            raise IndexError
        us, n = content_at(buf, ss)
        ue = us + n
        k = buf[us + 1]
        es = us + 2
        ee = es + k
        if ue > se or buf[us] != OCTET_STRING or k > 0x7F:
            raise IndexError
        k = buf[ee + 1]
        q = ee + 2 + k
        if buf[ee] != 0x02 or not 0 < k <= 8:
            raise IndexError
        boots = int.from_bytes(buf[ee + 2 : q], "big", signed=True)
        k = buf[q + 1]
        ns = q + 2 + k
        if buf[q] != 0x02 or not 0 < k <= 8:
            raise IndexError
        engine_time = int.from_bytes(buf[q + 2 : ns], "big", signed=True)
        k = buf[ns + 1]
        ne = ns + 2 + k
        if buf[ns] != OCTET_STRING or k > 0x7F:
            raise IndexError
        k = buf[ne + 1]
        auth_end = ne + 2 + k
        if buf[ne] != OCTET_STRING or k > 0x7F:
            raise IndexError
        k = buf[auth_end + 1]
        pe = auth_end + 2 + k
        if buf[auth_end] != OCTET_STRING or k > 0x7F or pe > ue:
            raise IndexError
        data_tag = buf[se]
        ds, n = content_at(buf, se)
        if ds + n > e or data_tag not in (SEQUENCE, OCTET_STRING):
            raise IndexError
        return V3Message(
            buf,
            msg_id,
            flags,
            bytes(buf[es:ee]),
            boots,
            engine_time,
            bytes(buf[ns + 2 : ne]),
            ne + 2,
            auth_end,
            bytes(buf[auth_end + 2 : pe]),
            data_tag,
            se,
            ds,
            ds + n,
        )
    except IndexError:
        return parse_v3_reference(buf)


def parse_v3_reference(buf: bytes) -> V3Message:
    """parse_v3_message step by step: any shape, and the precise error when malformed."""
    end = len(buf)
    s, e = expect(buf, 0, end, SEQUENCE)
    version, p = read_integer(buf, s, e)
    if version != 3:
        raise SnmpDecodeError(f"reply has SNMP version code {version}, expected 3")
    hs, he = expect(buf, p, e, SEQUENCE)
    msg_id, q = read_integer(buf, hs, he)
    _max_size, q = read_integer(buf, q, he)
    fs, fe = expect(buf, q, he, OCTET_STRING)
    if fe - fs != 1:
        raise SnmpDecodeError("msgFlags must be one octet")
    flags = buf[fs]
    model, _ = read_integer(buf, fe, he)
    if model != USM_SECURITY_MODEL:
        raise SnmpDecodeError(f"reply uses security model {model}, expected USM (3)")
    ss, se = expect(buf, he, e, OCTET_STRING)
    us, ue = expect(buf, ss, se, SEQUENCE)
    es, ee = expect(buf, us, ue, OCTET_STRING)
    boots, q = read_integer(buf, ee, ue)
    engine_time, q = read_integer(buf, q, ue)
    ns, ne = expect(buf, q, ue, OCTET_STRING)
    auth_start, auth_end = expect(buf, ne, ue, OCTET_STRING)
    ps, pe = expect(buf, auth_end, ue, OCTET_STRING)
    data_tag, ds, de = read_tl(buf, se, e)
    if data_tag not in (SEQUENCE, OCTET_STRING):
        raise SnmpDecodeError(f"msgData has tag 0x{data_tag:02x}")
    return V3Message(
        buf,
        msg_id,
        flags,
        bytes(buf[es:ee]),
        boots,
        engine_time,
        bytes(buf[ns:ne]),
        auth_start,
        auth_end,
        bytes(buf[ps:pe]),
        data_tag,
        se,
        ds,
        de,
    )


def parse_scoped_pdu(buf: bytes, start: int, end: int) -> tuple[bytes, bytes, Pdu]:
    """(contextEngineID, contextName, PDU) of a ScopedPDU SEQUENCE at start (trailing padding ignored).

    The usual shape in one pass, like parse_v3_message; anything else goes to parse_scoped_reference.
    """
    try:
        if buf[start] != SEQUENCE:
            raise IndexError
        s, n = content_at(buf, start)
        e = s + n
        k = buf[s + 1]
        cs = s + 2
        ce = cs + k
        if e > end or buf[s] != OCTET_STRING or k > 0x7F:
            raise IndexError
        k = buf[ce + 1]
        ne = ce + 2 + k
        if buf[ce] != OCTET_STRING or k > 0x7F or ne > e:
            raise IndexError
    except IndexError:
        return parse_scoped_reference(buf, start, end)
    return bytes(buf[cs:ce]), bytes(buf[ce + 2 : ne]), read_pdu(buf, ne, e)


def parse_scoped_reference(buf: bytes, start: int, end: int) -> tuple[bytes, bytes, Pdu]:
    """parse_scoped_pdu step by step."""
    s, e = expect(buf, start, end, SEQUENCE)
    cs, ce = expect(buf, s, e, OCTET_STRING)
    ns, ne = expect(buf, ce, e, OCTET_STRING)
    return bytes(buf[cs:ce]), bytes(buf[ns:ne]), parse_pdu(buf, ne, e)


def encode_v3_message(
    msg_id: int,
    flags: int,
    security_parameters: bytes,
    msg_data: bytes,
    max_size: int = MAX_MESSAGE_SIZE,
) -> bytes:
    header = tlv(
        SEQUENCE,
        encode_integer(msg_id)
        + encode_integer(max_size)
        + bytes((OCTET_STRING, 1, flags))
        + encode_integer(USM_SECURITY_MODEL),
    )
    return tlv(SEQUENCE, b"\x02\x01\x03" + header + tlv(OCTET_STRING, security_parameters) + msg_data)


def encode_usm_parameters(
    engine_id: bytes, boots: int, engine_time: int, user: bytes, auth: bytes, priv: bytes
) -> bytes:
    return tlv(
        SEQUENCE,
        tlv(OCTET_STRING, engine_id)
        + encode_integer(boots)
        + encode_integer(engine_time)
        + tlv(OCTET_STRING, user)
        + tlv(OCTET_STRING, auth)
        + tlv(OCTET_STRING, priv),
    )


# ------------------------------------------------------------------------------- the model


@dataclass(slots=True)
class EngineState:
    """What discovery learnt about the agent (the authoritative engine), and our local keys for it."""

    engine_id: bytes
    boots: int
    latest_time: int  # the agent's snmpEngineTime last received
    synced_at: float  # time.monotonic() when latest_time was received
    auth_key: HmacKey | None  # the localized auth key, set up for signing
    privacy: Privacy | None

    def clock(self) -> tuple[int, int]:
        """(boots, engine time now), advancing with the monotonic clock."""
        t = self.latest_time + int(time.monotonic() - self.synced_at)
        return self.boots, t if t < MAX_INT32 else MAX_INT32

    def set_clock(self, boots: int, engine_time: int) -> None:
        self.boots = boots
        self.latest_time = engine_time
        self.synced_at = time.monotonic()


class UsmSecurity:
    """SNMPv3 USM for one agent: discovery, time sync, keys, and per-packet encode/decode."""

    __slots__ = (
        "_auth",
        "_auth_password",
        "_confirmed",
        "_context",
        "_discoveries",
        "_engine",
        "_flags",
        "_global_tail",
        "_level",
        "_lock",
        "_priv",
        "_priv_password",
        "_rediscover",
        "_scoped_head",
        "_user",
        "_usm_engine",
        "_usm_user",
        "_verified",
    )

    def __init__(self, cred: Credentials) -> None:
        level = cred.authlevel
        if level not in ("noAuthNoPriv", "authNoPriv", "authPriv"):
            raise SnmpConfigError(f"unknown SNMPv3 security level {level!r}")
        if not cred.username:
            raise SnmpConfigError("SNMPv3 needs a user name")
        self._level = level
        self._user = cred.username.encode()
        self._context = cred.context.encode()
        self._auth: AuthAlgorithm | None = None
        self._priv: PrivAlgorithm | None = None
        self._auth_password = b""
        self._priv_password = b""
        flags = FLAG_REPORTABLE
        if level != "noAuthNoPriv":
            self._auth = auth_algorithm(cred.auth_algo)
            self._auth_password = _password(cred.auth_password, "auth")
            flags |= FLAG_AUTH
        if level == "authPriv":
            self._priv = priv_algorithm(cred.priv_algo)
            self._priv_password = _password(cred.priv_password, "privacy")
            flags |= FLAG_PRIV
        self._flags = flags
        # The constant parts of every request (the engine's are set by set_engine).
        self._global_tail = encode_integer(MAX_MESSAGE_SIZE) + bytes((OCTET_STRING, 1, flags, 0x02, 1, 3))
        digest_length = self._auth.digest_length if self._auth is not None else 0
        self._usm_user = tlv(OCTET_STRING, self._user) + bytes((OCTET_STRING, digest_length))
        self._usm_engine = self._scoped_head = b""
        self._engine: EngineState | None = None
        self._rediscover = False
        self._confirmed = False  # a response arrived since the last discovery
        self._verified = False  # an authenticated response passed the digest: the auth key is right
        self._discoveries = 0
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        auth = self._auth.name if self._auth else "-"
        priv = self._priv.name if self._priv else "-"
        return (
            f"UsmSecurity(user={self._user.decode(errors='replace')!r}, level={self._level}, {auth}/{priv})"
        )

    @property
    def engine(self) -> EngineState | None:
        return self._engine

    @property
    def discoveries(self) -> int:
        """How many engine-ID discoveries ran (for tests and stats)."""
        return self._discoveries

    # ------------------------------------------------------------------ discovery / sync

    async def prepare(self, exchange: Exchange, deadline: float) -> None:
        """Discover the agent's engine ID, boots and time once; cheap when already known."""
        if self._engine is not None and not self._rediscover:
            return
        async with self._lock:
            if self._engine is not None and not self._rediscover:
                return
            reply = await exchange(_discovery_message, deadline)
            try:
                msg = parse_v3_message(reply)
            except SnmpDecodeError as exc:
                raise SnmpProtocolError(f"engine-ID discovery got an unusable reply: {exc}") from None
            if not msg.engine_id:
                raise SnmpProtocolError("agent did not reveal its SNMPv3 engine ID")
            self.set_engine(msg.engine_id, msg.boots, msg.engine_time)
            self._discoveries += 1

    def set_engine(self, engine_id: bytes, boots: int, engine_time: int) -> None:
        """Adopt an authoritative engine: localize the keys (once per engine ID) and set the clock.

        Public for tests and for callers that already know the engine (a fixed engine ID).
        """
        old = self._engine
        if old is not None and old.engine_id == engine_id:
            old.set_clock(boots, engine_time)
        else:
            auth_key = privacy = None
            if self._auth is not None:
                key = localize_auth_key(self._auth_password, engine_id, self._auth)
                auth_key = HmacKey(key, self._auth.hash_name, self._auth.digest_length)
            if self._priv is not None:
                assert self._auth is not None
                key = localize_priv_key(self._priv_password, engine_id, self._auth, self._priv)
                privacy = Privacy(self._priv, key)
            self._usm_engine = tlv(OCTET_STRING, engine_id)
            self._scoped_head = self._usm_engine + tlv(OCTET_STRING, self._context)  # contextEngineID, name
            self._engine = EngineState(engine_id, boots, engine_time, time.monotonic(), auth_key, privacy)
            self._verified = False  # keys localized anew: not proven yet
        self._rediscover = False
        self._confirmed = False

    # ------------------------------------------------------------------ per packet

    def encode(self, pdu: bytes, msg_id: int) -> bytes:
        """The request message, built in one join with the lengths added up (the layers of
        encode_v3_message and encode_usm_parameters, which the discovery message uses, are not
        copied one into the next), signed over its parts with the digest field zeroed."""
        engine = self._engine
        if engine is None:
            raise SnmpProtocolError("SNMPv3 message built before engine discovery")
        boots, engine_time = engine.clock()
        scoped = tlv(SEQUENCE, self._scoped_head + pdu)
        privacy = engine.privacy
        if privacy is not None:
            ciphertext, salt = privacy.encrypt(scoped, boots, engine_time)
            msg_data = tlv(OCTET_STRING, ciphertext)
            priv = bytes((OCTET_STRING, len(salt))) + salt
        else:
            msg_data = scoped
            priv = b"\x04\x00"
        auth_key = engine.auth_key
        n = auth_key.length if auth_key is not None else 0
        clock = encode_integer(boots) + encode_integer(engine_time)
        usm_engine, usm_user = self._usm_engine, self._usm_user
        usm_length = len(usm_engine) + len(clock) + len(usm_user) + n + len(priv)
        usm_head = _head(SEQUENCE, usm_length)
        params_length = len(usm_head) + usm_length
        params_head = _head(OCTET_STRING, params_length)
        header = tlv(SEQUENCE, encode_integer(msg_id) + self._global_tail)
        total = 3 + len(header) + len(params_head) + params_length + len(msg_data)
        # everything up to the digest's content: msgVersion, msgGlobalData, the USM parameters so far
        message_head = _head(SEQUENCE, total) + b"\x02\x01\x03"
        head = b"".join((message_head, header, params_head, usm_head, usm_engine, clock, usm_user))
        if auth_key is None:
            return b"".join((head, priv, msg_data))
        mac = auth_key.digest(head, b"\x00" * n, priv, msg_data)
        return b"".join((head, mac, priv, msg_data))

    def decode(self, data: bytes) -> Pdu:
        engine = self._engine
        if engine is None:
            raise SnmpProtocolError("SNMPv3 reply before engine discovery")
        msg = parse_v3_message(data)
        authenticated = bool(msg.flags & FLAG_AUTH)
        if msg.flags & FLAG_PRIV and not authenticated:
            raise SnmpDecodeError("reply claims privacy without authentication")
        if authenticated:
            self._check_digest(msg, engine)
        if msg.flags & FLAG_PRIV:
            if engine.privacy is None:
                raise SnmpAuthError("reply is encrypted but no privacy protocol is configured")
            if msg.data_tag != OCTET_STRING:
                raise SnmpDecodeError("encrypted reply without an encryptedPDU")
            plain = engine.privacy.decrypt(
                memoryview(data)[msg.data_start : msg.data_end], msg.boots, msg.engine_time, msg.priv_params
            )
            try:
                _ctx_engine, _ctx_name, pdu = parse_scoped_pdu(plain, 0, len(plain))
            except SnmpDecodeError:
                raise SnmpAuthError(
                    f"cannot decrypt the reply for SNMPv3 user {self._user_name}: "
                    "wrong privacy password or protocol"
                ) from None
        else:
            if msg.data_tag != SEQUENCE:
                raise SnmpDecodeError("unencrypted reply without a ScopedPDU")
            _ctx_engine, _ctx_name, pdu = parse_scoped_pdu(data, msg.data_pos, len(data))

        if pdu.tag == REPORT:
            self._handle_report(pdu, msg, engine, authenticated)
        if pdu.tag != RESPONSE:
            raise SnmpDecodeError(f"reply is not a Response PDU (tag 0x{pdu.tag:02x})")
        if (msg.flags & (FLAG_AUTH | FLAG_PRIV)) != (self._flags & (FLAG_AUTH | FLAG_PRIV)):
            # after verified replies: the flags octet corrupted on the way (see _check_digest)
            failure = SnmpDecodeError if self._verified else SnmpAuthError
            raise failure("reply's security level differs from the request's")
        if msg.engine_id != engine.engine_id:
            raise SnmpDecodeError("reply comes from another SNMP engine than the one discovered")
        if msg.user != self._user:
            raise SnmpDecodeError("reply is for another SNMPv3 user")
        if pdu.request_id != msg.msg_id:  # the client uses msgID as request-id
            raise SnmpDecodeError("reply's request-id does not match its msgID")
        if authenticated:
            self._note_time(engine, msg)
            self._verified = True
        self._confirmed = True
        return pdu

    # ------------------------------------------------------------------ helpers

    @property
    def _user_name(self) -> str:
        return repr(self._user.decode(errors="replace"))

    def _check_digest(self, msg: V3Message, engine: EngineState) -> None:
        auth = self._auth
        if auth is None or engine.auth_key is None:
            raise SnmpAuthError("reply is authenticated but no auth protocol is configured")
        if msg.engine_id != engine.engine_id:
            raise SnmpAuthError("authenticated reply carries an unknown engine ID")
        buf = msg.buf
        n = auth.digest_length
        # Once replies authenticated with this key have been verified, the key is known to be
        # right: a digest that fails now is a datagram corrupted on the way, dropped and asked
        # again like any malformed one (SnmpDecodeError), not wrong credentials failing fast.
        failure = SnmpDecodeError if self._verified else SnmpAuthError
        if msg.auth_end - msg.auth_start != n:
            raise failure(f"reply's digest has {msg.auth_end - msg.auth_start} bytes, {auth.name} uses {n}")
        view = memoryview(buf)
        mac = engine.auth_key.digest(view[: msg.auth_start], b"\x00" * n, view[msg.auth_end :])
        if not hmac.compare_digest(mac, bytes(buf[msg.auth_start : msg.auth_end])):
            why = "corrupted on the way?" if self._verified else "wrong digest"
            raise failure(f"reply for SNMPv3 user {self._user_name} failed authentication ({why})")

    def _note_time(self, engine: EngineState, msg: V3Message) -> None:
        """RFC 3414 3.2.7 (non-authoritative side): keep the newest boots/time; refuse stale ones."""
        if msg.boots > engine.boots or (msg.boots == engine.boots and msg.engine_time > engine.latest_time):
            engine.set_clock(msg.boots, msg.engine_time)
            return
        _, now = engine.clock()
        if msg.boots == MAX_INT32 or msg.boots < engine.boots or msg.engine_time < now - TIME_WINDOW:
            raise SnmpDecodeError("authenticated reply is outside the time window (replayed?)")

    def _handle_report(self, pdu: Pdu, msg: V3Message, engine: EngineState, authenticated: bool) -> None:
        """Turn a REPORT into NeedsResync or a clear error; never returns normally."""
        try:
            varbinds = decode_varbinds(pdu)
        except SnmpDecodeError:
            varbinds = []
        oid = varbinds[0].oid if varbinds else ""
        user = self._user_name
        if oid == NOT_IN_TIME_WINDOWS:
            # RFC 3414 4: the report carries the agent's current boots/time. Take them even if lower
            # (an agent that lost its persistent state restarts boots at 1).
            if msg.engine_id == engine.engine_id:
                engine.set_clock(msg.boots, msg.engine_time)
            else:
                self._rediscover = True
            raise NeedsResync()
        if oid == UNKNOWN_ENGINE_IDS:
            if self._confirmed and msg.engine_id and msg.engine_id != engine.engine_id:
                # The agent's engine ID changed (replaced or re-provisioned device): discover again, once.
                self._rediscover = True
                raise NeedsResync()
            raise SnmpAuthError(f"agent does not know the SNMPv3 engine ID used for user {user}")
        if oid == WRONG_DIGESTS:
            raise SnmpAuthError(
                f"agent rejected the digest for SNMPv3 user {user}: wrong auth password or protocol"
            )
        if oid == UNKNOWN_USER_NAMES:
            raise SnmpAuthError(f"agent does not know SNMPv3 user {user}")
        if oid == UNSUPPORTED_SEC_LEVELS:
            raise SnmpAuthError(f"agent does not support security level {self._level} for SNMPv3 user {user}")
        if oid == DECRYPTION_ERRORS:
            raise SnmpAuthError(
                f"agent could not decrypt the request of SNMPv3 user {user}: "
                "wrong privacy password or protocol"
            )
        if oid in (UNKNOWN_CONTEXTS, UNAVAILABLE_CONTEXTS):
            raise SnmpAuthError(
                f"agent does not know SNMPv3 context {self._context.decode(errors='replace')!r}"
            )
        raise SnmpProtocolError(f"agent sent a report: {oid or 'without varbinds'}")


def _head(tag: int, n: int) -> bytes:
    """A TLV's tag and length octets for n octets of content."""
    return bytes((tag, n)) if n < 0x80 else bytes((tag,)) + encode_length(n)


def _password(value: str, what: str) -> bytes:
    raw = value.encode()
    if len(raw) < MIN_PASSWORD_LENGTH:
        raise SnmpConfigError(f"SNMPv3 {what} password must have at least {MIN_PASSWORD_LENGTH} characters")
    return raw


def _discovery_message(msg_id: int) -> bytes:
    """RFC 3414 4: noAuthNoPriv, reportable GET with empty engine ID and user, no varbinds."""
    scoped = tlv(
        SEQUENCE, tlv(OCTET_STRING, b"") + tlv(OCTET_STRING, b"") + encode_pdu(GET, msg_id, b"\x30\x00")
    )
    params = encode_usm_parameters(b"", 0, 0, b"", b"", b"")
    return encode_v3_message(msg_id, FLAG_REPORTABLE, params, scoped)


__all__ = ["UsmSecurity"]
