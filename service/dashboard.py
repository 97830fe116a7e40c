"""``focusqc dashboard``: a live web page per microscope, fed by the daemons' event streams.

One bridge thread per daemon takes its snapshot (the current run so far), then follows its live
stream, and keeps the current run's documents. A browser that connects (or reconnects) first
gets every kept document, then the live ones: the same picture as a page that never left. Each
browser has its own bounded queue that drops the oldest message when the browser is slow, so no
page ever slows a bridge, and no bridge ever slows a daemon.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, WebSocket, WebSocketDisconnect
from fastapi.responses import HTMLResponse

from focusqc.service.stream import Message, StreamError, Subscriber, snapshot

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

PAGE = Path(__file__).with_name("dashboard.html")
CLIENT_QUEUE = 2000


@dataclass
class ScopeFeed:
    """One daemon's current run, as documents ready for browsers."""

    publish: str
    snapshot: str
    scope: str = "?"
    run: list[dict[str, Any]] = field(default_factory=list)
    last_seq: int = -1
    connected: bool = False


class Hub:
    """Bridges daemons to browsers."""

    def __init__(self, endpoints: list[tuple[str, str]], keep: int = 20000) -> None:
        self.feeds = [ScopeFeed(pub, snap) for pub, snap in endpoints]
        self.keep = keep
        self.acked: set[tuple[str, int]] = set()
        self._clients: set[asyncio.Queue[str]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # -- daemons -> hub -------------------------------------------------------------------
    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start one bridge thread per daemon; messages go to ``loop``'s clients."""
        self._loop = loop
        for feed in self.feeds:
            thread = threading.Thread(target=self._bridge, args=(feed,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        """Stop the bridges."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=2)

    def _bridge(self, feed: ScopeFeed) -> None:
        sub = Subscriber(feed.publish)
        try:
            while not self._stop.is_set():
                try:
                    past, last = snapshot(feed.snapshot, timeout_s=2.0)
                except StreamError:
                    continue  # the daemon is not up yet: try again
                feed.connected = True
                with self._lock:
                    feed.run = []
                for msg in past:
                    self._take(feed, msg)
                feed.last_seq = last
                self._follow(feed, sub)
        finally:
            sub.close()

    def _follow(self, feed: ScopeFeed, sub: Subscriber) -> None:
        while not self._stop.is_set():
            msg = sub.recv(timeout_s=0.5)
            if msg is None:
                continue
            if msg.kind != "heartbeat" and msg.seq > feed.last_seq + 1 and feed.last_seq >= 0:
                return  # a gap: take the snapshot again
            if msg.kind != "heartbeat":
                feed.last_seq = max(feed.last_seq, msg.seq)
            self._take(feed, msg)

    def _take(self, feed: ScopeFeed, msg: Message) -> None:
        feed.scope = str(msg.header.get("scope", feed.scope))
        doc = {
            "type": "doc",
            "scope": feed.scope,
            "kind": msg.kind,
            "seq": msg.seq,
            "run_uid": msg.header.get("run_uid"),
            "body": msg.body,
        }
        if msg.thumbnail:
            doc["thumbnail"] = base64.b64encode(msg.thumbnail).decode()
        if msg.kind != "heartbeat":
            with self._lock:
                if msg.kind == "start":
                    feed.run = []
                feed.run.append(doc)
                del feed.run[: max(0, len(feed.run) - self.keep)]
        self._broadcast(json.dumps(doc))

    # -- hub -> browsers -------------------------------------------------------------------
    def _broadcast(self, text: str) -> None:
        if self._loop is None:
            return
        self._loop.call_soon_threadsafe(self._deliver, text)

    def _deliver(self, text: str) -> None:
        for queue in list(self._clients):
            if queue.full():  # a slow page: drop its oldest message, never wait
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
            queue.put_nowait(text)

    def connect(self) -> tuple[asyncio.Queue[str], list[str]]:
        """A new browser: its queue, and the kept documents to send first."""
        queue: asyncio.Queue[str] = asyncio.Queue(CLIENT_QUEUE)
        with self._lock:
            backlog = [json.dumps(doc) for feed in self.feeds for doc in feed.run]
            backlog += [json.dumps({"type": "ack", "scope": s, "seq": q}) for s, q in self.acked]
        self._clients.add(queue)
        return queue, backlog

    def disconnect(self, queue: asyncio.Queue[str]) -> None:
        """A browser left."""
        self._clients.discard(queue)

    def ack(self, scope: str, seq: int) -> None:
        """An operator acknowledged an alarm: every page shows it."""
        self.acked.add((scope, seq))
        self._deliver(json.dumps({"type": "ack", "scope": scope, "seq": seq}))


def create_app(hub: Hub) -> FastAPI:
    """The FastAPI app: the page, its WebSocket, and alarm acknowledgement."""

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        hub.start(asyncio.get_running_loop())
        yield
        hub.stop()

    app = FastAPI(title="focusqc dashboard", lifespan=lifespan)

    @app.get("/", response_class=HTMLResponse)
    async def page() -> str:
        return PAGE.read_text()

    @app.post("/ack/{scope}/{seq}")
    async def ack(scope: str, seq: int) -> dict[str, Any]:
        hub.ack(scope, seq)
        return {"acked": [scope, seq]}

    @app.websocket("/ws")
    async def stream(socket: WebSocket) -> None:
        await socket.accept()
        queue, backlog = hub.connect()
        try:
            for text in backlog:
                await socket.send_text(text)
            while True:
                await socket.send_text(await queue.get())
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            hub.disconnect(queue)

    return app
