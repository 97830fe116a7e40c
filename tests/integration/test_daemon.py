"""``focusqc run`` as a real process: real sockets, journal and model, and a kill mid-run."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import zmq

from focusqc.service.journal import Journal
from focusqc.service.stream import Message, Subscriber, snapshot

if TYPE_CHECKING:
    from conftest import FocusqcCli

CONFIG = """
name = "it-scope"
[optics]
na = 0.75
wavelength_nm = 461
[endpoints]
publish = "tcp://127.0.0.1:*"
snapshot = "tcp://127.0.0.1:*"
heartbeat_s = 0.2
[journal]
path = "{journal}"
[slide]
rows = 3
cols = 4
tile_px = 128
drift_um_per_tile = 0.4
tilted_region = [2, 2, 0, 1]
blank_tiles = 1
"""


class Daemon:
    """``focusqc run`` in a subprocess, with the endpoints it announced."""

    def __init__(self, tmp: Path, *args: str, sigint_ignored: bool = False) -> None:
        self.journal = tmp / "journal.sqlite"
        config = tmp / "it.toml"
        config.write_text(CONFIG.format(journal=self.journal))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "focusqc.service", "run", "--config", str(config), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            # What a shell does to a background job: SIGINT ignored, and inherited so.
            preexec_fn=(lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
            if sigint_ignored
            else None,
        )
        assert self.proc.stderr is not None
        line = self.proc.stderr.readline()
        found = re.search(r"events (\S+), snapshot (\S+);", line)
        assert found, line
        self.publish, self.snapshot = found.group(1), found.group(2)

    def finish(self, timeout_s: float = 120) -> tuple[str, str]:
        out, err = self.proc.communicate(timeout=timeout_s)
        return out, err


@pytest.fixture
def subscribe() -> Iterator[Callable[[str], Subscriber]]:
    """Subscribers that are closed whatever the test's outcome."""
    made: list[Subscriber] = []

    def make(endpoint: str) -> Subscriber:
        made.append(Subscriber(endpoint))
        return made[-1]

    yield make
    for sub in made:
        sub.close()


def test_a_scan_publishes_and_journals_every_decision(
    tmp_path: Path, subscribe: Callable[[str], Subscriber]
) -> None:
    daemon = Daemon(tmp_path)
    sub = subscribe(daemon.publish)
    docs = sub.until("stop", 120, heartbeats=False)
    _, err = daemon.finish()
    assert daemon.proc.returncode == 0, err
    assert "focusqc run summary" in err
    # The simulated slide knows where focus truly was: the summary says what the QC let through.
    passed = re.search(r"passed, truly beyond ([\d.]+) um\s*│\s*(\d+) of (\d+)", err)
    assert passed, err
    assert float(passed.group(1)) == pytest.approx(2.5 * 0.681, abs=0.01)
    assert int(passed.group(2)) <= int(passed.group(3)) <= 12
    # A late subscriber may miss the first documents; the journal has every one, in order.
    journal = Journal(daemon.journal)
    entries = list(journal.read())
    assert [e.seq for e in entries] == list(range(len(entries)))
    by_seq = {e.seq: e for e in entries}
    assert all(by_seq[m.seq].body == m.body for m in docs)
    tiles = [e.body["data"] for e in entries if e.kind == "event" and "action" in e.body["data"]]
    assert {t["tile"] for t in tiles} == set(range(12))  # every tile decided
    actions = {t["action"] for t in tiles}
    assert "in_focus" in actions and actions <= {"in_focus", "skip", "refocus", "alarm"}
    # Every alarm decision (here: the blank tile, when the model sees structure in its noise)
    # is also an event in the alarms stream.
    alarms = [e.body["data"] for e in entries if e.kind == "event" and "severity" in e.body["data"]]
    assert {t["tile"] for t in tiles if t["action"] == "alarm"} <= {a["tile"] for a in alarms}
    # Drift and the tilted region force at least one refocus, which then ends in focus.
    refocused = [t for t in tiles if t["action"] == "refocus"]
    assert refocused, [(t["tile"], t["defocus_um"]) for t in tiles]
    for t in refocused:
        later = [u for u in tiles if u["tile"] == t["tile"] and u["attempt"] > t["attempt"]]
        assert later, f"tile {t['tile']} was refocused but never re-acquired"
        assert t["z_move_um"] is not None and abs(t["z_move_um"]) <= 20.0
    assert all(t["model_version"] and t["provider"] for t in tiles)
    journal.close()


