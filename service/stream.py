"""Reading the event stream: subscribe to the live documents, or ask for a snapshot.

A late joiner subscribes first, then asks the snapshot endpoint for the run so far, then keeps
only live documents newer than the snapshot: the same picture as a client that never left.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import zmq

from focusqc.service.bus import SNAPSHOT_END


class StreamError(RuntimeError):
    """A malformed message, or an endpoint that does not answer."""


@dataclass(frozen=True)
class Message:
    """One document off the wire."""

    topic: str
    header: dict[str, Any]
    body: dict[str, Any]
    thumbnail: bytes | None = None

    @property
    def seq(self) -> int:
        """The document's sequence number."""
        return int(self.header["seq"])

    @property
    def kind(self) -> str:
        """start, descriptor, event, stop or heartbeat."""
        return str(self.header["kind"])


def decode(parts: list[bytes]) -> Message:
    """Frames -> Message; a clear error for anything else."""
    if len(parts) not in (3, 4):
        raise StreamError(
            f"expected 3 or 4 frames (topic, header, body[, thumbnail]), got {len(parts)}"
        )
    try:
        header, body = json.loads(parts[1]), json.loads(parts[2])
    except ValueError as exc:
        raise StreamError(f"frame is not JSON: {exc}") from exc
    return Message(parts[0].decode(), header, body, parts[3] if len(parts) == 4 else None)


class Subscriber:
    """A SUB socket on the publish endpoint, optionally filtered by topic prefix."""

    def __init__(
        self, endpoint: str, topic: str = "", context: zmq.Context[Any] | None = None
    ) -> None:
        self._ctx = context or zmq.Context.instance()
        self.socket = self._ctx.socket(zmq.SUB)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.setsockopt(zmq.RCVHWM, 100000)
        self.socket.setsockopt_string(zmq.SUBSCRIBE, topic)
        self.socket.connect(endpoint)

    def recv(self, timeout_s: float | None = None) -> Message | None:
        """The next document, or None when ``timeout_s`` passes first."""
        if timeout_s is not None and not self.socket.poll(int(timeout_s * 1000)):
            return None
        return decode(self.socket.recv_multipart())

    def until(self, kind: str, limit_s: float, heartbeats: bool = True) -> list[Message]:
        """Every document up to and including the first of ``kind``.

        Raises ``StreamError`` when ``limit_s`` passes without one.
        """
        got: list[Message] = []
        deadline = time.monotonic() + limit_s
        while (left := deadline - time.monotonic()) > 0:
            msg = self.recv(timeout_s=min(left, 0.5))
            if msg is None or (msg.kind == "heartbeat" and not heartbeats and kind != "heartbeat"):
                continue
            got.append(msg)
            if msg.kind == kind:
                return got
        raise StreamError(f"no {kind} within {limit_s} s; got {[m.kind for m in got]}")

    def close(self) -> None:
        """Close the socket."""
        self.socket.close()


def snapshot(
    endpoint: str,
    run_uid: str | None = "current",
    after_seq: int = -1,
    timeout_s: float = 5.0,
    context: zmq.Context[Any] | None = None,
) -> tuple[list[Message], int]:
    """The journaled documents of a run (default: the current one), and the last seq then."""
    ctx = context or zmq.Context.instance()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(endpoint)
    try:
        sock.send_multipart(
            [b"", json.dumps({"run_uid": run_uid, "after_seq": after_seq}).encode()]
        )
        out: list[Message] = []
        deadline = time.monotonic() + timeout_s
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not sock.poll(int(left * 1000)):
                raise StreamError(
                    f"no snapshot from {endpoint} within {timeout_s} s: is the daemon running?"
                )
            parts = sock.recv_multipart()[1:]
            if parts and parts[0] == SNAPSHOT_END:
                end = json.loads(parts[1])
                if "error" in end:
                    raise StreamError(f"snapshot refused: {end['error']}")
                return out, int(end["last_seq"])
            out.append(decode(parts))
    finally:
        sock.close()
