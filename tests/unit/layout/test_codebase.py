"""The codebase's own rules: lint, types, layer contracts, and what the wheel installs."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)


@pytest.mark.parametrize(
    "cmd",
    [
        ("ruff", "check", "."),
        ("ruff", "format", "--check", "."),
        ("lint-imports",),
        (
            sys.executable,
            "-m",
            "mypy",
            "-p",
            "focusqc.models",
            "-p",
            "focusqc.service",
            "-p",
            "focusqc.drivers",
            "-p",
            "focusqc.config",
        ),
    ],
    ids=["ruff", "ruff-format", "import-linter", "mypy"],
)
def test_static_checks_pass(cmd: tuple[str, ...]) -> None:
    if shutil.which(cmd[0]) is None and cmd[0] != sys.executable:
        pytest.fail(f"{cmd[0]} is not installed: pip install -e '.[dev]'")
    proc = run(*cmd)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.slow
def test_wheel_installs_only_the_focusqc_package(tmp_path: Path) -> None:
    proc = run(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--no-deps",
        "--no-build-isolation",
        "-w",
        str(tmp_path),
        ".",
    )
    assert proc.returncode == 0, proc.stderr
    wheel = next(tmp_path.glob("focusqc-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    tops = {name.split("/")[0] for name in names}
    assert tops == {"focusqc", wheel.name.split("-py3")[0] + ".dist-info"}
    for pkg in ("service", "drivers", "models", "config"):
        assert f"focusqc/{pkg}/py.typed" in names
