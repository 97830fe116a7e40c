"""Refocus strategies, tried in the policy's order, each bounded, all inside the safety limits.

- ``model``: one z move by the predicted signed defocus. When the side is uncertain, one probe
  exposure half-way along one direction tells which way the focus lies, then one move.
- ``sweep``: a golden-section search for the z where the model's |defocus| is least (as
  Micro-Manager's OughtaFocus searches a sharpness score), with a bounded number of exposures,
  over +-2x the predicted defocus.
- ``hardware``: the microscope's own autofocus, where it has one.

And one search that is not a strategy of the policy: ``search_structure``, for a focus lost so
far that every tile reads empty. It looks for structure on both sides, nearest first.

No move ever leaves ``[z_min_um, z_max_um]`` or exceeds ``max_step_um``, whatever the model says.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    import numpy as np
    from numpy.typing import NDArray

    from focusqc.config.settings import Safety
    from focusqc.service.protocols import Microscope

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Move:
    """What a strategy did: the z it set, the exposures it spent, and whether a limit cut it."""

    strategy: str
    z_from_um: float
    z_to_um: float
    exposures: int = 0
    limited: str = ""
    error: str = ""  # a strategy that failed before this one took over

    @property
    def z_move_um(self) -> float:
        """Signed z change."""
        return self.z_to_um - self.z_from_um


def safe_target(z_um: float, move_um: float, safety: Safety) -> tuple[float, str]:
    """The z to go to for a wanted move, cut to the step and soft limits; and what cut it."""
    limited = ""
    if abs(move_um) > safety.max_step_um:
        move_um = safety.max_step_um if move_um > 0 else -safety.max_step_um
        limited = f"step cut to {safety.max_step_um} um"
    target = z_um + move_um
    if not safety.z_min_um <= target <= safety.z_max_um:
        target = min(max(target, safety.z_min_um), safety.z_max_um)
        limited = f"held at the soft limit {target} um"
    return target, limited


def model_guided(
    scope: Microscope,
    safety: Safety,
    defocus_um: float,
    z_move_um: float | None,
    measure: Callable[[NDArray[np.generic]], float | None],
) -> Move:
    """One move by the model; with an unsure side, one probe first to find the side."""
    z0 = scope.get_z()
    exposures = 0
    if z_move_um is None:
        probe, _ = safe_target(z0, defocus_um / 2, safety)
        scope.set_z(probe)
        probe_defocus = measure(scope.snap())
        exposures = 1
        # Nearer focus at the probe: the focus lies that way; farther (or no verdict): the other.
        toward = probe_defocus is not None and probe_defocus < defocus_um
        z_move_um = defocus_um if toward else -defocus_um
    target, limited = safe_target(z0, z_move_um, safety)
    scope.set_z(target)
    return Move("model", z0, target, exposures, limited)


GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0


def sweep(
    scope: Microscope,
    safety: Safety,
    span_um: float,
    measure: Callable[[NDArray[np.generic]], float | None],
    exposures: int = 10,
) -> Move:
    """Golden-section search over ``z0 +- span_um`` for the least predicted |defocus|.

    The span is cut to half the maximum step, so no move inside the search exceeds one step.
    """
    z0 = scope.get_z()
    half = min(span_um, safety.max_step_um / 2)
    a, _ = safe_target(z0, -half, safety)
    b, _ = safe_target(z0, half, safety)

    def at(z: float) -> float:
        scope.set_z(z)
        value = measure(scope.snap())
        return math.inf if value is None else value

    c, d = b - GOLDEN * (b - a), a + GOLDEN * (b - a)
    fc, fd = at(c), at(d)
    used = 2
    while used < exposures:
        if fc <= fd:
            b, d, fd = d, c, fc
            c = b - GOLDEN * (b - a)
            fc = at(c)
        else:
            a, c, fc = c, d, fd
            d = a + GOLDEN * (b - a)
            fd = at(d)
        used += 1
    best = c if fc <= fd else d
    scope.set_z(best)
    limited = f"search cut to +-{half} um" if half < span_um else ""
    return Move("sweep", z0, best, used, limited)


def hardware(scope: Microscope, safety: Safety, offset_um: float = 0.0) -> Move:
    """The microscope's autofocus, plus an offset; the result must also respect the limits.

    The offset is for autofocus systems that find the coverslip: the sample lies
    ``offset_um`` beyond it.
    """
    z0 = scope.get_z()
    z = scope.autofocus() + offset_um
    target, limited = safe_target(z0, z - z0, safety)
    if scope.get_z() != target:  # an offset, or a cut to the limits
        scope.set_z(target)
    return Move("hardware", z0, target, 0, limited)


def walk_z(scope: Microscope, target_um: float, safety: Safety) -> float:
    """Go to ``target_um``, held inside the soft limits, in equal moves of at most one step.

    The moves are planned from where z starts, never from where the stage says it got to: a
    stage that rounds its position must not keep the walk going.
    """
    target = min(max(target_um, safety.z_min_um), safety.z_max_um)
    start = scope.get_z()
    moves = max(1, math.ceil(abs(target - start) / safety.max_step_um - 1e-9))
    for i in range(1, moves + 1):
        scope.set_z(start + (target - start) * i / moves)
    return target


#: Moves the lost-focus search makes after structure shows, each by the reading there.
FOLLOW_MOVES = 3


def search_structure(
    scope: Microscope,
    safety: Safety,
    span_um: float,
    step_um: float,
    reading: Callable[[NDArray[np.generic]], float | None],
    accept_um: float,
) -> Move:
    """Expose at ``z0 +- step_um``, ``+- 2 step_um``, ... out to ``span_um``, nearest first.

    ``reading`` gives the |defocus| of an image that shows structure, None for one that shows
    none. Where structure first shows the side is known: the nearer z showed none, so (with
    steps shorter than the range the model sees structure over) the focus lies on, away from
    ``z0``. The search follows: it moves on by the reading, up to ``FOLLOW_MOVES`` times, and
    stops once a reading is at most ``accept_um`` (``z_to_um``). A reading that does not fall
    with each move was no focus (an empty field can read as far out of focus), and the search
    goes on. Finding none, it goes back to ``z0`` and says so in ``error``. No stage move
    leaves the limits or exceeds one step: a longer way is walked.
    """
    z0 = scope.get_z()
    seen = {z0}
    exposures = 0
    for k in range(1, max(1, math.ceil(span_um / step_um - 1e-9)) + 1):
        for sign in (1.0, -1.0):
            z = walk_z(scope, z0 + sign * min(k * step_um, span_um), safety)
            if z in seen:  # held at a soft limit already looked at
                continue
            seen.add(z)
            exposures += 1
            defocus = reading(scope.snap())
            for _ in range(FOLLOW_MOVES):
                if defocus is None or defocus <= accept_um:
                    break
                z = walk_z(scope, z + sign * defocus, safety)
                exposures += 1
                nearer = reading(scope.snap())
                defocus = nearer if nearer is not None and nearer < defocus else None
            if defocus is not None and defocus <= accept_um:
                return Move("search", z0, z, exposures)
    walk_z(scope, z0, safety)
    return Move(
        "search",
        z0,
        z0,
        exposures,
        error=f"no focus found within +-{span_um:g} um of z {z0:.2f} um ({exposures} exposures)",
    )


def refocus(
    strategies: tuple[str, ...],
    scope: Microscope,
    safety: Safety,
    defocus_um: float,
    z_move_um: float | None,
    measure: Callable[[NDArray[np.generic]], float | None],
    attempt: int,
    sweep_exposures: int = 10,
    autofocus_offset_um: float = 0.0,
) -> Move:
    """Run the strategy for this attempt (first attempt: the first strategy, and so on)."""
    name = strategies[min(attempt, len(strategies) - 1)]
    if name == "sweep":
        return sweep(scope, safety, max(2 * defocus_um, 1.0), measure, sweep_exposures)
    if name == "hardware":
        try:
            return hardware(scope, safety, autofocus_offset_um)
        except Exception as exc:
            log.exception("hardware autofocus failed; the model takes over")
            move = model_guided(scope, safety, defocus_um, z_move_um, measure)
            return replace(move, error=f"hardware autofocus failed: {type(exc).__name__}: {exc}")
    return model_guided(scope, safety, defocus_um, z_move_um, measure)
