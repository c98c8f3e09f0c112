"""sync/cli.py: ``fastpoll sync`` against a real Payload and LibreNMS's schema in MariaDB."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import sqlalchemy as sa

from sync import cli

pytestmark = [pytest.mark.payload, pytest.mark.mariadb]


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="fastpoll")
    cli.add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["sync", *argv])


@pytest.fixture
def two_devices(librenms_url: str) -> str:
    engine = sa.create_engine(librenms_url)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO devices (device_id, hostname, status_reason, status) VALUES"
                " (1, 'r1.example.net', '', 1), (2, 'r2.example.net', '', 0)"
            )
        )
    engine.dispose()
    return librenms_url


async def test_dry_run_prints_the_plan_as_a_table_and_writes_nothing(payload, two_devices, capsys):
    base_url, key = payload
    args = parse("--db", two_devices, "--payload-url", base_url, "--dry-run")
    status = await cli.run(args, {"FASTPOLL_PAYLOAD_API_KEY": key})
    out = capsys.readouterr().out
    assert status == 0
    assert "sync plan" in out and "r1.example.net" in out and "create" in out
    assert "dry run: create 2" in out
    again = await cli.run(
        parse("--db", two_devices, "--payload-url", base_url), {"FASTPOLL_PAYLOAD_API_KEY": key}
    )
    assert again == 0 and "written 2" in capsys.readouterr().out  # nothing was written by the dry run


async def test_apply_prints_a_summary_and_a_rerun_writes_nothing(
    payload, two_devices, capsys, tmp_path: Path
):
    base_url, key = payload
    key_file = tmp_path / "payload.key"
    key_file.write_text(key)
    env = {"FASTPOLL_PAYLOAD_API_KEY_FILE": str(key_file)}
    assert await cli.run(parse("--db", two_devices, "--payload-url", base_url), env) == 0
    assert "created 2" in capsys.readouterr().out
    assert await cli.run(parse("--db", two_devices, "--payload-url", base_url), env) == 0
    assert "written 0" in capsys.readouterr().out


async def test_a_wrong_key_exits_2_with_a_clear_message_and_no_key_in_it(payload, two_devices, capsys):
    base_url, _ = payload
    status = await cli.run(
        parse("--db", two_devices, "--payload-url", base_url), {"FASTPOLL_PAYLOAD_API_KEY": "wrong-key-123"}
    )
    out = capsys.readouterr().out
    assert status == 2 and "refused the API key" in out and "wrong-key-123" not in out


async def test_no_key_exits_2_naming_the_variables(two_devices, capsys):
    status = await cli.run(parse("--db", two_devices), {})
    assert status == 2 and "FASTPOLL_PAYLOAD_API_KEY" in capsys.readouterr().out
