"""What SNMPv3 (authPriv SHA/AES) costs the poller per packet, against v2c, on the device-poll workload.

Starts its own net-snmp snmpd on loopback serving a synthetic 48-interface device (the 8 IF-MIB columns
of benchmarks/workload.py as `override` lines, real interface tables off), then polls it sequentially
N times over v2c and N times over v3 and reports the polling process's CPU (time.process_time) per
device-poll and per request. A second part times usm.encode + usm.decode alone (no I/O), which is
the part of the difference fastpoll's own code is responsible for.

    .venv/bin/python benchmarks/v3_cost.py                  # 300 device-polls each
    .venv/bin/python benchmarks/v3_cost.py --polls 1000 --auth SHA-256 --priv AES-256
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.workload import COLUMNS, MAX_REPETITIONS, SCALARS
from poller.model import Credentials, Target
from poller.snmp.ber import SEQUENCE, encode_oid, encode_value, tlv
from poller.snmp.client import SnmpEngine
from poller.snmp.pdu import GETBULK, RESPONSE, encode_pdu, varbind_list
from poller.snmp.usm import UsmSecurity
from poller.snmp.values import Tag
from tests.support.net import free_udp_port, wait_for_agent

INTERFACES = 48
USER, AUTH_PW, PRIV_PW = "bench", "bench-auth-pass", "bench-priv-pass"


def snmpd_config(port: int, auth: str, priv: str) -> str:
    lines = [
        f"agentaddress udp:127.0.0.1:{port}",
        "rocommunity public 127.0.0.1",
        f"createUser {USER} {auth} {AUTH_PW} {priv} {PRIV_PW}",
        f"rouser {USER} priv",
        "maxGetbulkResponses 64",
        "[snmp] serverRecvBuf 4194304",
    ]
    for i in range(1, INTERFACES + 1):
        lines += [
            f"override 1.3.6.1.2.1.2.2.1.8.{i} integer 1",
            f"override 1.3.6.1.2.1.2.2.1.7.{i} integer 1",
            f"override 1.3.6.1.2.1.31.1.1.1.6.{i} counter {1_000_000 * i}",  # no Counter64 in override
            f"override 1.3.6.1.2.1.31.1.1.1.10.{i} counter {2_000_000 * i}",
            f"override 1.3.6.1.2.1.2.2.1.14.{i} counter {i}",
            f"override 1.3.6.1.2.1.2.2.1.20.{i} counter {i}",
            f"override 1.3.6.1.2.1.2.2.1.13.{i} counter {i}",
            f"override 1.3.6.1.2.1.31.1.1.1.15.{i} uinteger 1000",
        ]
    return "\n".join(lines) + "\n"


async def poll(engine: SnmpEngine, target: Target) -> int:
    values = len(await engine.get(target, SCALARS))
    table = await engine.walk_table(target, COLUMNS, max_repetitions=MAX_REPETITIONS)
    return values + sum(len(col) for col in table.values())


async def measure(target: Target, polls: int) -> dict[str, float]:
    async with SnmpEngine() as engine:
        values = await poll(engine, target)  # warm-up: discovery, keys, caches
        stats = engine.device_stats(target)
        assert stats is not None
        requests_before = stats.requests
        cpu, times, wall = time.process_time(), os.times(), time.perf_counter()
        for _ in range(polls):
            await poll(engine, target)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        user, system = os.times().user - times.user, os.times().system - times.system
        requests = stats.requests - requests_before
    return {
        "values_per_poll": values,
        "requests_per_poll": requests / polls,
        "cpu_ms_per_poll": 1000 * cpu / polls,
        "cpu_us_per_request": 1e6 * cpu / requests,
        "user_us_per_request": 1e6 * user / requests,  # our Python: codec, USM, event loop
        "system_us_per_request": 1e6 * system / requests,  # the kernel: sendto/recvfrom on loopback
        "wall_ms_per_poll": 1000 * wall / polls,
    }


def codec_cost(auth: str, priv: str) -> dict[str, float]:
    """usm.encode of the walk's GETBULK and usm.decode of a 64-varbind response, no I/O (best-of-5 us)."""
    cred = Credentials("3", authlevel="authPriv", username=USER, auth_algo=auth, auth_password=AUTH_PW,
                       priv_algo=priv, priv_password=PRIV_PW)  # fmt: skip
    usm = UsmSecurity(cred)
    usm.set_engine(bytes.fromhex("80001f8880e9bd0c1d12667a51"), 1, 100)
    request = encode_pdu(GETBULK, 1, varbind_list(list(COLUMNS)), 0, MAX_REPETITIONS)
    varbinds = b"".join(
        tlv(
            SEQUENCE,
            encode_oid(f"{COLUMNS[i % 8]}.{i // 8 + 1}") + encode_value(Tag.COUNTER32, 123456789 * i),
        )
        for i in range(64)
    )
    wire = usm.encode(encode_pdu(RESPONSE, 1, tlv(SEQUENCE, varbinds)), 1)  # a reply has the request's shape
    n = 10000
    enc = min(timeit.repeat(lambda: usm.encode(request, 1), number=n, repeat=5)) / n
    dec = min(timeit.repeat(lambda: usm.decode(wire), number=n, repeat=5)) / n
    return {"encode_us": enc * 1e6, "decode_us": dec * 1e6, "response_bytes": len(wire)}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--polls", type=int, default=300)
    parser.add_argument("--auth", default="SHA")
    parser.add_argument("--priv", default="AES")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    exe = shutil.which("snmpd") or "/usr/sbin/snmpd"
    tmp = Path(tempfile.mkdtemp(prefix="v3cost-"))
    port = free_udp_port()
    (tmp / "snmpd.conf").write_text(snmpd_config(port, args.auth, args.priv))
    env = dict(os.environ, SNMP_PERSISTENT_DIR=str(tmp / "persist"), MIBS="")
    cmd = [exe, "-f", "-Lf", str(tmp / "snmpd.log"), "-C", "-c", str(tmp / "snmpd.conf"),
           "-p", str(tmp / "snmpd.pid"), "-M", str(tmp), "-I", "-ifTable,-ifXTable,-interfaces"]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: ASYNC220
    try:
        wait_for_agent("127.0.0.1", port, "public", timeout=30)
        v2c = Target("127.0.0.1", port, credentials=Credentials("2c", "public"))
        v3 = Target("127.0.0.1", port, credentials=Credentials(
            "3", authlevel="authPriv", username=USER, auth_algo=args.auth, auth_password=AUTH_PW,
            priv_algo=args.priv, priv_password=PRIV_PW))  # fmt: skip
        rounds: dict[str, list[dict[str, float]]] = {"v2c": [], "v3": []}
        for _ in range(args.rounds):  # interleaved, medians: the machine is shared and noisy
            rounds["v2c"].append(await measure(v2c, args.polls))
            rounds["v3"].append(await measure(v3, args.polls))
        results = {
            "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
            "workload": f"device-poll (3 GETs + 8 columns x {INTERFACES} interfaces), sequential",
            "polls": args.polls,
            "rounds (medians)": args.rounds,
            "v2c": _medians(rounds["v2c"]),
            f"v3 {args.auth}/{args.priv}": _medians(rounds["v3"]),
            "usm codec alone": codec_cost(args.auth, args.priv),
        }
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(tmp, ignore_errors=True)
    a, b = results["v2c"], results[f"v3 {args.auth}/{args.priv}"]
    results["v3 extra cpu per request (us)"] = b["cpu_us_per_request"] - a["cpu_us_per_request"]
    results["v3 extra user cpu per request (us)"] = b["user_us_per_request"] - a["user_us_per_request"]
    results["v3 / v2c cpu per poll"] = b["cpu_ms_per_poll"] / a["cpu_ms_per_poll"]
    print(json.dumps(_rounded(results), indent=2))


def _medians(samples: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(s[key] for s in samples) for key in samples[0]}


def _rounded(value: object) -> object:
    if isinstance(value, float):
        return round(value, 2)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    return value


if __name__ == "__main__":
    asyncio.run(main())
