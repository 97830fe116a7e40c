"""The dashboard: its WebSocket path on a daemon's real sockets, and the page in a real browser
(Debian's chromium driven by Playwright, headless) while ``focusqc run`` scans."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the dashboard needs the dashboard extra")
uvicorn = pytest.importorskip("uvicorn", reason="the dashboard needs the dashboard extra")
websockets = pytest.importorskip("websockets", reason="the dashboard needs the dashboard extra")

from focusqc.config.events import TileQC  # noqa: E402
from focusqc.config.settings import Endpoints  # noqa: E402
from focusqc.service.bus import EventBus  # noqa: E402
from focusqc.service.dashboard import Hub, create_app  # noqa: E402
from focusqc.service.run_docs import RunDocuments  # noqa: E402

CHROMIUM = shutil.which("chromium")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[EventBus, int]]:
    bus = EventBus(
        "scope-a",
        Endpoints(publish="tcp://127.0.0.1:*", snapshot="tcp://127.0.0.1:*", heartbeat_s=0.1),
        tmp_path / "j.sqlite",
    )
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(Hub([(bus.publish_endpoint, bus.snapshot_endpoint)])),
            host="127.0.0.1",
            port=port,
            log_level="warning",
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield bus, port
    server.should_exit = True
    thread.join(timeout=5)
    bus.close()


async def read_docs(port: int, until_tiles: int, limit_s: float = 10) -> list[dict[str, object]]:
    docs: list[dict[str, object]] = []
    async with websockets.connect(f"ws://127.0.0.1:{port}/ws") as ws:
        deadline = time.monotonic() + limit_s
        while sum(d.get("kind") == "event" for d in docs) < until_tiles:
            docs.append(json.loads(await asyncio.wait_for(ws.recv(), deadline - time.monotonic())))
    return docs


def test_a_page_that_reconnects_gets_the_same_picture(
    served: tuple[EventBus, int], tile_qc: Callable[[int], TileQC]
) -> None:
    bus, port = served
    run = RunDocuments(bus, (2, 3), {})
    for i in range(3):
        run.tile(tile_qc(i))
    first = asyncio.run(read_docs(port, 3))
    assert [d["kind"] for d in first][:3] == ["start", "descriptor", "descriptor"]
    for i in range(3, 6):
        run.tile(tile_qc(i), thumbnail=b"\x89PNG")
    # A page that connects now (or reconnects) gets the run from its start, then live.
    again = asyncio.run(read_docs(port, 6))
    tiles = [d["body"]["data"]["tile"] for d in again if d["kind"] == "event"]  # type: ignore[index]
    assert tiles == list(range(6)) and again[0]["kind"] == "start"
    assert any("thumbnail" in d for d in again)


def test_several_microscopes_share_one_page(
    tmp_path: Path, tile_qc: Callable[[int], TileQC]
) -> None:
    ends = Endpoints(publish="tcp://127.0.0.1:*", snapshot="tcp://127.0.0.1:*", heartbeat_s=0.1)
    buses = [EventBus(name, ends, tmp_path / f"{name}.sqlite") for name in ("left", "right")]
    port = free_port()
    hub = Hub([(b.publish_endpoint, b.snapshot_endpoint) for b in buses])
    server = uvicorn.Server(
        uvicorn.Config(create_app(hub), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        for bus in buses:
            RunDocuments(bus, (2, 3), {}).tile(tile_qc(0))
        docs = asyncio.run(read_docs(port, 2))
        assert {d["scope"] for d in docs if d["kind"] == "event"} == {"left", "right"}
    finally:
        server.should_exit = True
        thread.join(timeout=5)
        for bus in buses:
            bus.close()


def test_a_slow_page_loses_its_oldest_messages_not_the_daemon_its_pace() -> None:
    async def scenario() -> tuple[int, str]:
        hub = Hub([])
        hub._loop = asyncio.get_running_loop()
        queue, _ = hub.connect()
        for i in range(queue.maxsize + 50):
            hub._deliver(json.dumps({"n": i}))
        return queue.qsize(), queue.get_nowait()

    size, oldest = asyncio.run(scenario())
    assert size == 2000 and json.loads(oldest)["n"] == 50


@pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)"
)
def test_the_page_shows_tiles_as_focusqc_run_scans(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    config = tmp_path / "c.toml"
    config.write_text(
        "name = 'browser-scope'\n[endpoints]\npublish = 'tcp://127.0.0.1:*'\n"
        "snapshot = 'tcp://127.0.0.1:*'\n"
        f"[journal]\npath = '{tmp_path / 'j.sqlite'}'\n"
        "[slide]\nrows = 3\ncols = 4\ntile_px = 128\n"
    )
    daemon = subprocess.Popen(
        [sys.executable, "-m", "focusqc.service", "run", "--config", str(config), "--forever"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    page_port = free_port()
    dashboard = None
    try:
        assert daemon.stderr is not None
        found = re.search(r"events (\S+), snapshot (\S+);", daemon.stderr.readline())
        assert found
        dashboard = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "focusqc.service",
                "dashboard",
                "--port",
                str(page_port),
                "--connect",
                f"{found.group(1)},{found.group(2)}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            deadline = time.monotonic() + 60  # the server needs a moment to start, more under load
            while True:
                try:
                    page.goto(f"http://127.0.0.1:{page_port}/")
                    break
                except Exception:
                    assert time.monotonic() < deadline, "the dashboard never answered in 60 s"
                    time.sleep(0.1)
            page.wait_for_function(
                "Number(document.querySelector('canvas.map')?.dataset.tiles) >= 6", timeout=60_000
            )
            assert page.locator("#tabs button").inner_text() == "browser-scope"
            assert "CPUExecutionProvider" in page.locator(".stats").inner_text()
            box = page.locator("canvas.map").bounding_box()
            assert box is not None
            page.mouse.move(box["x"] + 10, box["y"] + 10)  # hover the first tile
            assert "tile " in page.locator("#tip").inner_text()
            browser.close()
        assert errors == []
    finally:
        for proc in (dashboard, daemon):
            if proc is not None:
                proc.terminate()
                proc.communicate(timeout=30)
