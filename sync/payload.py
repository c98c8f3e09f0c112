"""Async REST client for Payload CMS 3, with its quirks handled in one place.

Quirks of a real Payload 3.90 (see /work/shared/payload/RECIPE.md) and what this client does about them:

* A bad or missing API key gives **403** on collections (never 401): 403 -> :class:`PayloadAuthError`.
* Error ``name`` is minified in production builds (``ValidationError`` becomes ``"A"``): errors are classified
  by HTTP status and ``errors[].data.errors[].path`` only, never by ``name``.
* Wrong types are coerced silently (``"abc"`` for a number is stored as null, unknown fields are dropped):
  bodies are pydantic models validated before sending (sync/models.py), and what comes back is compared with
  what was sent (:class:`PayloadCoercionError` on a difference).
* No upsert over REST: callers find, then POST or PATCH (sync/apply.py, sync/crisis.py).
* A non-numeric document id gives 500: ids are checked to be positive integers before any request.
* A body without ``Content-Type: application/json`` gives 500: every request carries it.

Transport errors, 429 and 5xx are retried with exponential backoff and full jitter; a circuit breaker stops
requests to a server that keeps failing. Every failure leaves this module as a :class:`PayloadError`.
The API key lives in a ``SecretStr`` and is put on the wire by an ``httpx.Auth``; it is in no log, repr or
exception text.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from pydantic import BaseModel, SecretStr

log = logging.getLogger(__name__)

ENV_API_KEY = "FASTPOLL_PAYLOAD_API_KEY"
ENV_API_KEY_FILE = "FASTPOLL_PAYLOAD_API_KEY_FILE"

Doc = dict[str, Any]


# ---------------------------------------------------------------------------------------------- errors


@dataclass(frozen=True, slots=True)
class FieldError:
    path: str
    message: str


class PayloadError(Exception):
    """Anything that went wrong talking to Payload. ``str()`` never holds the API key."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        method: str | None = None,
        path: str | None = None,
        fields: Sequence[FieldError] = (),
    ) -> None:
        self.message = message
        self.status = status
        self.method = method
        self.path = path
        self.fields = tuple(fields)
        self.retry_after: float | None = None  # seconds, from a 429/503 Retry-After header
        where = f" [{method} {path}" + (f" -> {status}" if status is not None else "") + "]" if method else ""
        detail = "; ".join(f"{f.path}: {f.message}" for f in self.fields)
        super().__init__(message + (f" ({detail})" if detail else "") + where)

    @property
    def paths(self) -> tuple[str, ...]:
        return tuple(f.path for f in self.fields)


class PayloadConfigError(PayloadError):
    """Our side is misconfigured (no API key, unreadable key file, bad URL)."""


class PayloadAuthError(PayloadError):
    """403 on a collection: the API key is wrong, its user has no API key enabled, or lacks access."""


class PayloadValidationError(PayloadError):
    """400: Payload refused the document or the query; ``fields`` names the paths."""

    @property
    def unique_violations(self) -> tuple[str, ...]:
        return tuple(f.path for f in self.fields if "unique" in f.message.lower())


class PayloadNotFound(PayloadError):
    """404: no such document (or route)."""


class PayloadServerError(PayloadError):
    """500 after retries: the server answered but failed (e.g. a foreign key that points nowhere)."""


class PayloadUnavailable(PayloadError):
    """Payload cannot be reached or keeps answering 429/502/503/504."""


class PayloadCircuitOpen(PayloadUnavailable):
    """Requests are refused locally because Payload kept failing; retried after the breaker's pause."""


class PayloadProtocolError(PayloadError):
    """The answer is not what Payload's REST API documents (not JSON, missing ``doc``...)."""


class PayloadCoercionError(PayloadProtocolError):
    """Payload stored something other than what we sent (silent coercion, or a field its config lacks)."""


# ------------------------------------------------------------------------------------------ api key


