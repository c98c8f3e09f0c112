"""Log output: readable or JSON, every device line names its device, and planted secrets never come out."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from poller.logs import MASK, device_logger, setup_logging
from poller.model import Credentials, Device, Target

COMMUNITY = "c0mmun1ty-Xyz"
PASSWORD = "p@ss(w)rd.*+"


@pytest.fixture(autouse=True)
def _restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.captureWarnings(False)


def a_device() -> Device:
    credentials = Credentials(
        version="3", community=COMMUNITY, auth_password=PASSWORD, priv_password="privpriv"
    )
    return Device(
        device_id=42, hostname="core-1.example.net", target=Target("192.0.2.1", credentials=credentials)
    )


def output(
    fmt: str = "text", secrets: tuple[str, ...] = (COMMUNITY, PASSWORD)
) -> tuple[io.StringIO, logging.Logger]:
    stream = io.StringIO()
    setup_logging("DEBUG", fmt, secrets=secrets, stream=stream)  # type: ignore[arg-type]
    return stream, logging.getLogger("fastpoll.test")


def test_text_lines_are_readable_and_name_the_device() -> None:
    stream, logger = output()
    device_logger(logger, a_device()).warning("poll took %.1f s", 3.25)
    line = stream.getvalue().strip()
    assert line.endswith("WARNING fastpoll.test: [device 42 core-1.example.net] poll took 3.2 s")


def test_lines_not_about_a_device_have_no_device_prefix() -> None:
    stream, logger = output()
    logger.info("started")
    assert stream.getvalue().strip().endswith("INFO    fastpoll.test: started")


def test_json_lines_are_one_object_each_with_the_device_fields() -> None:
    stream, logger = output("json")
    log = device_logger(logger, a_device())
    log.info("first")
    log.error("second", extra={"oid": "1.3.6.1.2.1.1.3.0"})
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["message"] == "first"
    assert first["level"] == "INFO"
    assert first["logger"] == "fastpoll.test"
    assert (first["device_id"], first["hostname"]) == (42, "core-1.example.net")
    assert second["oid"] == "1.3.6.1.2.1.1.3.0"
    assert second["device_id"] == 42


def test_the_level_setting_drops_lower_levels() -> None:
    stream = io.StringIO()
    setup_logging("WARNING", "text", stream=stream)
    logging.getLogger("x").info("hidden")
    logging.getLogger("x").warning("shown")
    assert "hidden" not in stream.getvalue()
    assert "shown" in stream.getvalue()


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_a_secret_in_the_message_is_masked(fmt: str) -> None:
    stream, logger = output(fmt)
    logger.info(f"sending with community {COMMUNITY} and {PASSWORD}")
    assert COMMUNITY not in stream.getvalue()
    assert PASSWORD not in stream.getvalue()
    assert MASK in stream.getvalue()


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_a_secret_in_the_arguments_is_masked(fmt: str) -> None:
    stream, logger = output(fmt)
    logger.info("credentials %s / %r", COMMUNITY, {"password": PASSWORD})
    assert COMMUNITY not in stream.getvalue()
    assert PASSWORD not in stream.getvalue()


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_a_secret_in_an_exception_and_its_traceback_is_masked(fmt: str) -> None:
    stream, logger = output(fmt)
    try:
        community = COMMUNITY  # a local in the frame, and in the exception text
        raise ValueError(f"agent refused community {community}")
    except ValueError:
        logger.exception("poll failed")
    text = stream.getvalue()
    assert "Traceback" in text
    assert "agent refused community" in text
    assert COMMUNITY not in text


def test_a_secret_in_the_stack_info_is_masked() -> None:
    stream, logger = output()
    logger.info("at %s", "c0mmun1ty-Xyz", stack_info=True)  # this source line is part of the stack text
    assert "Stack (most recent call last)" in stream.getvalue()
    assert 'logger.info("at %s", "***", stack_info=True)' in stream.getvalue()
    assert COMMUNITY not in stream.getvalue()


def test_a_secret_in_extra_fields_is_masked() -> None:
    stream, logger = output("json")
    logger.info("request", extra={"community": COMMUNITY})
    assert json.loads(stream.getvalue())["community"] == MASK


def test_a_secret_registered_after_setup_is_masked_from_then_on() -> None:
    stream = io.StringIO()
    redaction = setup_logging("INFO", "text", stream=stream)
    redaction.register(*a_device().target.credentials.secrets())
    logging.getLogger("fastpoll.snmp").warning("auth failed with %s", "privpriv")
    assert "privpriv" not in stream.getvalue()


def test_secrets_stay_masked_when_logging_is_set_up_again() -> None:
    first = setup_logging("INFO", "text", stream=io.StringIO())
    first.register(COMMUNITY)  # e.g. from the inventory
    stream = io.StringIO()
    setup_logging("INFO", "json", secrets=[PASSWORD], stream=stream)  # a configuration reload
    logging.getLogger("fastpoll").info("%s %s", COMMUNITY, PASSWORD)
    assert json.loads(stream.getvalue())["message"] == "*** ***"


def test_records_of_other_libraries_are_masked_too() -> None:
    stream, _ = output()
    logging.getLogger("pysnmp.carrier").debug("outgoing %s", COMMUNITY.encode())
    assert COMMUNITY not in stream.getvalue()


def test_a_secret_containing_another_is_masked_whole() -> None:
    stream, logger = output(secrets=("abcd", "abcdefgh"))
    logger.info("x abcdefgh y")
    assert stream.getvalue().strip().endswith("x *** y")


def test_warnings_go_through_the_same_filter() -> None:
    import warnings

    stream, _ = output()
    warnings.warn(f"deprecated call with {PASSWORD}", UserWarning, stacklevel=1)
    assert "deprecated call" in stream.getvalue()
    assert PASSWORD not in stream.getvalue()


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    secret=st.text(
        st.characters(blacklist_characters="*", blacklist_categories=("Cs",)), min_size=1, max_size=30
    ),
    before=st.text(max_size=20),
    after=st.text(max_size=20),
)
def test_any_planted_secret_never_reaches_the_message(secret: str, before: str, after: str) -> None:
    stream = io.StringIO()
    setup_logging("INFO", "json", secrets=[secret], stream=stream)
    logging.getLogger("fastpoll").info("%s%s%s", before, secret, after)
    message = json.loads(stream.getvalue())["message"]
    assert secret not in message
