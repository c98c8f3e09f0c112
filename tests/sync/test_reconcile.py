"""sync/reconcile.py: the pure diff between LibreNMS devices and Payload documents."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from sync.models import LibreDevice, NetworkDeviceCreate, NetworkDevicePatch
from sync.reconcile import Create, Delete, MarkRemoved, Plan, Update, desired_fields, plan

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def dev(device_id: int, hostname: str, **kw: Any) -> LibreDevice:
    base: dict[str, Any] = {"ip": "10.0.0.1", "os": "ios", "status": True, "last_polled": T0, "uptime": 1000}
    return LibreDevice(device_id=device_id, hostname=hostname, **{**base, **kw})


class FakePayload:
    """Payload's network-devices as a list of JSON documents, written the way the real one stores them."""

    def __init__(self, docs: list[dict[str, Any]] | None = None) -> None:
        self.docs = {d["id"]: d for d in docs or []}
        self.ids = itertools.count(max(self.docs, default=0) + 1)

    def apply(self, p: Plan) -> None:
        for action in p.actions:
            if isinstance(action, Create):
                doc_id = next(self.ids)
                body = NetworkDeviceCreate.model_validate(action.data).body()
                self.docs[doc_id] = {"id": doc_id, **body}
            elif isinstance(action, Update):
                self.docs[action.doc_id].update(NetworkDevicePatch.model_validate(action.changes).body())
            elif isinstance(action, MarkRemoved):
                self.docs[action.doc_id]["removedFromLibrenms"] = True
            elif isinstance(action, Delete):
                del self.docs[action.doc_id]
        hostnames = [d["hostname"] for d in self.docs.values()]
        lids = [d["librenmsId"] for d in self.docs.values() if d.get("librenmsId") is not None]
        assert len(hostnames) == len(set(hostnames)), "plan broke unique hostname"
        assert len(lids) == len(set(lids)), "plan broke unique librenmsId"

    def list(self) -> list[dict[str, Any]]:
        return list(self.docs.values())


def synced(*devices: LibreDevice) -> FakePayload:
    store = FakePayload()
    store.apply(plan(devices, []))
    return store


def test_a_device_missing_from_payload_is_created_with_all_its_fields():
    p = plan([dev(1, "r1", location="POP 1")], [])
    (create,) = p.actions
    assert isinstance(create, Create)
    assert (
        create.data["librenmsId"] == 1
        and create.data["location"] == "POP 1"
        and create.data["status"] == "up"
    )


def test_a_second_plan_after_applying_the_first_has_no_writes():
    devices = [dev(1, "r1"), dev(2, "r2")]
    store = synced(*devices)
    assert plan(devices, store.list()).is_empty


def test_one_changed_field_gives_one_update_with_only_that_field():
    store = synced(dev(1, "r1"), dev(2, "r2"))
    p = plan([dev(1, "r1", os="iosxe"), dev(2, "r2")], store.list())
    (update,) = p.actions
    assert isinstance(update, Update)
    assert dict(update.changes) == {"os": "iosxe"}
    assert update.before == {"os": "ios"}


def test_a_document_whose_device_left_librenms_is_marked_removed_once():
    store = synced(dev(1, "r1"), dev(2, "r2"))
    p = plan([dev(1, "r1")], store.list())
    assert [type(a) for a in p.actions] == [MarkRemoved]
    store.apply(p)
    assert plan([dev(1, "r1")], store.list()).is_empty


def test_prune_deletes_instead_of_marking():
    store = synced(dev(1, "r1"), dev(2, "r2"))
    assert [type(a) for a in plan([dev(1, "r1")], store.list(), prune=True).actions] == [Delete]


def test_a_device_that_comes_back_is_unmarked():
    store = synced(dev(1, "r1"), dev(2, "r2"))
    store.apply(plan([dev(1, "r1")], store.list()))
    (update,) = plan([dev(1, "r1"), dev(2, "r2")], store.list()).actions
    assert dict(update.changes) == {"removedFromLibrenms": False}


def test_a_document_without_librenms_id_is_adopted_by_hostname():
    docs = [{"id": 5, "hostname": "R1.example.net", "librenmsId": None}]
    p = plan([dev(1, "r1.example.net")], docs)
    (update,) = p.actions
    assert isinstance(update, Update) and update.doc_id == 5
    assert update.changes["librenmsId"] == 1 and update.changes["hostname"] == "r1.example.net"


def test_a_device_readded_under_a_new_id_adopts_the_old_document():
    store = synced(dev(1, "r1"))
    (update,) = plan([dev(9, "r1")], store.list()).actions
    assert isinstance(update, Update) and update.changes["librenmsId"] == 9


def test_two_librenms_devices_with_one_hostname_are_reported_not_synced():
    p = plan([dev(1, "r1"), dev(2, "R1"), dev(3, "r3")], [])
    assert [a.librenms_id for a in p.actions] == [3]
    (conflict,) = p.conflicts
    assert conflict.kind == "duplicate_hostname" and conflict.librenms_ids == (1, 2)


def test_two_documents_matching_one_hostname_are_reported_not_guessed():
    docs = [{"id": 1, "hostname": "r1", "librenmsId": None}, {"id": 2, "hostname": "R1", "librenmsId": None}]
    p = plan([dev(7, "r1")], docs)
    assert p.actions == ()
    assert p.conflicts[0].kind == "ambiguous_hostname" and p.conflicts[0].doc_ids == (1, 2)


