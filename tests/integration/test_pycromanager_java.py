"""The same QC'd acquisition on Micro-Manager 2's Java backend, on a lab PC where it runs.

Skips unless Micro-Manager's pycro-manager server answers on port 4827 (it never does on CI).
Run it alone there (``pytest -m hardware``): a Python backend started earlier in the same
process would take the acquisition instead.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from focusqc.config.settings import Endpoints, Settings
from focusqc.models.scorer import FocusScorer
from focusqc.service.bus import EventBus
from focusqc.service.deadline import DeadlineScorer


def java_backend_answers(port: int = 4827) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.2)
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.hardware
@pytest.mark.skipif(
    not java_backend_answers(),
    reason="no Micro-Manager 2 with its pycro-manager server on port 4827 (lab PCs only)",
)
@pytest.mark.filterwarnings("ignore::ResourceWarning")
def test_a_qc_acquisition_on_the_java_backend(tmp_path: Path) -> None:
    from pycromanager import Core

    from focusqc.service.pycro_run import run_acquisition

    core = Core()
    z = float(core.get_position())
    settings = Settings(endpoints=Endpoints(publish="inproc://j-pub", snapshot="inproc://j-snap"))
    bus = EventBus("java", settings.endpoints, tmp_path / "j.sqlite")
    try:
        scorer = DeadlineScorer(FocusScorer(), 10_000, na=0.75, wavelength_um=0.52)
        events = [{"axes": {"position": p}, "z": z} for p in range(2)]
        qc, dataset = run_acquisition(
            settings,
            events,
            tmp_path,
            "java",
            scorer,
            bus,
            pixel_size_um=float(core.get_pixel_size_um()) or 1.0,
            timeout_s=120,
        )
        assert qc.kept == 2
        assert all("focusqc" in dataset.read_metadata(position=p) for p in range(2))
        dataset.close()
    finally:
        bus.close()
