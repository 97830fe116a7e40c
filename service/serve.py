"""``focusqc serve``: the scanner hook. Tiles come in on a ROUTER socket, verdicts go back.

Each request is validated, scored within the deadline, decided by the same ``decide()`` as the
QC loop, answered, and published and journaled as a QC event of the session's run. A request
that cannot be used gets an error reply naming the problem; the server carries on.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import TYPE_CHECKING, Any

import numpy as np
import zmq

from focusqc.config.events import TileQC
from focusqc.models.preprocess import TileError, check_tile
from focusqc.service.decide import History, Verdict, decide
from focusqc.service.run_docs import RunDocuments
from focusqc.service.thumbnail import thumbnail

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from focusqc.config.settings import Settings
    from focusqc.service.bus import EventBus
    from focusqc.service.deadline import DeadlineScorer

log = logging.getLogger(__name__)
DTYPES = ("uint8", "uint16", "int16", "int32", "float32", "float64")


class RequestError(ValueError):
    """A request that cannot be scored; the message goes back to the scanner."""


def parse(parts: list[bytes], default_pixel_um: float | None) -> tuple[dict[str, Any], Any]:
    """Header and image of one request, or ``RequestError`` saying what is wrong."""
    if len(parts) != 2:
        raise RequestError(f"expected 2 frames (JSON header, pixels), got {len(parts)}")
    try:
        header = json.loads(parts[0])
    except ValueError as exc:
        raise RequestError(f"header is not JSON: {exc}") from None
    if not isinstance(header, dict) or not isinstance(header.get("tile_id"), str):
        raise RequestError("header needs a string 'tile_id'")
    shape = header.get("shape")
    if (
        not isinstance(shape, list)
        or len(shape) not in (2, 3)
        or not all(isinstance(n, int) and n > 0 for n in shape)
    ):
        raise RequestError(f"shape {shape!r}: expected [height, width] or [height, width, 3]")
    try:
        dtype = np.dtype(header.get("dtype", ""))
    except TypeError:
        raise RequestError(f"dtype {header.get('dtype')!r} is not a numpy dtype") from None
    if dtype.name not in DTYPES:
        raise RequestError(f"dtype {dtype.name}: use one of {', '.join(DTYPES)}")
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(parts[1]) != expected:
        raise RequestError(
            f"{len(parts[1])} pixel bytes, but shape {shape} of {dtype.name} needs {expected}"
        )
    pixel = header.get("pixel_size_um", default_pixel_um)
    if not isinstance(pixel, int | float) or pixel <= 0:
        raise RequestError("no pixel size: send 'pixel_size_um' or set optics.pixel_size_um")
    header["pixel_size_um"] = float(pixel)
    image = np.frombuffer(parts[1], dtype=dtype).reshape(shape)
    try:
        check_tile(image)
    except TileError as exc:
        raise RequestError(str(exc)) from None
    return header, image


class TileJudge:
    """Score, decide and publish one tile that arrives without a microscope to move."""

    def __init__(self, settings: Settings, scorer: DeadlineScorer, run: RunDocuments) -> None:
        self.settings = settings
        self.scorer = scorer
        self.run = run
        self.judged = 0

    def verdict(self, header: dict[str, Any], image: NDArray[np.generic]) -> dict[str, Any]:
        """Score, decide, publish; the reply for the scanner."""
        timed = self.scorer.score(image, pixel_size_um=header["pixel_size_um"])
        s = timed.score
        v = (
            Verdict(s.defocus_um, s.certainty, s.side_above_prob, s.depth_of_field_um, s.blank_prob)
            if s
            else Verdict(None, 0.0, 0.5, 1.0)
        )
        decision = decide(v, self.settings.policy, History(attempt=int(header.get("attempt", 0))))
        move = decision.z_move_um
        if move is not None:
            step = self.settings.safety.max_step_um
            move = float(np.clip(move, -step, step))
        unsure = decision.action == "refocus" and move is None
        reply = {
            "tile_id": header["tile_id"],
            "action": decision.action,
            "in_focus": decision.action == "in_focus",
            "defocus_um": s.defocus_um if s else None,
            "defocus_dof": s.defocus_dof if s else None,
            "certainty": s.certainty if s else 0.0,
            "side_above_prob": s.side_above_prob if s else 0.5,
            "suggested_z_move_um": move,
            "reason": decision.reason + ("; side unsure: probe or sweep" if unsure else ""),
            "latency_ms": timed.latency_ms,
            "deadline_missed": timed.deadline_missed,
            "model_version": self.scorer.scorer.version,
            "provider": self.scorer.scorer.provider,
        }
        self.run.tile(
            TileQC(
                tile=self.judged,
                row=int(header.get("row", 0)),
                col=int(header.get("col", 0)),
                attempt=int(header.get("attempt", 0)),
                x_um=float(header.get("x_um", 0.0)),
                y_um=float(header.get("y_um", 0.0)),
                z_um=float(header.get("z_um", 0.0)),
                defocus_um=reply["defocus_um"],
                defocus_dof=reply["defocus_dof"],
                certainty=min(max(reply["certainty"], 0.0), 1.0),
                side_above_prob=reply["side_above_prob"],
                action=decision.action,
                reason=reply["reason"],
                z_move_um=move,
                strategy="model" if move else None,
                latency_ms=timed.latency_ms,
                deadline_missed=timed.deadline_missed,
                model_version=reply["model_version"],
                provider=reply["provider"],
            ),
            thumbnail(image),
        )
        self.judged += 1
        return reply


class ScannerHook:
    """Answers scanners on ``settings.endpoints.scanner``; one run per session."""

    def __init__(
        self,
        settings: Settings,
        scorer: DeadlineScorer,
        bus: EventBus,
        curve_secret_key: bytes | None = None,
        context: zmq.Context[Any] | None = None,
    ) -> None:
        o = settings.optics
        self.default_pixel_um = None if o.pixel_size_um == "driver" else float(o.pixel_size_um)
        self.socket = (context or zmq.Context.instance()).socket(zmq.ROUTER)
        self.socket.setsockopt(zmq.LINGER, 0)
        if curve_secret_key is not None:
            self.socket.curve_server = True
            self.socket.curve_secretkey = curve_secret_key
            self.socket.curve_publickey = zmq.curve_public(curve_secret_key)
        self.socket.bind(settings.endpoints.scanner)
        self.endpoint = self.socket.getsockopt_string(zmq.LAST_ENDPOINT)
        self.run = RunDocuments(bus, None, {"mode": "scanner hook", "endpoint": self.endpoint})
        self.judge = TileJudge(settings, scorer, self.run)
        self.served = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def handle(self, parts: list[bytes]) -> dict[str, Any]:
        """One request to one reply; never raises."""
        try:
            header, image = parse(parts, self.default_pixel_um)
            reply = self.judge.verdict(header, image)
        except RequestError as exc:
            return {"error": str(exc)}
        except Exception as exc:
            log.exception("scanner request failed")
            return {"error": f"{type(exc).__name__}: {exc}"}
        self.served += 1
        return reply

    def serve(self, stop: threading.Event, poll_ms: int = 100) -> None:
        """Answer requests until ``stop`` is set."""
        while not stop.is_set():
            if not self.socket.poll(poll_ms):
                continue
            frames = self.socket.recv_multipart()
            identity, rest = frames[0], frames[1:]
            if rest and rest[0] == b"":
                rest = rest[1:]
            reply = self.handle(rest)
            self.socket.send_multipart([identity, b"", json.dumps(reply).encode()])

    def start(self) -> threading.Thread:
        """Serve on a background thread until ``close()``."""
        self._thread = threading.Thread(
            target=self.serve, args=(self._stop,), name="focusqc-scanner", daemon=True
        )
        self._thread.start()
        return self._thread

    def close(self) -> None:
        """Stop serving, end the session's run and close the socket."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.run.stop()
        self.socket.close()
