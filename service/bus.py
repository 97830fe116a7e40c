"""The event bus: journal every document, then publish it over ZeroMQ, without ever blocking.

``EventBus.emit`` runs on the acquisition's thread: it numbers the document, commits it to the
journal, and hands the frames to a bounded queue. One bus thread owns the sockets: it publishes
from the queue (PUB drops at its high-water mark rather than wait for a slow subscriber), sends
a heartbeat every ``heartbeat_s``, and answers snapshot requests on a ROUTER socket from the
journal, so a late joiner gets the whole run and then follows the live stream (the ZeroMQ
guide's Clone pattern). If the queue is full the live copy is dropped, never the journaled one:
subscribers see the gap in ``seq`` and fill it from the snapshot.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from typing import TYPE_CHECKING, Any

import zmq

from focusqc.config.events import Header, Heartbeat, Kind
from focusqc.service.journal import Journal

if TYPE_CHECKING:
    from pathlib import Path

    from focusqc.config.settings import Endpoints

SNAPSHOT_END = b"focusqc.snapshot_end"
_STOP = object()


def frames(header: dict[str, Any], body: dict[str, Any], thumbnail: bytes | None) -> list[bytes]:
    """The wire form of one document: topic, header, body, optional thumbnail."""
    topic = f"{header['scope']}.{header['kind']}".encode()
    parts = [topic, json.dumps(header).encode(), json.dumps(body).encode()]
    return [*parts, thumbnail] if thumbnail else parts


class EventBus:
    """Numbered, journaled, published QC documents for one daemon."""

    def __init__(
        self,
        scope: str,
        endpoints: Endpoints,
        journal_path: Path,
        fsync: str = "normal",
        queue_size: int = 10000,
        context: zmq.Context[Any] | None = None,
    ) -> None:
        self.scope = scope
        self.endpoints = endpoints
        self.journal = Journal(journal_path, fsync)  # type: ignore[arg-type]
        self._reader = Journal(journal_path, fsync)  # type: ignore[arg-type]
        self._seq = self.journal.last_seq()
        self._lock = threading.Lock()
        self._queue: queue.Queue[object] = queue.Queue(queue_size)
        self.dropped_live = 0
        self.run_uid: str | None = None
        self.tiles_done = 0
        self.provider = "unknown"  # set by whoever runs the model, for heartbeats and health
        self.model_version = "unknown"
        self._started = time.monotonic()
        self._ctx = context or zmq.Context.instance()
        self.pub = self._ctx.socket(zmq.PUB)
        self.pub.setsockopt(zmq.SNDHWM, 10000)
        self.pub.setsockopt(zmq.LINGER, 500)
        self.pub.bind(endpoints.publish)
        self.router = self._ctx.socket(zmq.ROUTER)
        self.router.setsockopt(zmq.LINGER, 0)
        self.router.bind(endpoints.snapshot)
        self.publish_endpoint = self.pub.getsockopt_string(zmq.LAST_ENDPOINT)
        self.snapshot_endpoint = self.router.getsockopt_string(zmq.LAST_ENDPOINT)
        self._thread = threading.Thread(target=self._serve, name="focusqc-bus", daemon=True)
        self._thread.start()

    @property
    def last_seq(self) -> int:
        """The last sequence number handed out."""
        return self._seq

    def emit(
        self,
        kind: Kind,
        body: dict[str, Any],
        run_uid: str | None,
        thumbnail: bytes | None = None,
        replay: bool = False,
    ) -> int:
        """Journal and publish one document; returns its sequence number. Never blocks long."""
        with self._lock:
            self._seq += 1
            header = Header(
                seq=self._seq,
                kind=kind,
                scope=self.scope,
                run_uid=run_uid,
                time=time.time(),
                replay=replay,
                has_thumbnail=thumbnail is not None,
            ).model_dump()
            self.journal.append(header, body, thumbnail)
            try:
                self._queue.put_nowait(frames(header, body, thumbnail))
            except queue.Full:
                self.dropped_live += 1
            return self._seq

    def _heartbeat(self) -> list[bytes]:
        beat = Heartbeat(
            last_seq=self._seq,
            run_uid=self.run_uid,
            tiles_done=self.tiles_done,
            uptime_s=time.monotonic() - self._started,
            provider=self.provider,
            model_version=self.model_version,
        )
        header = Header(
            seq=self._seq,
            kind="heartbeat",
            scope=self.scope,
            run_uid=self.run_uid,
            time=time.time(),
        )
        return frames(header.model_dump(), beat.model_dump(), None)

    def _snapshot(self, identity: bytes, request: bytes) -> None:
        try:
            ask = json.loads(request or b"{}")
            after = int(ask.get("after_seq", -1))
            run = ask.get("run_uid") or None
        except (ValueError, TypeError, AttributeError):
            self.router.send_multipart([identity, b"", SNAPSHOT_END, b'{"error": "bad request"}'])
            return
        if run == "current":
            run = self.run_uid
        for entry in self._reader.read(after_seq=after, run_uid=run):
            self.router.send_multipart(
                [identity, b"", *frames(entry.header, entry.body, entry.thumbnail)]
            )
        end = json.dumps({"last_seq": self._seq, "run_uid": self.run_uid}).encode()
        self.router.send_multipart([identity, b"", SNAPSHOT_END, end])

    def _serve(self) -> None:
        poller = zmq.Poller()
        poller.register(self.router, zmq.POLLIN)
        next_beat = time.monotonic()
        while True:
            while True:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    return
                try:
                    self.pub.send_multipart(item, flags=zmq.NOBLOCK)
                except zmq.Again:
                    self.dropped_live += 1
            if time.monotonic() >= next_beat:
                self.pub.send_multipart(self._heartbeat(), flags=zmq.NOBLOCK)
                next_beat = time.monotonic() + self.endpoints.heartbeat_s
            if dict(poller.poll(timeout=5)).get(self.router):
                msg = self.router.recv_multipart()
                if len(msg) >= 2:
                    self._snapshot(msg[0], msg[-1] if len(msg) > 2 else b"")

    def close(self) -> None:
        """Publish what is queued, then close the sockets and the journal."""
        try:
            self._queue.put(_STOP, timeout=2)
        except queue.Full:  # the bus thread is gone; nothing more will be sent
            pass
        self._thread.join(timeout=5)
        self.pub.close()
        self.router.close()
        self.journal.close()
        self._reader.close()
