"""`fastpoll get` / `fastpoll walk` against snmpsim, as an operator would run them."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from poller.cli import _split_host_port, main

pytestmark = pytest.mark.snmpsim


def fastpoll(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "poller.cli", *args], capture_output=True, text=True, timeout=60, env=env
    )


def test_walk_json_prints_one_object_per_varbind(shared_snmpsim):
    out = fastpoll(
        "walk", f"127.0.0.1:{shared_snmpsim.port}", "1.3.6.1.2.1.2.2.1.2", "-c", "linux_ntc", "--json"
    )
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert rows[0] == {"oid": "1.3.6.1.2.1.2.2.1.2.1", "type": "OctetString", "value": "lo"}
    assert len(rows) == 7


def test_get_prints_type_and_value(shared_snmpsim, capsys):
    rc = main(["get", "127.0.0.1", "-p", str(shared_snmpsim.port), "-c", "linux_ntc", "1.3.6.1.2.1.1.3.0"])
    assert rc == 0
    assert capsys.readouterr().out.strip() == "1.3.6.1.2.1.1.3.0 = TimeTicks: 11386051"


def test_non_printable_octet_strings_print_as_hex(shared_snmpsim, capsys):
    main(["get", f"127.0.0.1:{shared_snmpsim.port}", "-c", "ios", "--json", "1.3.6.1.2.1.2.2.1.6.1"])
    assert json.loads(capsys.readouterr().out)["value"] == "001de58498c0"


def test_a_wrong_community_fails_with_exit_1_and_never_prints_the_community(shared_snmpsim):
    out = fastpoll(
        "get",
        f"127.0.0.1:{shared_snmpsim.port}",
        "1.3.6.1.2.1.1.3.0",
        "-c",
        "s3cr3t-c0mmunity",
        "-t",
        "0.2",
        "-r",
        "0",
    )
    assert out.returncode == 1
    assert "no response" in out.stderr
    assert "s3cr3t-c0mmunity" not in out.stderr + out.stdout


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10.0.0.1", ("10.0.0.1", 161)),
        ("10.0.0.1:1161", ("10.0.0.1", 1161)),
        ("[::1]:1161", ("::1", 1161)),
        ("::1", ("::1", 161)),
    ],
)
def test_targets_accept_host_port_forms(text, expected):
    assert _split_host_port(text, None) == expected