def test_killing_the_daemon_mid_run_loses_no_journaled_event(
    tmp_path: Path, subscribe: Callable[[str], Subscriber]
) -> None:
    daemon = Daemon(tmp_path, "--forever")
    sub = subscribe(daemon.publish)
    received: list[Message] = []
    deadline = time.monotonic() + 120
    while len([m for m in received if m.kind == "event"]) < 15 and time.monotonic() < deadline:
        msg = sub.recv(timeout_s=0.5)
        if msg is not None and msg.kind != "heartbeat":
            received.append(msg)
    os.kill(daemon.proc.pid, signal.SIGKILL)
    daemon.finish()
    assert len([m for m in received if m.kind == "event"]) >= 15
    journal = Journal(daemon.journal)
    entries = list(journal.read())
    # Every document up to the kill, numbered without a gap, in order...
    assert [e.seq for e in entries] == list(range(len(entries)))
    # ...including every one a subscriber saw, identical.
    by_seq = {e.seq: e for e in entries}
    assert all(m.seq in by_seq and by_seq[m.seq].body == m.body for m in received)
    assert entries[-1].seq >= received[-1].seq
    journal.close()


def test_tail_snapshot_and_replay_from_the_command_line(
    tmp_path: Path, subscribe: Callable[[str], Subscriber], focusqc_cli: FocusqcCli
) -> None:
    daemon = Daemon(tmp_path, "--forever")
    tail = focusqc_cli(
        "tail", "--endpoint", daemon.publish, "--count", "4", "--timeout-s", "60", timeout=120
    )
    assert tail.returncode == 0, tail.stderr
    lines = tail.stdout.splitlines()
    assert len(lines) == 4 and all(re.match(r"#\d+ +it-scope\.", line) for line in lines)
    # A late joiner's snapshot holds the current run from its start.
    past, last = snapshot(daemon.snapshot)
    assert past[0].kind == "start" and last >= past[-1].seq
    daemon.proc.send_signal(signal.SIGINT)
    _, err = daemon.finish()
    assert "interrupted" in err
    # Replay the first run on a fresh port and read it back.
    run_uid = past[0].header["run_uid"]
    probe = zmq.Context.instance().socket(zmq.PUB)
    probe.bind("tcp://127.0.0.1:*")
    endpoint = probe.getsockopt_string(zmq.LAST_ENDPOINT)
    probe.close(linger=0)
    replay = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "focusqc.service",
            "events",
            "replay",
            run_uid[:8],
            "--journal",
            str(daemon.journal),
            "--endpoint",
            endpoint,
            "--wait-s",
            "1.5",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    docs = subscribe(endpoint).until("stop", 60, heartbeats=False)
    replay.communicate(timeout=60)
    assert replay.returncode == 0
    assert docs[0].kind == "start" and all(m.header["replay"] for m in docs)
    assert [m.seq for m in docs] == sorted(m.seq for m in docs)