def test_two_documents_claiming_one_device_are_reported():
    docs = [{"id": 1, "hostname": "a", "librenmsId": 7}, {"id": 2, "hostname": "b", "librenmsId": 7}]
    p = plan([dev(7, "a")], docs)
    assert p.actions == ()
    assert p.conflicts[0].kind == "duplicate_librenms_id"


def test_a_rename_onto_a_hostname_that_a_removed_document_keeps_is_reported():
    store = synced(dev(1, "old"), dev(2, "new"))
    store.apply(plan([dev(1, "old")], store.list()))  # device 2 leaves; its document keeps "new"
    p = plan([dev(1, "new")], store.list())
    assert p.actions == ()
    assert [c.kind for c in p.conflicts] == ["hostname_taken"]


def test_a_document_created_in_payload_without_id_is_left_for_the_librenms_add():
    docs = [{"id": 4, "hostname": "new-in-payload", "librenmsId": None}]
    p = plan([dev(1, "r1")], docs)
    assert [type(a) for a in p.actions] == [Create]
    assert p.pending_librenms_add == (4,)


def test_a_disabled_device_has_unknown_status():
    assert desired_fields(dev(1, "r1", disabled=True, status=True))["status"] == "unknown"


def test_uptime_and_last_polled_alone_wait_for_the_volatile_window():
    store = synced(dev(1, "r1"))
    later = dev(1, "r1", last_polled=T0 + timedelta(minutes=5), uptime=1300)
    assert plan([later], store.list(), volatile_window=timedelta(minutes=15)).is_empty
    assert not plan([later], store.list()).is_empty


def test_a_reboot_is_written_despite_the_volatile_window():
    store = synced(dev(1, "r1"))
    rebooted = dev(1, "r1", last_polled=T0 + timedelta(minutes=5), uptime=60)
    (update,) = plan([rebooted], store.list(), volatile_window=timedelta(minutes=15)).actions
    assert set(update.changes) == {"uptime", "lastPolled"}


def test_empty_text_in_payload_equals_null_in_librenms():
    store = synced(dev(1, "r1", serial=None))
    store.docs[1]["serial"] = ""
    assert plan([dev(1, "r1", serial=None)], store.list()).is_empty


# -- property: a plan applied in full leaves nothing to do --------------------------------------------

hostnames = st.sampled_from(["a", "A", "b", "c", "d", "e.net", "E.NET", "f"])
device_ids = st.integers(min_value=1, max_value=12)
text = st.none() | st.sampled_from(["", "ios", "junos", "POP 1", "x y"])
times = st.none() | st.integers(0, 10_000).map(lambda s: T0 + timedelta(seconds=s, microseconds=s * 37))

librenms_devices = st.builds(
    LibreDevice,
    device_id=device_ids,
    hostname=hostnames,
    ip=st.none() | st.sampled_from(["10.0.0.1", "2001:db8::1"]),
    sys_name=text,
    os=text,
    location=text,
    status=st.booleans(),
    status_reason=st.sampled_from(["", "snmp", "icmp"]),
    uptime=st.none() | st.integers(0, 10**10),
    last_polled=times,
    poller_group=st.integers(0, 3),
    disabled=st.booleans(),
    ignore=st.booleans(),
)


@st.composite
def payload_docs(draw: st.DrawFn) -> list[dict[str, Any]]:
    """A valid starting state: unique hostnames and librenmsIds (the collection enforces both)."""
    names = draw(st.lists(hostnames, unique=True, max_size=6))
    docs = []
    used: set[int] = set()
    for i, name in enumerate(names, start=1):
        lid = draw(st.none() | device_ids)
        if lid in used:
            lid = None
        if lid is not None:
            used.add(lid)
        docs.append(
            {
                "id": i,
                "hostname": name,
                "librenmsId": lid,
                "os": draw(text),
                "status": draw(st.sampled_from(["up", "down", "unknown"])),
                "uptime": draw(st.none() | st.integers(0, 10**6)),
                "lastPolled": draw(st.none() | st.just("2026-03-01T12:00:00.000Z")),
                "removedFromLibrenms": draw(st.none() | st.booleans()),
            }
        )
    return docs


@settings(max_examples=300, deadline=None)
@given(devices=st.lists(librenms_devices, max_size=8), docs=payload_docs(), prune=st.booleans())
def test_applying_a_plan_then_planning_again_gives_no_writes(devices, docs, prune):
    store = FakePayload(docs)
    first = plan(devices, store.list(), prune=prune)
    store.apply(first)
    second = plan(devices, store.list(), prune=prune)
    assert second.is_empty, second.actions
    assert {c.kind for c in second.conflicts} <= {c.kind for c in first.conflicts}


@settings(max_examples=200, deadline=None)
@given(devices=st.lists(librenms_devices, max_size=8), docs=payload_docs())
def test_every_device_without_a_conflict_has_exactly_one_document_after_a_sync(devices, docs):
    store = FakePayload(docs)
    p = plan(devices, store.list())
    store.apply(p)
    in_conflict = {lid for c in p.conflicts for lid in c.librenms_ids}
    unique = {d.device_id: d for d in devices}
    for device_id in set(unique) - in_conflict:
        assert sum(1 for d in store.list() if d.get("librenmsId") == device_id) == 1
