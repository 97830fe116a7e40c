"""What the Docker files promise, read from the files (the image itself: test_docker.py)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

DOCKER = Path(__file__).resolve().parents[3] / "docker"


def test_the_dockerfile_runs_as_a_user_with_a_health_check_and_a_journal_volume() -> None:
    text = (DOCKER / "Dockerfile").read_text()
    for needed in (
        "AS cpu",
        "AS gpu",
        "USER focusqc",
        "VOLUME /var/lib/focusqc",
        'CMD ["focusqc", "health"',
        "--no-index --find-links",
    ):
        assert needed in text, needed
    # The GPU stages come after the CPU target, so `--target cpu` never needs GPU wheels.
    assert text.index("AS cpu") < text.index("AS build-gpu")


def test_compose_publishes_on_loopback_and_reserves_the_gpu() -> None:
    compose = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    services = compose["services"]
    assert {"daemon", "daemon-gpu", "scanner-hook", "dashboard"} <= set(services)
    for name, service in services.items():
        for port in service.get("ports", []):
            # Only the CURVE-protected scanner hook is reachable from other machines.
            assert port.startswith("127.0.0.1:") or (name, port) == ("scanner-hook", "5562:5562")
    devices = services["daemon-gpu"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["driver"] == "nvidia"
    assert "--curve-secret" in services["scanner-hook"]["command"]


@pytest.mark.parametrize("profile", ["cpu", "gpu", "scanner"])
def test_compose_is_read_by_the_compose_found_here(profile: str) -> None:
    # Labs run both: the docker compose plugin and the older docker-compose (1.28 or later),
    # which refuses keys it does not know (a top-level `name`, for one).
    if shutil.which("docker-compose"):
        cmd = ["docker-compose"]
    elif shutil.which("docker") and run(["docker", "compose", "version"]).returncode == 0:
        cmd = ["docker", "compose"]
    else:
        pytest.skip("neither docker-compose nor the docker compose plugin is installed")
    args = ["-p", "focusqc", "-f", str(DOCKER / "compose.yaml"), "--profile", profile, "config"]
    proc = run([*cmd, *args])
    assert proc.returncode == 0, proc.stderr
    assert "dashboard" in yaml.safe_load(proc.stdout)["services"]


def run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
