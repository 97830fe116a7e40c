"""The event bus on real ZeroMQ sockets (loopback, random ports) and a real SQLite journal."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import event_model
import pytest
import zmq

from focusqc.config.events import Alarm, TileQC
from focusqc.config.settings import Endpoints
from focusqc.service.bus import EventBus
from focusqc.service.journal import Journal
from focusqc.service.run_docs import RunDocuments
from focusqc.service.stream import StreamError, Subscriber, decode, snapshot

RANDOM = Endpoints(publish="tcp://127.0.0.1:*", snapshot="tcp://127.0.0.1:*", heartbeat_s=0.1)


@pytest.fixture
def bus(tmp_path: Path):  # type: ignore[no-untyped-def]
    b = EventBus("scope-a", RANDOM, tmp_path / "journal.sqlite")
    yield b
    b.close()


def test_a_run_is_published_journaled_and_valid_bluesky(
    bus: EventBus, tile_qc: Callable[[int], TileQC]
) -> None:
    sub = Subscriber(bus.publish_endpoint)
    sub.until("heartbeat", 5.0)  # connected: the slow-joiner gap is over
    run = RunDocuments(bus, (2, 4), {"sample": "test"})
    for i in range(8):
        run.tile(tile_qc(i), thumbnail=b"\x89PNG fake" if i == 0 else None)
    run.alarm(Alarm(severity="warning", tile=3, message="drift"))
    run.stop()
    docs = [m for m in sub.until("stop", 5.0) if m.kind != "heartbeat"]
    assert [m.kind for m in docs] == ["start", "descriptor", "descriptor", *["event"] * 9, "stop"]
    seqs = [m.seq for m in docs]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # numbered without gaps
    assert docs[3].thumbnail == b"\x89PNG fake" and docs[3].header["has_thumbnail"]
    assert docs[0].topic == "scope-a.start"
    # The documents are valid Bluesky documents, in order.
    for m in docs:
        event_model.schema_validators[event_model.DocumentNames[m.kind]].validate(m.body)
    assert docs[0].body["hints"]["gridding"] == "rectilinear"
    # Every document is in the journal too, identical.
    journal = Journal(bus.journal.path)
    entries = list(journal.read(run_uid=run.uid))
    assert [e.body for e in entries] == [m.body for m in docs]
    journal.close()
    sub.close()


def test_a_late_joiner_gets_the_run_so_far_then_the_live_stream(
    bus: EventBus, tile_qc: Callable[[int], TileQC]
) -> None:
    run = RunDocuments(bus, (2, 4), {})
    for i in range(5):
        run.tile(tile_qc(i))
    late = Subscriber(bus.publish_endpoint)
    late.until("heartbeat", 5.0)
    past, last = snapshot(bus.snapshot_endpoint)
    assert [m.kind for m in past] == ["start", "descriptor", "descriptor", *["event"] * 5]
    assert last == past[-1].seq
    for i in range(5, 8):
        run.tile(tile_qc(i))
    run.stop()
    live = [m for m in late.until("stop", 5.0) if m.kind != "heartbeat" and m.seq > last]
    tiles = [m.body["data"]["tile"] for m in past + live if m.kind == "event"]
    assert tiles == list(range(8))  # the same picture as a client that never left
    late.close()


def test_heartbeats_report_the_last_sequence_number(bus: EventBus) -> None:
    sub = Subscriber(bus.publish_endpoint, topic="scope-a.heartbeat")
    sub.until("heartbeat", 5.0)
    seq = bus.emit("event", {"x": 1}, None)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        beat = sub.recv(timeout_s=1)
        if beat is not None and beat.body["last_seq"] == seq:
            break
    else:
        raise AssertionError("no heartbeat with the new sequence number")
    sub.close()


def test_a_malformed_snapshot_request_gets_an_error_reply_not_a_crash(bus: EventBus) -> None:
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(bus.snapshot_endpoint)
    sock.send_multipart([b"", b"not json"])
    assert sock.poll(5000)
    reply = sock.recv_multipart()
    assert json.loads(reply[-1]) == {"error": "bad request"}
    sock.close()
    # ...and the bus still serves the next client.
    bus.emit("event", {"x": 1}, "r1")
    past, _ = snapshot(bus.snapshot_endpoint, run_uid="r1")
    assert len(past) == 1


def test_stream_errors_are_clear() -> None:
    with pytest.raises(StreamError, match="3 or 4 frames"):
        decode([b"only one"])
    with pytest.raises(StreamError, match="not JSON"):
        decode([b"t", b"{", b"{}"])
    with pytest.raises(StreamError, match="is the daemon running"):
        snapshot("tcp://127.0.0.1:9", timeout_s=0.3)


def test_the_journal_continues_numbering_after_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    first = EventBus("s", RANDOM, path)
    first.emit("event", {"n": 1}, "r")
    first.close()
    second = EventBus("s", RANDOM, path)
    assert second.emit("event", {"n": 2}, "r") == 1
    second.close()


def test_a_subscriber_that_never_reads_slows_nothing_and_loses_nothing_journaled(
    tmp_path: Path,
) -> None:
    bus = EventBus("s", RANDOM, tmp_path / "j.sqlite", queue_size=50)
    stalled = zmq.Context.instance().socket(zmq.SUB)
    stalled.setsockopt(zmq.RCVHWM, 1)
    stalled.setsockopt(zmq.SUBSCRIBE, b"")
    stalled.connect(bus.publish_endpoint)
    time.sleep(0.3)
    body = {"data": "x" * 2000}
    for _ in range(5000):  # returns at once: the bounded queue and PUB drop live copies
        bus.emit("event", body, "r")
    assert bus.last_seq == 4999
    bus.close()
    journal = Journal(tmp_path / "j.sqlite")
    assert [e.seq for e in journal.read()] == list(range(5000))  # the journal has every one
    journal.close()
    stalled.close(linger=0)
