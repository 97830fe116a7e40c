"""The CPU image: built on a local Debian base (nothing can be pulled here) from a wheelhouse,
run as a container, checked from the host: its health check and its event stream.

Runs where a Docker daemon answers (CI, when dockerd is there); skips and says why elsewhere.
The base image is made once with debootstrap, as ../shared/FIELD-NOTES.md describes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from focusqc.service.stream import Subscriber

REPO = Path(__file__).resolve().parents[2]
BASE = "focusqc-base:bookworm"
IMAGE = "focusqc:test-cpu"


def docker(
    *args: str, timeout: float = 600, check: bool = True
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=check
    )


def docker_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        return docker("info", timeout=20, check=False).returncode == 0
    except subprocess.TimeoutExpired:
        return False


pytestmark = [
    pytest.mark.docker,
    pytest.mark.skipif(not docker_answers(), reason="no Docker daemon answers here"),
]


def ensure_base() -> None:
    if docker("image", "inspect", BASE, check=False).returncode == 0:
        return
    if shutil.which("debootstrap") is None or os.geteuid() != 0:
        pytest.skip(f"no {BASE} image, and debootstrap (as root) is needed to make one")
    root = Path(tempfile.mkdtemp(prefix="focusqc-bookworm-"))
    subprocess.run(
        [
            "debootstrap",
            "--variant=minbase",
            "--include=python3,python3-venv,python3-pip",
            "bookworm",
            str(root),
        ],
        check=True,
        capture_output=True,
        timeout=1200,
    )
    # The context closes tar's pipe and waits for it (an open pipe fails the run's warnings).
    with subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE) as tar:
        subprocess.run(
            ["docker", "import", "-", BASE],
            stdin=tar.stdout,
            check=True,
            capture_output=True,
            timeout=600,
        )
    assert tar.returncode == 0, f"tar of the {BASE} root failed"
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def container() -> Iterator[str]:
    ensure_base()
    subprocess.run(
        [str(REPO / "docker" / "wheelhouse.sh"), "cpu"],
        check=True,
        capture_output=True,
        timeout=900,
    )
    docker(
        "build",
        "-q",
        "-f",
        "docker/Dockerfile",
        "--target",
        "cpu",
        "--build-arg",
        f"BASE={BASE}",
        "-t",
        IMAGE,
        str(REPO),
        timeout=1800,
    )
    name = f"focusqc-test-{os.getpid()}"
    docker("run", "-d", "--name", name, "-p", "127.0.0.1::5560", "-p", "127.0.0.1::5561", IMAGE)
    try:
        yield name
    finally:
        docker("rm", "-f", name, check=False)


def host_endpoint(name: str, port: int) -> str:
    mapped = docker("port", name, f"{port}/tcp").stdout.split()[0]
    return f"tcp://{mapped}"


def test_the_container_scans_is_healthy_and_streams_to_the_host(container: str) -> None:
    sub = Subscriber(host_endpoint(container, 5560))
    try:
        tiles = sub.until("event", 120, heartbeats=False)  # the default run, seen from the host
    finally:
        sub.close()
    assert tiles[-1].topic == "focusqc.event"
    health = docker(
        "exec", container, "focusqc", "health", "--config", "/etc/focusqc/focusqc.toml", check=False
    )
    assert health.returncode == 0, health.stderr
    assert "healthy: focusqc on CPUExecutionProvider" in health.stdout
    assert docker("exec", container, "id", "-u").stdout.strip() == "10001"  # not root
    logs = docker("logs", container).stderr
    assert "journal /var/lib/focusqc/journal.sqlite" in logs  # on the volume
