"""SNMPv3 agents on loopback: net-snmp's snmpd and snmpsim, one USM user per auth/priv combination.

User names say what they use: "v3_<auth>_<priv>" (e.g. "v3_sha-256_aes-192-c", "v3_md5_none"),
plus "v3_none_none" for noAuthNoPriv. Every user has the same pass phrases (V3_AUTH_PASSWORD,
V3_PRIV_PASSWORD); both agents also answer v2c (snmpd: community "public"; snmpsim: the recording's
name) so a v3 answer can be compared with the v2c answer of the same agent.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from poller.model import AUTH_ALGOS, PRIV_ALGOS, Credentials, Target
from tests.support.agents import snmpsim
from tests.support.net import free_udp_port, wait_for_agent
from tests.support.shared import SNMPREC_DIR, require_shared

V3_AUTH_PASSWORD = "auth-secret-1234"
V3_PRIV_PASSWORD = "priv-secret-5678"
SNMPSIM_RECORDING = "ios"  # 61 interfaces: table walks take several GETBULKs

# fastpoll / LibreNMS names -> what each agent calls them (see poller/snmp/usm.py's docstring).
SNMPD_AUTH = {a: a for a in AUTH_ALGOS}
SNMPD_PRIV = {p: p for p in PRIV_ALGOS}  # net-snmp 5.9.3 (Debian) has all six, -C = Cisco/Reeder
SNMPSIM_AUTH = {"MD5": "MD5", "SHA": "SHA", "SHA-224": "SHA224", "SHA-256": "SHA256"}
SNMPSIM_AUTH |= {"SHA-384": "SHA384", "SHA-512": "SHA512"}
SNMPSIM_PRIV = {"DES": "DES", "AES": "AES", "AES-192": "AES192BLMT", "AES-256": "AES256BLMT"}
SNMPSIM_PRIV |= {"AES-192-C": "AES192", "AES-256-C": "AES256"}  # pysnmp's plain AES192 is Reeder


def combinations() -> list[tuple[str | None, str | None]]:
    """(auth, priv) for every security level: noAuthNoPriv, each auth alone, each auth with each priv."""
    out: list[tuple[str | None, str | None]] = [(None, None)]
    for auth in AUTH_ALGOS:
        out.append((auth, None))
        out.extend((auth, priv) for priv in PRIV_ALGOS)
    return out


def user_name(auth: str | None, priv: str | None) -> str:
    return f"v3_{(auth or 'none').lower()}_{(priv or 'none').lower()}"


def v3_credentials(auth: str | None, priv: str | None, **override: str) -> Credentials:
    level = "authPriv" if priv else "authNoPriv" if auth else "noAuthNoPriv"
    fields: dict[str, str] = {
        "version": "3",
        "authlevel": level,
        "username": user_name(auth, priv),
        "auth_algo": auth or "SHA",
        "auth_password": V3_AUTH_PASSWORD if auth else "",
        "priv_algo": priv or "AES",
        "priv_password": V3_PRIV_PASSWORD if priv else "",
    }
    fields.update(override)
    return Credentials(**fields)  # type: ignore[arg-type]


@dataclass(frozen=True)
class V3Agent:
    name: str
    host: str
    port: int
    community: str  # v2c community of the same data
    context: str  # SNMPv3 context name selecting the same data

    def v2c(self, **kw: object) -> Target:
        return Target(self.host, self.port, credentials=Credentials("2c", self.community), **kw)  # type: ignore[arg-type]

    def v3(
        self, auth: str | None, priv: str | None, timeout: float = 1.0, retries: int = 2, **cred: str
    ) -> Target:
        credentials = v3_credentials(auth, priv, context=self.context, **cred)
        return Target(self.host, self.port, credentials=credentials, timeout=timeout, retries=retries)


def _require_tool(path: str | None, what: str) -> str:
    if path:
        return path
    if os.environ.get("CI"):
        pytest.fail(f"{what} is required in CI but not installed")
    pytest.skip(f"{what} not installed")


def snmpd_config(port: int) -> str:
    lines = [f"agentaddress udp:127.0.0.1:{port}", "rocommunity public 127.0.0.1"]
    for auth, priv in combinations():
        name = user_name(auth, priv)
        if auth is None:
            lines += [f"createUser {name}", f"rouser {name} noauth"]
        elif priv is None:
            lines += [f"createUser {name} {SNMPD_AUTH[auth]} {V3_AUTH_PASSWORD}", f"rouser {name} auth"]
        else:
            keys = f"{SNMPD_AUTH[auth]} {V3_AUTH_PASSWORD} {SNMPD_PRIV[priv]} {V3_PRIV_PASSWORD}"
            lines.append(f"createUser {name} {keys}")
            lines.append(f"rouser {name} priv")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="session")
def snmpd_v3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[V3Agent]:
    """net-snmp's snmpd on 127.0.0.1:<free port> with every v3 user; all state under a tmp dir."""
    exe = _require_tool(shutil.which("snmpd") or shutil.which("/usr/sbin/snmpd"), "net-snmp snmpd")
    tmp = tmp_path_factory.mktemp("snmpd-v3")
    port = free_udp_port()
    conf = tmp / "snmpd.conf"
    conf.write_text(snmpd_config(port))
    log = tmp / "snmpd.log"
    # -C: only our config; SNMP_PERSISTENT_DIR keeps the usmUser store (and engine boots) in tmp.
    env = dict(os.environ, SNMP_PERSISTENT_DIR=str(tmp / "persist"), MIBS="")
    cmd = [exe, "-f", "-Lf", str(log), "-C", "-c", str(conf), "-p", str(tmp / "snmpd.pid"), "-M", str(tmp)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        try:
            wait_for_agent("127.0.0.1", port, "public", timeout=30)
        except TimeoutError:
            proc.kill()
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"snmpd did not start: {tail}") from None
        yield V3Agent("snmpd", "127.0.0.1", port, "public", "")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def snmpsim_v3_args() -> tuple[str, ...]:
    args: list[str] = []
    for auth, priv in combinations():
        args += ["--v3-user", user_name(auth, priv)]
        if auth is not None:
            args += ["--v3-auth-key", V3_AUTH_PASSWORD, "--v3-auth-proto", SNMPSIM_AUTH[auth]]
        if priv is not None:
            args += ["--v3-priv-key", V3_PRIV_PASSWORD, "--v3-priv-proto", SNMPSIM_PRIV[priv]]
    return tuple(args)


@pytest.fixture(scope="session")
def snmpsim_v3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[V3Agent]:
    """snmpsim serving one shared recording to v2c (community) and to every v3 user (context name)."""
    require_shared()
    data = tmp_path_factory.mktemp("snmpsim-v3-data")
    # A copy in tmp (snmpsim resolves symlinks and then cannot name the data file): one recording
    # indexes in a moment, the whole ../shared/snmprec would not.
    shutil.copy(Path(SNMPREC_DIR) / f"{SNMPSIM_RECORDING}.snmprec", data)
    cache = tmp_path_factory.mktemp("snmpsim-v3-cache")
    with snmpsim(data, SNMPSIM_RECORDING, cache, extra_args=snmpsim_v3_args()) as agent:
        yield V3Agent("snmpsim", agent.host, agent.port, SNMPSIM_RECORDING, SNMPSIM_RECORDING)
