"""The scanner side of the scanner hook: submit a tile, get a verdict. Needs numpy and pyzmq only.

A slide scanner that runs its own acquisition sends each tile to ``focusqc serve`` (a ROUTER
socket) as two frames, a JSON header and the raw pixels, and gets one JSON verdict back within
the deadline::

    header = {"tile_id": "slide7/r3c12", "shape": [1024, 1024], "dtype": "uint16",
              "pixel_size_um": 0.25, "x_um": 1200.0, "y_um": 830.5, "z_um": 12.0,
              "attempt": 0}
    verdict = {"tile_id": ..., "action": "in_focus" | "refocus" | "skip" | "reacquire" | "alarm",
               "in_focus": bool, "defocus_um": float | None, "certainty": float,
               "suggested_z_move_um": float | None, "reason": str, ...}

A request the server cannot use gets ``{"error": "..."}`` naming the problem, never silence.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np
import zmq

if TYPE_CHECKING:
    from numpy.typing import NDArray

PROTOCOL = "focusqc.scanner/1"


class ScannerError(RuntimeError):
    """No verdict: the server refused the tile (with its reason) or did not answer in time."""


class ScannerClient:
    """A DEALER socket to ``focusqc serve``; one request in flight at a time."""

    def __init__(
        self,
        endpoint: str,
        timeout_s: float = 5.0,
        curve_server_key: bytes | None = None,
        curve_client_keys: tuple[bytes, bytes] | None = None,
        context: zmq.Context[Any] | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.timeout_s = timeout_s
        self._ctx = context or zmq.Context.instance()
        self._curve = (curve_server_key, curve_client_keys)
        self._connect()

    def _connect(self) -> None:
        self.socket = self._ctx.socket(zmq.DEALER)
        self.socket.setsockopt(zmq.LINGER, 0)
        # With no live peer (server down, or a CURVE handshake refused) a send would wait forever.
        self.socket.setsockopt(zmq.SNDTIMEO, int(self.timeout_s * 1000))
        server_key, client_keys = self._curve
        if server_key is not None:
            public, secret = client_keys or zmq.curve_keypair()
            self.socket.curve_serverkey = server_key
            self.socket.curve_publickey = public
            self.socket.curve_secretkey = secret
        self.socket.connect(self.endpoint)

    def submit(
        self,
        tile_id: str,
        image: NDArray[np.generic],
        pixel_size_um: float | None = None,
        stage_um: tuple[float, float, float] | None = None,
        attempt: int = 0,
    ) -> dict[str, Any]:
        """Send one tile; returns the verdict, or raises ``ScannerError``."""
        pixels = np.ascontiguousarray(image)
        header: dict[str, Any] = {
            "protocol": PROTOCOL,
            "tile_id": tile_id,
            "shape": list(pixels.shape),
            "dtype": pixels.dtype.str,
            "attempt": attempt,
        }
        if pixel_size_um is not None:
            header["pixel_size_um"] = pixel_size_um
        if stage_um is not None:
            header["x_um"], header["y_um"], header["z_um"] = stage_um
        try:
            self.socket.send_multipart([b"", json.dumps(header).encode(), pixels.data])
            answered = self.socket.poll(int(self.timeout_s * 1000))
        except zmq.Again:
            answered = False
        if not answered:
            # A lost reply would pair the next answer with the wrong tile: start afresh.
            self.socket.close()
            self._connect()
            raise ScannerError(f"no verdict from {self.endpoint} within {self.timeout_s} s")
        reply = json.loads(self.socket.recv_multipart()[-1])
        if "error" in reply:
            raise ScannerError(f"tile {tile_id} refused: {reply['error']}")
        return dict(reply)

    def close(self) -> None:
        """Close the socket."""
        self.socket.close()