def test_tail_times_out_on_a_stream_of_nothing_but_heartbeats(focusqc_cli: FocusqcCli) -> None:
    import threading

    from focusqc.service.bus import frames

    pub = zmq.Context.instance().socket(zmq.PUB)
    pub.bind("tcp://127.0.0.1:*")
    endpoint = pub.getsockopt_string(zmq.LAST_ENDPOINT)
    stop = threading.Event()

    def beat() -> None:
        seq = 0
        while not stop.wait(0.2):
            header = {"scope": "quiet", "kind": "heartbeat", "seq": seq}
            pub.send_multipart(frames(header, {"last_seq": seq}, None))
            seq += 1

    beating = threading.Thread(target=beat)
    beating.start()
    try:
        started = time.monotonic()
        tail = focusqc_cli("tail", "--endpoint", endpoint, "--timeout-s", "1.5")
    finally:
        stop.set()
        beating.join()
        pub.close(linger=0)
    # Hidden heartbeats every 0.2 s must not keep a stream with no events alive.
    assert tail.returncode == 1, tail.stderr
    assert f"nothing from {endpoint} for 1.5 s" in tail.stderr
    assert time.monotonic() - started < 30


def test_a_wrong_config_stops_the_daemon_before_it_starts(
    tmp_path: Path, focusqc_cli: FocusqcCli
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[policy]\ncertainty_gate = 3\n")
    run = focusqc_cli("run", "--config", str(bad))
    assert run.returncode == 2
    assert "policy.certainty_gate" in run.stderr and "less than 1" in run.stderr


@pytest.mark.parametrize("cmd", [["events", "list"], ["events", "replay", "abc"]])
def test_event_commands_name_a_missing_journal(
    tmp_path: Path, cmd: list[str], focusqc_cli: FocusqcCli
) -> None:
    run = focusqc_cli(*cmd, "--journal", str(tmp_path / "no.sqlite"))
    assert run.returncode == 2 and "no journal at" in run.stderr


def test_health_passes_for_a_live_daemon_and_fails_for_a_dead_or_wrong_one(
    tmp_path: Path,
    focusqc_cli: FocusqcCli,
) -> None:
    daemon = Daemon(tmp_path, "--forever")
    try:
        ok = focusqc_cli(
            "health", "--endpoint", daemon.publish, "--config", str(tmp_path / "it.toml")
        )
        assert ok.returncode == 0, ok.stderr
        assert "healthy: it-scope on CPUExecutionProvider" in ok.stdout
        gpu = tmp_path / "gpu.toml"
        gpu.write_text("name = 'it-scope'\n[runtime]\nrequire_gpu = true\n")
        wrong = focusqc_cli("health", "--endpoint", daemon.publish, "--config", str(gpu))
        assert wrong.returncode == 1 and "requires a GPU" in wrong.stderr
    finally:
        daemon.proc.send_signal(signal.SIGINT)
        daemon.finish()
    dead = focusqc_cli("health", "--endpoint", daemon.publish, "--timeout-s", "1")
    assert dead.returncode == 1 and "no heartbeat" in dead.stderr


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_sigint_or_sigterm_closes_the_run_even_when_started_in_the_background(
    tmp_path: Path, signum: signal.Signals
) -> None:
    daemon = Daemon(tmp_path, "--forever", sigint_ignored=True)
    time.sleep(1.0)
    daemon.proc.send_signal(signum)
    _, err = daemon.finish(timeout_s=30)
    assert daemon.proc.returncode == 0 and "interrupted" in err


@pytest.mark.parametrize(
    ("command", "ready"),
    [(["serve"], "serving scanners on"), (["watch", "--pixel-size-um", "0.65"], "watching")],
)
def test_serve_and_watch_also_stop_on_sigint_when_started_in_the_background(
    tmp_path: Path, command: list[str], ready: str
) -> None:
    config = tmp_path / "it.toml"
    text = CONFIG.format(journal=tmp_path / "journal.sqlite")
    config.write_text(text.replace("heartbeat_s", 'scanner = "tcp://127.0.0.1:*"\nheartbeat_s'))
    args = [*command, str(tmp_path)] if command[0] == "watch" else command
    proc = subprocess.Popen(
        [sys.executable, "-m", "focusqc.service", *args, "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    try:
        assert proc.stderr is not None
        seen = ""
        while ready not in seen:
            line = proc.stderr.readline()
            assert line, f"{args[0]} ended before it was ready: {seen}"
            seen += line
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)
        assert proc.returncode == 0
    finally:
        proc.kill()
