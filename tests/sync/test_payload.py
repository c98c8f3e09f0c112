"""sync/payload.py: the client's own behaviour (retry, circuit breaker, error mapping, key handling).

These use httpx.MockTransport replaying the exact answers a real Payload 3.90 gave (RECIPE.md); the same
behaviours against the real server are in test_payload_live.py.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from sync.models import NetworkDeviceCreate, NetworkDevicePatch
from sync.payload import (
    CircuitBreaker,
    PayloadAuthError,
    PayloadCircuitOpen,
    PayloadClient,
    PayloadCoercionError,
    PayloadConfigError,
    PayloadNotFound,
    PayloadServerError,
    PayloadUnavailable,
    PayloadValidationError,
    RetryPolicy,
    api_key_from_env,
    where_params,
)

KEY = "5f0c3a52-4d6e-4f0e-9d7b-secret-key-42"
FORBIDDEN = {"errors": [{"message": "You are not allowed to perform this action."}]}
UNIQUE_HOSTNAME = {
    "errors": [
        {
            "name": "A",  # minified ValidationError, as `next start` sends it
            "data": {
                "collection": "network-devices",
                "errors": [
                    {"message": "Value must be unique", "path": "hostname", "tableName": "network_devices"}
                ],
            },
            "message": "The following field is invalid: hostname",
        }
    ]
}


class Recorder:
    """A MockTransport handler that answers from a list and records the requests."""

    def __init__(
        self, *answers: httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]
    ) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        if callable(answer):
            return answer(request)
        return answer


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def make_client(handler: Recorder, *, sleeps: list[float] | None = None, **kw) -> PayloadClient:
    async def fake_sleep(seconds: float) -> None:
        if sleeps is not None:
            sleeps.append(seconds)

    return PayloadClient(
        "http://127.0.0.1:3000", KEY, transport=httpx.MockTransport(handler), sleep=fake_sleep, **kw
    )


def doc(**fields) -> dict:
    return {
        "id": 1,
        "createdAt": "2026-01-01T00:00:00.000Z",
        "updatedAt": "2026-01-01T00:00:00.000Z",
        **fields,
    }


def created(body: dict) -> httpx.Response:
    return httpx.Response(201, json={"doc": doc(**body), "message": "Network Device successfully created."})


def echo_create(request: httpx.Request) -> httpx.Response:
    return created(json.loads(request.content))


# -- auth header and key secrecy ----------------------------------------------------------------------


async def test_requests_carry_the_users_api_key_header_and_json_content_type():
    rec = Recorder(httpx.Response(200, json={"docs": [], "totalDocs": 0, "page": 1, "hasNextPage": False}))
    async with make_client(rec) as client:
        await client.find("network-devices")
    assert rec.requests[0].headers["Authorization"] == f"users API-Key {KEY}"
    assert rec.requests[0].headers["Content-Type"] == "application/json"


async def test_a_post_body_is_sent_as_json_with_its_content_type():
    rec = Recorder(echo_create)
    async with make_client(rec) as client:
        await client.create("network-devices", NetworkDeviceCreate(hostname="r1"))
    assert rec.requests[0].headers["Content-Type"] == "application/json"
    assert json.loads(rec.requests[0].content) == {"hostname": "r1"}


async def test_the_api_key_is_in_no_log_repr_or_exception(caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.DEBUG)
    rec = Recorder(httpx.ConnectError("refused"), httpx.Response(403, json=FORBIDDEN))
    client = make_client(rec, retry=RetryPolicy(attempts=2))
    texts = [repr(client), str(client.__dict__)]
    with pytest.raises(PayloadAuthError) as exc_info:
        await client.find("network-devices")
    texts += [str(exc_info.value), repr(exc_info.value), repr(exc_info.value.__cause__), caplog.text]
    texts += [repr(rec.requests[0].headers)]
    await client.aclose()
    assert all(KEY not in text for text in texts)


def test_api_key_comes_from_the_environment_variable():
    assert api_key_from_env({"FASTPOLL_PAYLOAD_API_KEY": KEY}).get_secret_value() == KEY


def test_api_key_comes_from_the_file_named_by_the_environment(tmp_path: Path):
    key_file = tmp_path / "key"
    key_file.write_text(KEY + "\n")
    assert api_key_from_env({"FASTPOLL_PAYLOAD_API_KEY_FILE": str(key_file)}).get_secret_value() == KEY


def test_a_missing_api_key_is_a_clear_config_error():
    with pytest.raises(PayloadConfigError, match="FASTPOLL_PAYLOAD_API_KEY"):
        api_key_from_env({})


def test_an_unreadable_key_file_is_a_config_error_naming_the_file(tmp_path: Path):
    with pytest.raises(PayloadConfigError, match="nope"):
        api_key_from_env({"FASTPOLL_PAYLOAD_API_KEY_FILE": str(tmp_path / "nope")})


def test_giving_both_key_and_key_file_is_refused(tmp_path: Path):
    with pytest.raises(PayloadConfigError, match="only one"):
        api_key_from_env({"FASTPOLL_PAYLOAD_API_KEY": KEY, "FASTPOLL_PAYLOAD_API_KEY_FILE": "/x"})


# -- error mapping --------------------------------------------------------------------------------------


async def test_403_on_a_collection_means_the_api_key_was_refused():
    async with make_client(Recorder(httpx.Response(403, json=FORBIDDEN))) as client:
        with pytest.raises(PayloadAuthError, match="API key"):
            await client.find("network-devices")


async def test_validation_errors_are_recognised_by_status_and_paths_not_by_the_minified_name():
    async with make_client(Recorder(httpx.Response(400, json=UNIQUE_HOSTNAME))) as client:
        with pytest.raises(PayloadValidationError) as exc_info:
            await client.create("network-devices", NetworkDeviceCreate(hostname="r1"))
    assert exc_info.value.paths == ("hostname",)
    assert exc_info.value.unique_violations == ("hostname",)
    assert exc_info.value.status == 400


async def test_a_query_error_names_the_path_that_cannot_be_queried():
    body = {
        "errors": [
            {
                "name": "o",
                "data": [{"path": "nofield"}],
                "message": "The following path cannot be queried: nofield",
            }
        ]
    }
    async with make_client(Recorder(httpx.Response(400, json=body))) as client:
        with pytest.raises(PayloadValidationError) as exc_info:
            await client.find("network-devices", where={"nofield": {"equals": 1}})
    assert exc_info.value.paths == ("nofield",)


async def test_404_is_not_found():
    async with make_client(
        Recorder(httpx.Response(404, json={"errors": [{"message": "Not Found"}]}))
    ) as client:
        with pytest.raises(PayloadNotFound):
            await client.get("network-devices", 99)


@pytest.mark.parametrize("bad_id", ["abc", "1", 0, -3, True, None, 1.0])
async def test_a_non_numeric_document_id_is_refused_before_any_request(bad_id):
    rec = Recorder(httpx.Response(500, json={"errors": [{"message": "An unknown error occurred."}]}))
    async with make_client(rec) as client:
        with pytest.raises(ValueError, match="not a Payload document id"):
            await client.update("network-devices", bad_id, NetworkDevicePatch(os="x"))
    assert rec.requests == []


async def test_a_500_on_a_get_is_retried_then_reported_as_a_server_error():
    rec = Recorder(httpx.Response(500, json={"errors": [{"message": "An unknown error occurred."}]}))
    async with make_client(rec, retry=RetryPolicy(attempts=3)) as client:
        with pytest.raises(PayloadServerError, match="unknown error"):
            await client.get("network-devices", 1)
    assert len(rec.requests) == 3


async def test_a_500_on_a_post_is_not_retried():
    rec = Recorder(httpx.Response(500, json={"errors": [{"message": "An unknown error occurred."}]}))
    async with make_client(rec) as client:
        with pytest.raises(PayloadServerError):
            await client.create("network-devices", NetworkDeviceCreate(hostname="r1"))
    assert len(rec.requests) == 1


# -- silent coercion ---------------------------------------------------------------------------------------


async def test_a_value_stored_differently_from_what_was_sent_is_an_error():
    # Payload stores a value its field cannot hold as null, with a 201.
    rec = Recorder(lambda request: created({**json.loads(request.content), "librenmsId": None}))
    async with make_client(rec) as client:
        with pytest.raises(PayloadCoercionError) as exc_info:
            await client.create("network-devices", NetworkDeviceCreate(hostname="r1", librenmsId=7))
    assert exc_info.value.paths == ("librenmsId",)


async def test_a_field_the_collection_does_not_have_is_an_error():
    def drop_pollergroup(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        body.pop("pollerGroup")
        return created(body)

    async with make_client(Recorder(drop_pollergroup)) as client:
        with pytest.raises(PayloadCoercionError, match="pollerGroup"):
            await client.create("network-devices", NetworkDeviceCreate(hostname="r1", pollerGroup=2))


async def test_dates_sent_and_returned_in_different_iso_forms_compare_equal():
    rec = Recorder(lambda request: created({"hostname": "r1", "lastPolled": "2026-03-01T10:00:00.000Z"}))
    async with make_client(rec) as client:
        stored = await client.create(
            "network-devices",
            NetworkDeviceCreate.model_validate({"hostname": "r1", "lastPolled": "2026-03-01T11:00:00+01:00"}),
        )
    assert stored["lastPolled"] == "2026-03-01T10:00:00.000Z"


# -- retries --------------------------------------------------------------------------------------------


async def test_503_then_success_is_retried_with_growing_jittered_delays():
    ok = httpx.Response(200, json={"docs": [], "totalDocs": 0, "page": 1, "hasNextPage": False})
    rec = Recorder(httpx.Response(503), httpx.Response(503), httpx.Response(503), ok)
    sleeps: list[float] = []
    async with make_client(rec, sleeps=sleeps, retry=RetryPolicy(attempts=4, base=1.0, cap=100)) as client:
        await client.find("network-devices")
    assert len(rec.requests) == 4
    assert [s <= 2**i for i, s in enumerate(sleeps)] == [True, True, True]


async def test_a_connection_error_is_retried_even_for_a_post():
    rec = Recorder(httpx.ConnectError("refused"), echo_create)
    async with make_client(rec) as client:
        stored = await client.create("network-devices", NetworkDeviceCreate(hostname="r1"))
    assert stored["hostname"] == "r1"
    assert len(rec.requests) == 2


async def test_a_post_whose_answer_was_lost_is_not_resent():
    rec = Recorder(httpx.ReadError("connection reset"), echo_create)
    async with make_client(rec) as client:
        with pytest.raises(PayloadUnavailable):
            await client.create("network-devices", NetworkDeviceCreate(hostname="r1"))
    assert len(rec.requests) == 1


async def test_429_waits_at_least_what_retry_after_asks():
    ok = httpx.Response(200, json={"docs": [], "totalDocs": 0, "page": 1, "hasNextPage": False})
    rec = Recorder(httpx.Response(429, headers={"Retry-After": "7"}), ok)
    sleeps: list[float] = []
    async with make_client(rec, sleeps=sleeps) as client:
        await client.find("network-devices")
    assert sleeps[0] >= 7


async def test_retries_exhausted_on_network_errors_give_payload_unavailable():
    rec = Recorder(httpx.ConnectError("refused"))
    async with make_client(
        rec, retry=RetryPolicy(attempts=3), breaker=CircuitBreaker(threshold=100)
    ) as client:
        with pytest.raises(PayloadUnavailable, match="cannot reach Payload"):
            await client.find("network-devices")
    assert len(rec.requests) == 3


# -- circuit breaker ------------------------------------------------------------------------------------


async def test_the_circuit_opens_after_repeated_failures_and_stops_sending():
    rec = Recorder(httpx.ConnectError("refused"))
    breaker = CircuitBreaker(threshold=3, reset_after=30, clock=Clock())
    async with make_client(rec, retry=RetryPolicy(attempts=5), breaker=breaker) as client:
        with pytest.raises(PayloadCircuitOpen):
            await client.find("network-devices")
        sent = len(rec.requests)
        with pytest.raises(PayloadCircuitOpen):
            await client.find("network-devices")
    assert sent == 3
    assert len(rec.requests) == 3
    assert breaker.state == "open"


async def test_after_the_pause_one_probe_goes_through_and_success_closes_the_circuit():
    ok = httpx.Response(200, json={"docs": [], "totalDocs": 0, "page": 1, "hasNextPage": False})
    rec = Recorder(httpx.ConnectError("refused"), httpx.ConnectError("refused"), ok)
    clock = Clock()
    breaker = CircuitBreaker(threshold=2, reset_after=30, clock=clock)
    async with make_client(rec, retry=RetryPolicy(attempts=2), breaker=breaker) as client:
        with pytest.raises(PayloadUnavailable):
            await client.find("network-devices")
        clock.now = 31
        assert breaker.state == "half-open"
        await client.find("network-devices")
    assert breaker.state == "closed"


async def test_a_failed_probe_reopens_the_circuit_at_once():
    rec = Recorder(httpx.ConnectError("refused"))
    clock = Clock()
    breaker = CircuitBreaker(threshold=2, reset_after=30, clock=clock)
    async with make_client(rec, retry=RetryPolicy(attempts=2), breaker=breaker) as client:
        with pytest.raises(PayloadUnavailable):
            await client.find("network-devices")
        clock.now = 31
        with pytest.raises(PayloadUnavailable):
            await client.find("network-devices")
    assert breaker.state == "open"
    assert len(rec.requests) == 3  # two before opening, one probe


async def test_client_errors_do_not_count_against_the_circuit():
    rec = Recorder(httpx.Response(400, json=UNIQUE_HOSTNAME))
    breaker = CircuitBreaker(threshold=2)
    async with make_client(rec, breaker=breaker) as client:
        for _ in range(5):
            with pytest.raises(PayloadValidationError):
                await client.create("network-devices", NetworkDeviceCreate(hostname="r1"))
    assert breaker.state == "closed"


# -- queries and paging ------------------------------------------------------------------------------


def test_where_clauses_become_bracketed_query_parameters():
    params = where_params(
        {
            "and": [{"librenmsId": {"in": [10, 12]}}, {"resolvedAt": {"exists": False}}],
            "id": {"greater_than": 5},
        }
    )
    assert params == [
        ("where[and][0][librenmsId][in]", "10,12"),
        ("where[and][1][resolvedAt][exists]", "false"),
        ("where[id][greater_than]", "5"),
    ]


async def test_iter_docs_pages_by_id_until_the_collection_is_exhausted():
    store = [doc(id=i, hostname=f"h{i}") for i in range(1, 8)]

    def serve(request: httpx.Request) -> httpx.Response:
        q = request.url.params
        assert q["sort"] == "id" and q["depth"] == "0"
        after = int(q.get("where[and][0][id][greater_than]", q.get("where[id][greater_than]", 0)))
        limit = int(q["limit"])
        rest = [d for d in store if d["id"] > after]
        return httpx.Response(
            200,
            json={"docs": rest[:limit], "totalDocs": len(rest), "page": 1, "hasNextPage": len(rest) > limit},
        )

    async with make_client(Recorder(serve)) as client:
        docs = await client.find_all("network-devices", page_size=3)
    assert [d["id"] for d in docs] == list(range(1, 8))


def test_a_non_http_url_is_a_config_error():
    with pytest.raises(PayloadConfigError):
        PayloadClient("localhost:3000", KEY)


def test_the_api_root_is_added_once():
    assert PayloadClient("http://127.0.0.1:3000/", KEY).base_url == "http://127.0.0.1:3000/api"
    assert PayloadClient("http://127.0.0.1:3000/api", KEY).base_url == "http://127.0.0.1:3000/api"


def test_a_probe_that_never_reports_back_expires_so_the_circuit_cannot_stick_open():
    clock = Clock()
    breaker = CircuitBreaker(threshold=1, reset_after=30, clock=clock)
    breaker.record_failure()
    clock.now = 31
    breaker.before_request()  # the probe goes out, then its task is cancelled: no outcome recorded
    with pytest.raises(PayloadCircuitOpen):
        breaker.before_request()
    clock.now = 62
    breaker.before_request()  # a new probe is allowed
    assert breaker.state == "half-open"
