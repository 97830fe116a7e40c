"""The whole evaluation: held-out sets, robustness and real images in one run, and the targets.

``run`` is what ``focusqc evaluate`` does; ``targets`` reads the issue's targets off its result.
The pieces (sets, scoring, metrics) live in ``focusqc.models.evaluate``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from focusqc.models.breakdown import error_breakdown
from focusqc.models.evaluate import (
    SETS,
    TARGET_SET,
    Scored,
    Tile,
    held_out_set,
    metrics,
    render_set,
    robustness,
    scaled,
    score_tiles,
    side_counted,
    specs,
)
from focusqc.models.ideal import side_ceiling
from focusqc.models.postprocess import DEFAULT_CERTAINTY_GATE, DEFAULT_THRESHOLD_DOF

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from focusqc.models.scorer import FocusScorer

#: The real images in ../shared/data and the optics their acquisitions used.
REAL_DATA = (
    ("bbbc006", "in_focus", "*.png", False, (0.65, 0.75, 0.461)),
    ("bbbc006", "defocused", "*.tif", True, (0.65, 0.75, 0.461)),
    ("tcga_focus", "", "in_focus_*.png", False, (0.25, 0.75, 0.54)),
    ("tcga_focus", "", "out_of_focus_*.png", True, (0.25, 0.75, 0.54)),
)


def real_images(
    scorer: FocusScorer, root: Path, threshold_dof: float = DEFAULT_THRESHOLD_DOF
) -> list[dict[str, Any]]:
    """Score the real images under ``root`` (BBBC006 and TCGA@Focus), one row per file."""
    from focusqc.models.imageio import read_image

    rows = []
    for folder, sub, pattern, expect_out, (pixel, na, wavelength) in REAL_DATA:
        for path in sorted((root / folder / sub).glob(pattern)):
            result = scorer.score(
                read_image(path), pixel_size_um=pixel, na=na, wavelength_um=wavelength
            )
            rows.append(
                {
                    "data": f"{folder}/{sub}" if sub else folder,
                    "file": path.name,
                    "expected": "out" if expect_out else "in",
                    "defocus_um": result.defocus_um,
                    "defocus_dof": result.defocus_dof,
                    "certainty": result.certainty,
                    "right": (result.defocus_dof > threshold_dof) == expect_out,
                }
            )
    return rows


@dataclass
class Evaluation:
    """Everything the report shows."""

    model: dict[str, str]
    threshold_dof: float
    gate: float
    scored: dict[str, Scored]
    results: dict[str, dict[str, float]]
    robustness: list[dict[str, Any]]
    real: list[dict[str, Any]]
    seconds: float = 0.0
    #: ``error_breakdown`` of the 20x set: which specimens, brightnesses and thicknesses it is from.
    breakdown: list[dict[str, Any]] = field(default_factory=list)


def run(
    scorer: FocusScorer,
    fraction: float = 1.0,
    workers: int = 1,
    real_root: Path | None = None,
    robustness_tiles: int = 200,
    progress: Callable[[str, int], None] | None = None,
) -> Evaluation:
    """Render and score every held-out set, the robustness table and the real images."""
    import time

    start = time.perf_counter()
    scored, results = {}, {}
    target_tiles: list[Tile] = []
    for held_out in (scaled(s, fraction) for s in SETS):
        tiles = render_set(held_out, workers=workers)
        step = (lambda k, name=held_out.name: progress(name, k)) if progress else None
        scored[held_out.name] = score_tiles(scorer, tiles, progress=step)
        results[held_out.name] = metrics(scored[held_out.name], held_out)
        if held_out.name == TARGET_SET:
            target_tiles = tiles
            # How often anything could name the side on these tiles: the side target's ceiling.
            counted = np.flatnonzero(side_counted(scored[held_out.name], held_out))
            results[held_out.name]["side ideal observer"] = side_ceiling(
                specs(held_out, counted),
                workers=workers,
                progress=(lambda k: progress("side ideal observer", k)) if progress else None,
            )
    sample = target_tiles[: max(8, round(robustness_tiles * fraction))]
    table = robustness(
        scorer, sample, progress=(lambda k: progress("robustness", k)) if progress else None
    )
    real = real_images(scorer, real_root) if real_root else []
    return Evaluation(
        model={
            "version": scorer.version,
            "sha256": scorer.sha256,
            "provider": scorer.provider,
            "precision": scorer.precision,
            "blank_offset": f"{scorer.blank_offset:+.2f}",
        },
        threshold_dof=DEFAULT_THRESHOLD_DOF,
        gate=DEFAULT_CERTAINTY_GATE,
        scored=scored,
        results=results,
        robustness=table,
        real=real,
        seconds=time.perf_counter() - start,
        breakdown=error_breakdown(scored[TARGET_SET], held_out_set(TARGET_SET)),
    )


def targets(evaluation: Evaluation) -> list[tuple[str, str, bool]]:
    """The issue's targets: (what, measured, met)."""
    m = evaluation.results[TARGET_SET]
    rows: list[tuple[str, str, bool]] = []
    by_data: dict[str, list[dict[str, Any]]] = {}
    for r in evaluation.real:
        by_data.setdefault(r["data"], []).append(r)
    for data, items in by_data.items():
        right = sum(r["right"] for r in items)
        rows.append(
            (f"real {data}: every image called right", f"{right}/{len(items)}", right == len(items))
        )
    rows += [
        ("20x MAE ≤ 0.3 µm for defocus within ±5 µm", f"{m['MAE um']:.3f} µm", m["MAE um"] <= 0.3),
        ("20x in/out F1 ≥ 0.97", f"{m['F1']:.3f}", m["F1"] >= 0.97),
        (
            "20x side ≥ 90% for defocus beyond ±1.5 µm (index mismatch)",
            f"{m['side accuracy']:.1%} (an ideal observer that knows the specimen: "
            f"{m.get('side ideal observer', np.nan):.1%})",
            m["side accuracy"] >= 0.9,
        ),
        (
            "20x blank tiles below the gate ≥ 99%",
            f"{m['blank below gate']:.1%}",
            m["blank below gate"] >= 0.99,
        ),
    ]
    beaten = [
        r
        for r in evaluation.robustness
        if r["model"]
        <= max(v for k, v in r.items() if k not in ("corruption", "severity", "model"))
    ]
    rows.append(
        (
            "model AUC above every classical AUC under every corruption",
            f"{len(evaluation.robustness) - len(beaten)}/{len(evaluation.robustness)}",
            not beaten,
        )
    )
    return rows
