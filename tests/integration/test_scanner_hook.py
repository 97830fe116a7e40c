"""The scanner hook on real sockets: verdicts for good tiles, error replies for bad requests,
CURVE for anything beyond loopback, and the thin client that needs only numpy and pyzmq."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
import zmq
import zmq.auth

from focusqc.config.settings import Endpoints, Settings
from focusqc.drivers.scanner import ScannerClient, ScannerError
from focusqc.models.scorer import FocusScorer
from focusqc.service.bus import EventBus
from focusqc.service.deadline import DeadlineScorer
from focusqc.service.serve import ScannerHook

if TYPE_CHECKING:
    from conftest import FocusqcCli

SETTINGS = Settings(
    endpoints=Endpoints(
        publish="tcp://127.0.0.1:*", snapshot="tcp://127.0.0.1:*", scanner="tcp://127.0.0.1:*"
    )
)
OPTICS = {"na": 0.75, "wavelength_um": 0.461, "n_immersion": 1.0}


def start(tmp: Path, secret: bytes | None = None) -> tuple[ScannerHook, EventBus]:
    bus = EventBus("scanner", SETTINGS.endpoints, tmp / "j.sqlite")
    scorer = DeadlineScorer(FocusScorer(provider="cpu"), 10_000, **OPTICS)
    hook = ScannerHook(SETTINGS, scorer, bus, secret)
    hook.start()
    return hook, bus


@pytest.fixture
def hook(tmp_path: Path) -> Iterator[ScannerHook]:
    h, bus = start(tmp_path)
    yield h
    h.close()
    bus.close()


def test_in_and_out_of_focus_tiles_get_verdicts_and_events(
    hook: ScannerHook, nuclei_tile: Callable[[float], np.ndarray]
) -> None:
    client = ScannerClient(hook.endpoint, timeout_s=30)
    sharp = client.submit("r0c0", nuclei_tile(0.0), pixel_size_um=0.65, stage_um=(0.0, 0.0, 10.0))
    blurred = client.submit(
        "r0c1", nuclei_tile(6.0), pixel_size_um=0.65, stage_um=(125.0, 0.0, 16.0)
    )
    client.close()
    assert sharp["tile_id"] == "r0c0" and sharp["in_focus"] and sharp["action"] == "in_focus"
    assert not blurred["in_focus"] and blurred["action"] == "refocus"
    assert blurred["defocus_um"] > 3.0 and blurred["model_version"]
    move = blurred["suggested_z_move_um"]
    assert move is None or abs(move) <= SETTINGS.safety.max_step_um
    events = [e.body["data"] for e in hook.run.bus.journal.read() if e.kind == "event"]
    assert [(e["action"], e["z_um"]) for e in events] == [("in_focus", 10.0), ("refocus", 16.0)]


@pytest.mark.parametrize(
    ("frames", "words"),
    [
        ([b"{}"], "expected 2 frames"),
        ([b"not json", b""], "not JSON"),
        ([b'{"shape": [4, 4]}', b""], "tile_id"),
        ([b'{"tile_id": "a", "shape": [4], "dtype": "uint8"}', b""], "shape"),
        ([b'{"tile_id": "a", "shape": [64, 64], "dtype": "complex64"}', b"x"], "dtype"),
        ([b'{"tile_id": "a", "shape": [64, 64], "dtype": "uint8"}', b"123"], "pixel bytes"),
        ([b'{"tile_id": "a", "shape": [64, 64], "dtype": "uint8"}', bytes(4096)], "pixel size"),
        (
            [b'{"tile_id": "a", "shape": [8, 8], "dtype": "uint8", "pixel_size_um": 1}', bytes(64)],
            "16x16",
        ),
    ],
)
def test_a_malformed_request_gets_an_error_reply_and_the_server_carries_on(
    hook: ScannerHook, frames: list[bytes], words: str, nuclei_tile: Callable[[float], np.ndarray]
) -> None:
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(hook.endpoint)
    sock.send_multipart([b"", *frames])
    assert sock.poll(10_000)
    reply = sock.recv_multipart()[-1].decode()
    sock.close()
    assert words in reply and '"error"' in reply
    client = ScannerClient(hook.endpoint, timeout_s=30)  # the next good tile is still served
    assert client.submit("ok", nuclei_tile(0.0), pixel_size_um=0.65)["tile_id"] == "ok"
    client.close()


def test_the_client_says_when_there_is_no_answer() -> None:
    client = ScannerClient("tcp://127.0.0.1:9", timeout_s=0.3)
    with pytest.raises(ScannerError, match="no verdict"):
        client.submit("t", np.zeros((32, 32), np.uint16), pixel_size_um=1.0)
    client.close()


def test_curve_lets_the_key_holder_in_and_keeps_others_out(
    tmp_path: Path, nuclei_tile: Callable[[float], np.ndarray]
) -> None:
    server_public, server_secret = zmq.curve_keypair()
    hook, bus = start(tmp_path, server_secret)
    try:
        ok = ScannerClient(hook.endpoint, timeout_s=30, curve_server_key=server_public)
        assert ok.submit("c", nuclei_tile(0.0), pixel_size_um=0.65)["tile_id"] == "c"
        ok.close()
        plain = ScannerClient(hook.endpoint, timeout_s=1.0)  # no keys: the handshake fails
        with pytest.raises(ScannerError, match="no verdict"):
            plain.submit("x", nuclei_tile(0.0), pixel_size_um=0.65)
        plain.close()
    finally:
        hook.close()
        bus.close()


def test_the_client_module_needs_only_numpy_and_pyzmq() -> None:
    code = (
        "import sys, focusqc.drivers.scanner as s;"
        "heavy = {'onnxruntime', 'scipy', 'torch', 'pydantic', 'focusqc.models'};"
        "heavy &= set(sys.modules);"
        "print(sorted(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_serve_refuses_remote_endpoints_without_curve(
    tmp_path: Path, focusqc_cli: FocusqcCli
) -> None:
    config = tmp_path / "remote.toml"
    config.write_text("[endpoints]\nallow_remote = true\nscanner = 'tcp://0.0.0.0:5599'\n")
    run = focusqc_cli("serve", "--config", str(config))
    assert run.returncode == 2 and "--curve-secret" in run.stderr


def test_serve_runs_from_the_command_line_with_a_curve_key_file(
    tmp_path: Path, nuclei_tile: Callable[[float], np.ndarray]
) -> None:
    public_file, secret_file = zmq.auth.create_certificates(str(tmp_path), "server")
    server_public, _ = zmq.auth.load_certificate(public_file)
    config = tmp_path / "s.toml"
    config.write_text(
        f"[endpoints]\npublish = 'tcp://127.0.0.1:*'\nsnapshot = 'tcp://127.0.0.1:*'\n"
        f"scanner = 'tcp://127.0.0.1:*'\n[journal]\npath = '{tmp_path / 'j.sqlite'}'\n"
    )
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "focusqc.service",
            "serve",
            "--config",
            str(config),
            "--curve-secret",
            secret_file,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        assert "(CURVE)" in line, line
        endpoint = line.split("serving scanners on ")[1].split()[0]
        client = ScannerClient(endpoint, timeout_s=60, curve_server_key=server_public)
        assert client.submit("cli", nuclei_tile(0.0), pixel_size_um=0.65)["tile_id"] == "cli"
        client.close()
    finally:
        proc.send_signal(2)
        _, err = proc.communicate(timeout=60)
    assert "served 1 tiles" in err