def api_key_from_env(environ: Mapping[str, str]) -> SecretStr:
    """The API key from ``FASTPOLL_PAYLOAD_API_KEY`` or the file named by ``FASTPOLL_PAYLOAD_API_KEY_FILE``.

    Never from argv: a command line is visible to every user of the machine (``ps``).
    """
    inline = environ.get(ENV_API_KEY, "").strip()
    path = environ.get(ENV_API_KEY_FILE, "").strip()
    if inline and path:
        raise PayloadConfigError(f"set only one of {ENV_API_KEY} and {ENV_API_KEY_FILE}")
    if path:
        try:
            key = Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise PayloadConfigError(f"cannot read the API key file {path}: {exc.strerror}") from None
        if not key:
            raise PayloadConfigError(f"the API key file {path} is empty")
        return SecretStr(key)
    if inline:
        return SecretStr(inline)
    raise PayloadConfigError(f"no Payload API key: set {ENV_API_KEY} or {ENV_API_KEY_FILE}")


class _ApiKeyAuth(httpx.Auth):
    """Adds ``Authorization: users API-Key <key>`` to each request; its repr shows no key."""

    def __init__(self, key: SecretStr, collection: str = "users") -> None:
        self._key = key
        self._collection = collection

    def auth_flow(self, request: httpx.Request):  # type: ignore[override]
        request.headers["Authorization"] = f"{self._collection} API-Key {self._key.get_secret_value()}"
        yield request

    def __repr__(self) -> str:
        return f"_ApiKeyAuth({self._collection}, key=**********)"


