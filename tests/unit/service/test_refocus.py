"""Safety limits and the refocus strategies, on the simulated scope."""

from __future__ import annotations

import numpy as np
import pytest

from focusqc.config.settings import Safety, SimulatedSlide
from focusqc.drivers.simulated import SimulatedScope
from focusqc.service.refocus import (
    model_guided,
    refocus,
    safe_target,
    search_structure,
    walk_z,
)

SAFETY = Safety(z_min_um=-10.0, z_max_um=10.0, max_step_um=5.0)


@pytest.mark.parametrize(
    ("z", "move", "target", "limited"),
    [
        (0.0, 3.0, 3.0, ""),
        (0.0, -12.0, -5.0, "step"),  # one move never exceeds the maximum step
        (8.0, 4.0, 10.0, "soft limit"),  # z never leaves the soft limits
        (-9.0, -4.0, -10.0, "soft limit"),
        (0.0, 1e9, 5.0, "step"),  # whatever the model says
    ],
)
def test_safe_target(z: float, move: float, target: float, limited: str) -> None:
    got, why = safe_target(z, move, SAFETY)
    assert got == target and limited in why


def one_field(tile_px: int = 64, thickness_um: float = 6.0) -> SimulatedSlide:
    """A slide of one field with cells, no drift and no tilt."""
    return SimulatedSlide(
        rows=1,
        cols=1,
        tile_px=tile_px,
        drift_um_per_tile=0.0,
        blank_tiles=0,
        tilted_region=(9, 9, 9, 9),
        thickness_um=thickness_um,
    )


def scope_at(z_um: float) -> SimulatedScope:
    scope = SimulatedScope(one_field())
    scope.set_z(z_um)
    return scope


def test_the_simulated_scope_exposes_fresh_noise_each_time_and_repeats_a_run() -> None:
    """A re-acquisition at the same z is a new frame, as from a camera; a second run is the same."""
    one, two = scope_at(0.0), scope_at(0.0)
    first, again = one.snap(), one.snap()
    assert not np.array_equal(first, again)
    assert np.corrcoef(first.ravel(), again.ravel())[0, 1] > 0.5  # the same cells
    assert np.array_equal(two.snap(), first) and np.array_equal(two.snap(), again)


def test_the_slide_s_thickness_is_what_the_scope_renders() -> None:
    """A thick specimen at its mid-plane holds the out-of-focus light of its other layers."""

    def sharpness(thickness_um: float) -> float:
        image = SimulatedScope(one_field(128, thickness_um)).snap().astype(float)
        image -= image.min()
        return float(np.mean(np.diff(image, axis=1) ** 2) / np.mean(image) ** 2)

    thin, thick = sharpness(0.0), sharpness(10.0)
    assert thin > 1.5 * thick, (thin, thick)


@pytest.mark.parametrize("start", [3.0, -3.0])
def test_an_unsure_side_is_found_with_one_probe(start: float) -> None:
    scope = scope_at(start)

    def measure(_image: object) -> float:
        return abs(scope.get_z() - scope.best_focus_um(0, 0))  # the true |defocus| at the probe

    move = model_guided(scope, SAFETY, defocus_um=3.0, z_move_um=None, measure=measure)
    assert move.exposures == 1 and scope.get_z() == pytest.approx(0.0)


def test_a_known_side_moves_once_without_a_probe() -> None:
    scope = scope_at(4.0)
    move = model_guided(scope, SAFETY, 4.0, -4.0, measure=lambda _: pytest.fail("no probe"))
    assert move.exposures == 0 and scope.get_z() == 0.0 and move.z_move_um == -4.0


def test_hardware_autofocus_is_used_when_the_policy_says_so() -> None:
    scope = scope_at(6.0)
    move = refocus(("hardware",), scope, SAFETY, 6.0, -6.0, lambda _: None, attempt=0)
    # Focus is 6 um away, beyond the 5 um step: the autofocus result is cut back to one step.
    assert move.strategy == "hardware" and scope.get_z() == 1.0
    assert move.limited.startswith("step")
    scope.set_z(3.0)
    refocus(("hardware",), scope, SAFETY, 3.0, -3.0, lambda _: None, attempt=0)
    assert abs(scope.get_z()) <= 0.2  # within reach: the autofocus finds the surface


def test_a_failing_hardware_autofocus_hands_over_to_the_model_and_says_so() -> None:
    scope = scope_at(2.0)

    def broken() -> float:
        raise RuntimeError("no autofocus device")

    scope.autofocus = broken  # type: ignore[method-assign]
    move = refocus(("hardware",), scope, SAFETY, 2.0, -2.0, lambda _: None, attempt=0)
    assert move.strategy == "model" and scope.get_z() == 0.0
    assert "no autofocus device" in move.error


