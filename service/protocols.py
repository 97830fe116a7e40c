"""What the daemon needs from the parts around it; drivers satisfy these structurally."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray


class Microscope(Protocol):
    """The few things the QC loop does to a microscope.

    Every call runs on the acquisition's thread, between tiles: ``snap`` exposes one tile at the
    current position; z and xy are in micrometres (stage coordinates); ``autofocus`` runs the
    hardware autofocus, where there is one, and returns the z it settled at.
    """

    name: str

    @property
    def pixel_size_um(self) -> float:
        """Camera pixel in the sample, as the microscope's configuration says."""
        ...

    def snap(self) -> NDArray[np.generic]:
        """Expose one tile where the stage is."""
        ...

    def get_z(self) -> float:
        """Stage z."""
        ...

    def set_z(self, z_um: float) -> None:
        """Move z (blocking until it settles)."""
        ...

    def get_xy(self) -> tuple[float, float]:
        """Stage x, y."""
        ...

    def move_xy(self, x_um: float, y_um: float) -> None:
        """Move x and y (blocking until it settles)."""
        ...

    def autofocus(self) -> float:
        """Run the hardware autofocus; returns the new z. Raises if there is none."""
        ...