# ------------------------------------------------------------------------------ retry and breaker


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with full jitter: attempt n waits uniform(0, min(cap, base * 2**n)) seconds.

    Hand-written rather than tenacity: the loop must consult the circuit breaker before every attempt,
    honour ``Retry-After`` and tell safe retries from unsafe ones (below); that is a dozen lines here.
    """

    attempts: int = 4
    base: float = 0.2
    cap: float = 5.0
    max_retry_after: float = 30.0

    def delay(self, attempt: int, rng: Callable[[], float] = random.random) -> float:
        return rng() * min(self.cap, self.base * (2**attempt))


RETRY_STATUSES = frozenset({429, 502, 503, 504})  # retried for every method: the request was not processed
IDEMPOTENT = frozenset(
    {"GET", "HEAD", "OPTIONS", "PATCH", "PUT", "DELETE"}
)  # also retried on 500/read errors
# A POST is retried only when it surely did not reach Payload (connect errors, 429/502/503/504). Our POSTs are
# safe even then: network-devices and crisis-events carry unique keys (hostname, librenmsId, openKey), so a
# duplicate is refused with 400 and the callers look the document up.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


@dataclass
class CircuitBreaker:
    """Closed -> open after ``threshold`` consecutive failed attempts; open refuses requests for
    ``reset_after`` seconds; then half-open lets one probe through, whose outcome closes or reopens it.

    Failures are transport errors and 429/502/503/504: a 4xx or a 500 shows the server alive.
    """

    threshold: int = 5
    reset_after: float = 15.0
    clock: Callable[[], float] = time.monotonic
    _failures: int = 0
    _opened_at: float | None = None
    _probe_started: float | None = None  # a probe that never reports (cancelled) expires after reset_after

    @property
    def _probing(self) -> bool:
        return self._probe_started is not None and self.clock() - self._probe_started < self.reset_after

    @property
    def state(self) -> str:
        if self._opened_at is None:
            return "closed"
        if self._probing or self.clock() - self._opened_at >= self.reset_after:
            return "half-open"
        return "open"

    def before_request(self) -> None:
        if self._opened_at is None:
            return
        waited = self.clock() - self._opened_at
        if waited < self.reset_after or self._probing:
            retry_in = max(0.0, self.reset_after - waited)
            raise PayloadCircuitOpen(
                f"Payload kept failing; not trying again for {retry_in:.1f}s (circuit breaker open)"
            )
        self._probe_started = self.clock()

    def record_success(self) -> None:
        self._failures = 0
        self._opened_at = None
        self._probe_started = None

    def record_failure(self) -> None:
        self._failures += 1
        if self._probe_started is not None or self._failures >= self.threshold:
            if self._opened_at is None:
                log.warning("payload: circuit breaker opened after %d failures", self._failures)
            self._opened_at = self.clock()
            self._probe_started = None


# ------------------------------------------------------------------------------------------ client


@dataclass(frozen=True, slots=True)
class Page:
    docs: list[Doc]
    total_docs: int
    page: int
    has_next_page: bool


def where_params(where: Mapping[str, Any] | None, prefix: str = "where") -> list[tuple[str, str]]:
    """Flatten a Payload ``where`` mapping into qs-style parameters: ``where[hostname][equals]=x``.

    Lists become comma-separated (the ``in`` operator), booleans ``true``/``false``, dates ISO text; lists of
    mappings (``and``/``or``) are indexed: ``where[and][0][id][greater_than]=5``.
    """
    out: list[tuple[str, str]] = []
    for key, value in (where or {}).items():
        name = f"{prefix}[{key}]"
        if isinstance(value, Mapping):
            out.extend(where_params(value, name))
        elif isinstance(value, list | tuple) and value and all(isinstance(v, Mapping) for v in value):
            for i, sub in enumerate(value):
                out.extend(where_params(sub, f"{name}[{i}]"))
        else:
            out.append((name, _query_value(value)))
    return out


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list | tuple | set | frozenset):
        return ",".join(_query_value(v) for v in value)
    if value is None:
        return "null"
    return str(value)


def check_id(doc_id: object) -> int:
    """Document ids are positive integers here (SQLite/Postgres); anything else makes Payload answer 500."""
    if isinstance(doc_id, bool) or not isinstance(doc_id, int) or doc_id < 1:
        raise ValueError(f"not a Payload document id: {doc_id!r}")
    return doc_id


def _error_fields(body: Any) -> tuple[str, list[FieldError]]:
    """Messages and field paths of a Payload error body, whatever the (minified) error ``name``."""
    if not isinstance(body, Mapping):
        return "", []
    messages: list[str] = []
    fields: list[FieldError] = []
    errors = body.get("errors")
    if isinstance(errors, list):
        for err in errors:
            if not isinstance(err, Mapping):
                continue
            if isinstance(err.get("message"), str):
                messages.append(err["message"])
            data = err.get("data")
            # ValidationError: data = {"collection", "errors": [{"path", "message"}]};
            # QueryError: data = [{"path"}]; bulk results: errors = [{"id", "message"}].
            items = data.get("errors") if isinstance(data, Mapping) else data
            if isinstance(items, list):
                for item in items:
                    if isinstance(item, Mapping) and isinstance(item.get("path"), str):
                        fields.append(
                            FieldError(item["path"], str(item.get("message") or "cannot be queried"))
                        )
    elif isinstance(body.get("message"), str):
        messages.append(body["message"])
    return "; ".join(dict.fromkeys(messages)), fields


def _same(sent: Any, stored: Any) -> bool:
    """Does the stored value equal what we sent, as Payload represents it?"""
    if sent == stored and type(sent) is type(stored):
        return True
    if isinstance(sent, bool) or isinstance(stored, bool):
        return sent is stored
    if isinstance(sent, int | float) and isinstance(stored, int | float):
        return float(sent) == float(stored)
    if isinstance(sent, int) and isinstance(stored, Mapping):  # a relationship populated despite depth=0
        return stored.get("id") == sent
    if isinstance(sent, str) and isinstance(stored, str):
        try:
            return datetime.fromisoformat(sent) == datetime.fromisoformat(stored)
        except ValueError:
            return False
    return sent == stored


def verify_stored(body: Mapping[str, Any], doc: Mapping[str, Any]) -> list[FieldError]:
    """Fields whose stored value differs from the value sent (or that the collection does not have)."""
    wrong: list[FieldError] = []
    for name, value in body.items():
        if name not in doc:
            wrong.append(FieldError(name, "field not stored (missing from the collection config?)"))
        elif not _same(value, doc[name]):
            wrong.append(FieldError(name, f"sent {value!r}, stored {doc[name]!r}"))
    return wrong


def _body(data: BaseModel) -> dict[str, Any]:
    """The JSON of a model: only the fields that were set (sync.models' bodies may add more)."""
    body = getattr(data, "body", None)
    return body() if callable(body) else data.model_dump(mode="json", exclude_unset=True)


class PayloadClient:
    """One Payload server. Use as ``async with PayloadClient(url, key) as client:``."""

    def __init__(
        self,
        base_url: str,
        api_key: SecretStr | str,
        *,
        timeout: float = 15.0,
        retry: RetryPolicy | None = None,
        breaker: CircuitBreaker | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        max_connections: int = 16,
    ) -> None:
        url = httpx.URL(base_url)
        if url.scheme not in ("http", "https") or not url.host:
            raise PayloadConfigError(f"not an http(s) URL: {base_url!r}")
        api_root = str(url).rstrip("/")
        if not api_root.endswith("/api"):
            api_root += "/api"
        self.base_url = api_root
        key = api_key if isinstance(api_key, SecretStr) else SecretStr(api_key)
        if not key.get_secret_value():
            raise PayloadConfigError("the Payload API key is empty")
        self.retry = retry or RetryPolicy()
        self.breaker = breaker or CircuitBreaker()
        self._sleep = sleep
        self._http = httpx.AsyncClient(
            base_url=api_root + "/",
            auth=_ApiKeyAuth(key),
            headers={"Content-Type": "application/json", "Accept": "application/json"},
            timeout=timeout,
            transport=transport,
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
        )

    def __repr__(self) -> str:
        return f"PayloadClient({self.base_url!r}, breaker={self.breaker.state})"

    async def __aenter__(self) -> PayloadClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- the one boundary where HTTP outcomes become PayloadErrors ------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Sequence[tuple[str, str]] = (),
        body: Mapping[str, Any] | None = None,
    ) -> Any:
        """Send one request with retries; return the decoded JSON of a 2xx answer or raise a PayloadError."""
        method = method.upper()
        idempotent = method in IDEMPOTENT
        last: PayloadError | None = None
        for attempt in range(self.retry.attempts):
            if attempt:
                await self._sleep(self._delay(attempt - 1, last))
            self.breaker.before_request()
            try:
                response = await self._http.request(method, path, params=list(params), json=body)
            except httpx.TransportError as exc:
                self.breaker.record_failure()
                # The exception's text names the URL only; the request headers (and key) stay out of it.
                last = PayloadUnavailable(
                    f"cannot reach Payload: {type(exc).__name__}: {exc}", method=method, path=path
                )
                if not idempotent and not isinstance(exc, _NOT_SENT):
                    raise last from None
                log.debug("payload %s %s: %s (attempt %d)", method, path, type(exc).__name__, attempt + 1)
                continue
            status = response.status_code
            if status in RETRY_STATUSES or (status >= 500 and idempotent):
                if status == 500:
                    self.breaker.record_success()  # the server is up; something in it failed
                else:
                    self.breaker.record_failure()
                last = self._error(method, path, response)
                log.debug("payload %s %s -> %d (attempt %d)", method, path, status, attempt + 1)
                continue
            self.breaker.record_success()
            if status >= 400:
                raise self._error(method, path, response)
            return self._json(method, path, response)
        assert last is not None
        raise last

    def _delay(self, attempt: int, last: PayloadError | None) -> float:
        delay = self.retry.delay(attempt)
        if last is not None and last.retry_after is not None:
            delay = max(delay, min(last.retry_after, self.retry.max_retry_after))
        return delay

    @staticmethod
    def _json(method: str, path: str, response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError:
            raise PayloadProtocolError(
                "Payload answered with something that is not JSON",
                status=response.status_code,
                method=method,
                path=path,
            ) from None

    @staticmethod
    def _error(method: str, path: str, response: httpx.Response) -> PayloadError:
        status = response.status_code
        try:
            body = response.json()
        except ValueError:
            body = None
        message, fields = _error_fields(body)
        kw: dict[str, Any] = {"status": status, "method": method, "path": path, "fields": fields}
        if status == 400:
            return PayloadValidationError(message or "Payload refused the request", **kw)
        if status in (401, 403):
            return PayloadAuthError(
                "Payload refused the API key (wrong key, API key not enabled for its user, or no access)",
                **kw,
            )
        if status == 404:
            return PayloadNotFound(message or "not found", **kw)
        if status in RETRY_STATUSES:
            err = PayloadUnavailable(f"Payload is unavailable ({status})", **kw)
            try:
                err.retry_after = float(response.headers.get("Retry-After", ""))
            except ValueError:
                pass
            return err
        if status >= 500:
            return PayloadServerError(message or f"Payload failed ({status})", **kw)
        return PayloadError(message or f"unexpected answer {status}", **kw)

    # -- collections ------------------------------------------------------------------------------------

    async def find(
        self,
        collection: str,
        *,
        where: Mapping[str, Any] | None = None,
        limit: int = 100,
        page: int = 1,
        sort: str = "id",
        depth: int = 0,
    ) -> Page:
        params = [("limit", str(limit)), ("page", str(page)), ("sort", sort), ("depth", str(depth))]
        data = await self.request("GET", collection, params=params + where_params(where))
        try:
            return Page(
                docs=list(data["docs"]),
                total_docs=int(data["totalDocs"]),
                page=int(data.get("page") or page),
                has_next_page=bool(data.get("hasNextPage")),
            )
        except (KeyError, TypeError, ValueError):
            raise PayloadProtocolError(
                "list answer without docs/totalDocs", method="GET", path=collection
            ) from None

    async def iter_docs(
        self, collection: str, *, where: Mapping[str, Any] | None = None, page_size: int = 500
    ) -> AsyncIterator[Doc]:
        """Every matching document, by ascending id.

        Keyset paging (``id > last id``, ``sort=id``) rather than page numbers: a document created or deleted
        during the walk cannot make us skip or repeat another one.
        """
        after: int | None = None
        while True:
            clause: dict[str, Any] = dict(where or {})
            if after is not None:
                clause = {"and": [*([dict(where)] if where else []), {"id": {"greater_than": after}}]}
            page = await self.find(collection, where=clause, limit=page_size, sort="id")
            for doc in page.docs:
                doc_id = check_id(doc.get("id"))
                if after is not None and doc_id <= after:
                    raise PayloadProtocolError("documents not sorted by id", method="GET", path=collection)
                after = doc_id
                yield doc
            if len(page.docs) < page_size or not page.has_next_page:
                return

    async def find_all(
        self, collection: str, *, where: Mapping[str, Any] | None = None, page_size: int = 500
    ) -> list[Doc]:
        return [doc async for doc in self.iter_docs(collection, where=where, page_size=page_size)]

    async def count(self, collection: str, *, where: Mapping[str, Any] | None = None) -> int:
        data = await self.request("GET", f"{collection}/count", params=where_params(where))
        return int(data["totalDocs"])

    async def get(self, collection: str, doc_id: int) -> Doc:
        data = await self.request("GET", f"{collection}/{check_id(doc_id)}", params=[("depth", "0")])
        return dict(data)

    async def create(self, collection: str, data: BaseModel) -> Doc:
        """POST a validated model; check that what Payload stored is what we sent."""
        body = _body(data)
        answer = await self.request("POST", collection, params=[("depth", "0")], body=body)
        return self._checked_doc("POST", collection, body, answer)

    async def update(self, collection: str, doc_id: int, data: BaseModel) -> Doc:
        """PATCH the given fields of one document (an explicit None clears a field)."""
        path = f"{collection}/{check_id(doc_id)}"
        body = _body(data)
        answer = await self.request("PATCH", path, params=[("depth", "0")], body=body)
        return self._checked_doc("PATCH", path, body, answer)

    async def delete(self, collection: str, doc_id: int) -> Doc:
        path = f"{collection}/{check_id(doc_id)}"
        answer = await self.request("DELETE", path, params=[("depth", "0")])
        return dict(answer.get("doc") or {}) if isinstance(answer, Mapping) else {}

    async def whoami(self) -> Doc | None:
        """The user the API key authenticates as, or None (a bad key gets 200 ``user: null``)."""
        data = await self.request("GET", "users/me")
        user = data.get("user") if isinstance(data, Mapping) else None
        return dict(user) if isinstance(user, Mapping) else None

    @staticmethod
    def _checked_doc(method: str, path: str, body: Mapping[str, Any], answer: Any) -> Doc:
        doc = answer.get("doc") if isinstance(answer, Mapping) else None
        if not isinstance(doc, Mapping) or "id" not in doc:
            raise PayloadProtocolError("write answer without doc.id", method=method, path=path)
        wrong = verify_stored(body, doc)
        if wrong:
            raise PayloadCoercionError(
                f"Payload stored document {doc['id']} differently from what was sent",
                method=method,
                path=path,
                fields=wrong,
            )
        return dict(doc)