@pytest.mark.parametrize("start", [2.0, -2.4])
def test_a_sweep_finds_focus_within_its_exposure_budget(start: float) -> None:
    scope = scope_at(start)
    moves: list[float] = []

    def measure(_image: object) -> float:
        moves.append(scope.get_z())
        return abs(scope.get_z() - scope.best_focus_um(0, 0))

    move = refocus(("sweep",), scope, SAFETY, abs(start), None, measure, 0, sweep_exposures=10)
    assert move.strategy == "sweep" and move.exposures == len(moves) == 10
    assert abs(scope.get_z()) < 0.15
    # No exposure position lies more than half a step from where the search began.
    assert all(abs(z - start) <= SAFETY.max_step_um / 2 for z in moves)


def test_a_sweep_never_searches_beyond_half_a_step() -> None:
    scope = scope_at(-3.5)  # focus 3.5 um away; the 5 um step allows a +-2.5 um search
    move = refocus(("sweep",), scope, SAFETY, 3.5, None, lambda _: 1.0, 0, sweep_exposures=5)
    assert "search cut" in move.limited and abs(scope.get_z() + 3.5) <= 2.5


def test_the_hardware_autofocus_offset_is_added() -> None:
    scope = scope_at(3.0)
    move = refocus(
        ("hardware",), scope, SAFETY, 3.0, -3.0, lambda _: None, 0, autofocus_offset_um=1.5
    )
    assert move.strategy == "hardware" and abs(scope.get_z() - 1.5) <= 0.2


def recording(scope: SimulatedScope) -> list[float]:
    """Every z the stage is sent to, in order."""
    sent: list[float] = []
    set_z = scope.set_z

    def spy(z_um: float) -> None:
        sent.append(z_um)
        set_z(z_um)

    scope.set_z = spy  # type: ignore[method-assign]
    return sent


@pytest.mark.parametrize(
    ("start", "offsets"),
    [
        (-8.5, [4.0, -1.5, 8.0, 8.5]),  # -4 is held at the soft limit -10
        (7.0, [3.0, -4.0, -7.0]),  # +4 is held at 10
    ],
)
def test_a_lost_focus_search_looks_nearest_first_then_follows_the_reading_to_focus(
    start: float, offsets: list[float]
) -> None:
    scope = scope_at(start)  # focus at 0; structure shows within 4.5 um of it (steps of 4)
    sent, looked = recording(scope), []

    def reading(_image: object) -> float | None:
        looked.append(scope.get_z() - start)
        return abs(scope.get_z()) if abs(scope.get_z()) < 4.5 else None

    move = search_structure(scope, SAFETY, 9.0, 4.0, reading, accept_um=0.2)
    assert looked == pytest.approx(offsets) and move.exposures == len(offsets)
    # Structure showed on the far side of an empty look, so the focus lies on that way.
    assert move.strategy == "search" and not move.error
    assert move.z_to_um == scope.get_z() == pytest.approx(0.0)
    steps = np.abs(np.diff([start, *sent]))
    assert steps.max() <= SAFETY.max_step_um  # a longer way is walked
    assert all(SAFETY.z_min_um <= z <= SAFETY.z_max_um for z in sent)


def test_a_lost_focus_search_that_finds_nothing_goes_back_and_says_so() -> None:
    scope = scope_at(6.0)
    sent, looked = recording(scope), []

    def sees_nothing(_image: object) -> None:
        looked.append(scope.get_z())

    move = search_structure(scope, SAFETY, 9.0, 4.0, sees_nothing, accept_um=1.0)
    # Up to the soft limit at 10 once, then down in steps: 2, -2, -3 (9 um down, the span).
    assert looked == [10.0, 2.0, -2.0, -3.0] and move.exposures == 4
    assert scope.get_z() == move.z_to_um == 6.0
    assert "no focus found within +-9 um of z 6.00 um (4 exposures)" in move.error
    assert np.abs(np.diff([6.0, *sent])).max() <= SAFETY.max_step_um


def test_a_lost_focus_search_does_not_follow_a_reading_that_does_not_fall() -> None:
    """An empty field with a background texture reads some 6 um out wherever z is."""
    scope = scope_at(0.0)
    looked: list[float] = []

    def textured_empty_field(_image: object) -> float:
        looked.append(scope.get_z())
        return 6.0

    move = search_structure(scope, SAFETY, 9.0, 4.0, textured_empty_field, accept_um=1.0)
    # Each look (+-4, +-8, +-9) reads 6 um and is followed once, to no nearer reading.
    assert looked == [4.0, 10.0, -4.0, -10.0, 8.0, 10.0, -8.0, -10.0, 9.0, 10.0, -9.0, -10.0]
    assert move.error and scope.get_z() == move.z_to_um == 0.0


def test_a_walk_plans_its_moves_and_ends_on_a_stage_that_rounds_its_position() -> None:
    scope = scope_at(0.0)
    sent, exact = recording(scope), scope.get_z
    scope.get_z = lambda: round(exact(), 1)  # type: ignore[method-assign]  # a stepping stage
    assert walk_z(scope, 8.34, SAFETY) == 8.34
    assert sent == pytest.approx([4.17, 8.34])  # two equal moves, each under the 5 um step
    assert walk_z(scope, -40.0, SAFETY) == SAFETY.z_min_um  # held inside the soft limits
