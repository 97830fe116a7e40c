"""The microscope protocol on a Micro-Manager core (pymmcore-plus's ``CMMCorePlus``).

Needs the ``micromanager`` extra. Every call blocks until the device has settled, so a z move
is done before the next snap. ``demo_core()`` loads Micro-Manager's demo devices from the
``mm-test-adapters`` wheel: a whole microscope with no hardware, for tests and trials.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray
    from pymmcore_plus import CMMCorePlus


class DriverError(RuntimeError):
    """The microscope cannot do what was asked; the message says what to configure."""


class MMCoreScope:
    """Snap, z, xy and autofocus through one ``CMMCorePlus``."""

    name = "pymmcore-plus"

    def __init__(self, core: CMMCorePlus, pixel_size_um: float | None = None) -> None:
        self.core = core
        self._pixel = pixel_size_um
        if not core.getCameraDevice():
            raise DriverError("the core has no camera: load a system configuration first")
        if not core.getFocusDevice():
            raise DriverError("the core has no focus (z) device: focusqc cannot refocus")

    @property
    def pixel_size_um(self) -> float:
        """The configured pixel size, or the core's pixel size calibration."""
        size = self._pixel or self.core.getPixelSizeUm()
        if size <= 0:
            raise DriverError(
                "Micro-Manager has no pixel size calibration for this configuration: "
                "calibrate it, or set optics.pixel_size_um"
            )
        return float(size)

    def snap(self) -> NDArray[np.generic]:
        """Expose one image with the current settings."""
        self.core.snapImage()
        return self.core.getImage()

    def get_z(self) -> float:
        """Focus position, um."""
        return float(self.core.getPosition())

    def set_z(self, z_um: float) -> None:
        """Move focus and wait for it."""
        self.core.setPosition(float(z_um))
        self.core.waitForDevice(self.core.getFocusDevice())

    def get_xy(self) -> tuple[float, float]:
        """Stage x, y, um (0, 0 without an XY stage)."""
        if not self.core.getXYStageDevice():
            return (0.0, 0.0)
        x, y = self.core.getXYPosition()
        return (float(x), float(y))

    def move_xy(self, x_um: float, y_um: float) -> None:
        """Move the XY stage and wait for it."""
        if not self.core.getXYStageDevice():
            raise DriverError("the core has no XY stage: a tiled scan needs one")
        self.core.setXYPosition(float(x_um), float(y_um))
        self.core.waitForDevice(self.core.getXYStageDevice())

    def autofocus(self) -> float:
        """Run the autofocus device's full focus; returns the new z."""
        if not self.core.getAutoFocusDevice():
            raise DriverError("no autofocus device is configured")
        self.core.fullFocus()
        self.core.waitForDevice(self.core.getFocusDevice())
        return self.get_z()


def demo_core() -> CMMCorePlus:
    """A core with Micro-Manager's demo devices (camera, z, XY stage, autofocus)."""
    import mm_test_adapters
    from pymmcore_plus import CMMCorePlus

    folder = Path(mm_test_adapters.device_adapter_path())
    core = CMMCorePlus()
    core.setDeviceAdapterSearchPaths([str(folder)])
    core.loadSystemConfiguration(str(folder / "MMConfig_demo.cfg"))
    return core
