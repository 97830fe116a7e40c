"""A simulated microscope: a slide under a 20x/0.75 objective, imaged with the simulator's physics.

The slide has a focus surface that drifts as the scan goes on, a tilted region, and a few blank
fields. ``snap()`` renders the field under the stage at the stage's z: the defocus is the stage z
minus the surface's best focus there, so moving z really refocuses. The same field always holds
the same cells (seeded by its grid position); every exposure draws fresh camera noise.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

import numpy as np

from focusqc.models.sim.camera import Camera
from focusqc.models.sim.optics import DRY_20X, Optics
from focusqc.models.sim.render import TileSpec, render

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from focusqc.config.settings import SimulatedSlide


class SimulatedScope:
    """Implements the microscope protocol (snap, z, xy, autofocus) on a simulated slide."""

    name = "simulated"

    def __init__(
        self,
        slide: SimulatedSlide,
        optics: Optics | None = None,
        z_start_um: float = 0.0,
    ) -> None:
        self.slide = slide
        self.optics = optics or DRY_20X
        self.camera = (
            Camera(read_noise_e=2.0, gain_adu_per_e=0.5, offset_adu=100.0, bit_depth=12)
            if slide.modality == "fluorescence"
            else Camera(qe=0.7, read_noise_e=5.0, gain_adu_per_e=1.0, offset_adu=0.0, bit_depth=16)
        )
        self._z = z_start_um
        self._xy = (0.0, 0.0)
        self.exposures = 0
        #: The truth about the last exposure, which a real microscope cannot know: its defocus
        #: (um; None before the first) and whether its field is blank. For summaries and benches.
        self.last_defocus_um: float | None = None
        self.last_blank = False
        self._lock = threading.Lock()
        rng = np.random.default_rng(slide.seed)
        cells = slide.rows * slide.cols
        blanks = rng.choice(cells, size=min(slide.blank_tiles, cells), replace=False)
        self.blank = {(int(i) // slide.cols, int(i) % slide.cols) for i in blanks}

    @property
    def pixel_size_um(self) -> float:
        """Camera pixel in the sample."""
        return self.optics.pixel_size_um

    @property
    def field_um(self) -> float:
        """Side of one tile in the sample."""
        return self.slide.tile_px * self.optics.pixel_size_um

    def grid_xy(self, row: int, col: int) -> tuple[float, float]:
        """Stage position of a grid cell's centre."""
        return (col * self.field_um, row * self.field_um)

    def _cell(self) -> tuple[int, int]:
        x, y = self._xy
        return (round(y / self.field_um), round(x / self.field_um))

    def best_focus_um(self, row: int, col: int) -> float:
        """Where focus lies at a cell now: the drift so far, plus the tilted region's slope.

        The drift runs at ``drift_um_per_tile`` per exposure and turns back at
        ``drift_range_um`` (thermal drift settles), so a soak never walks off the stage.
        """
        s = self.slide
        span = s.drift_range_um
        travelled = s.drift_um_per_tile * self.exposures
        z = span - abs(travelled % (2 * span) - span) if span > 0 else travelled
        r0, r1, c0, c1 = s.tilted_region
        if r0 <= row <= r1 and c0 <= col <= c1:
            z += s.tilt_um * (col - c0 + 0.5) / (c1 - c0 + 1)
        return z

    def snap(self) -> NDArray[np.generic]:
        """Expose one tile at the current stage position."""
        with self._lock:
            row, col = self._cell()
            defocus = self._z - self.best_focus_um(row, col)
            self.exposures += 1
            exposure = self.exposures
            blank = (row, col) in self.blank
            self.last_defocus_um, self.last_blank = defocus, blank
        s = self.slide
        spec = TileSpec(
            seed=s.seed * 1_000_003 + row * 1009 + col,
            noise_seed=exposure,  # the same cells, fresh noise every exposure
            modality=s.modality,
            specimen="empty"
            if blank
            else ("tissue" if s.modality == "brightfield" else s.specimen),
            optics=self.optics,
            camera=self.camera,
            size_px=s.tile_px,
            density=0.0 if blank else s.density,
            defocus_um=defocus,
            thickness_um=s.thickness_um if s.modality == "fluorescence" else 0.0,
            peak_photons=3000.0 if s.modality == "fluorescence" else 8000.0,
            background_photons=40.0,
        )
        return np.asarray(render(spec).image)

    def get_z(self) -> float:
        """Stage z, um."""
        return self._z

    def set_z(self, z_um: float) -> None:
        """Move the stage in z (instantly, here)."""
        self._z = float(z_um)

    def get_xy(self) -> tuple[float, float]:
        """Stage x, y, um."""
        return self._xy

    def move_xy(self, x_um: float, y_um: float) -> None:
        """Move the stage in x and y."""
        self._xy = (float(x_um), float(y_um))

    def autofocus(self) -> float:
        """Hardware autofocus: finds the surface to within 0.2 um after 50 ms; returns z."""
        time.sleep(0.05)
        row, col = self._cell()
        self._z = self.best_focus_um(row, col) + 0.2 * float(np.sin(self.exposures))
        return self._z
