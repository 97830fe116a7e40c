"""``focusqc train``, ``export`` and ``score``: make the focus model, use it on finished images."""

from __future__ import annotations

import json
import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from collections.abc import Iterator

    from focusqc.models.scorer import FocusScorer
    from focusqc.models.train.fit import TrainConfig
    from focusqc.models.train.net import FocusNet
    from focusqc.service.progress import Meter

Files = Annotated[list[Path], typer.Argument(help="Images: TIFF/OME-TIFF, PNG or JPEG.")]
Precision = Annotated[
    str,
    typer.Option(help="float32, or int8: the model's int8 copy on the CPU (faster, less exact)."),
]


def _load_scorer(model: Path | None, precision: str) -> FocusScorer:
    """The model to score with, or a clear exit when it cannot load."""
    from focusqc.models.scorer import FocusScorer, ModelError

    if precision not in ("float32", "int8"):
        raise typer.BadParameter(f"--precision {precision!r}: use float32 or int8")
    try:
        return FocusScorer(model, precision=precision)  # type: ignore[arg-type]
    except ModelError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc


@contextmanager
def _train_extra(what: str) -> Iterator[None]:
    """Imports that need torch, which lives behind the train extra: say so when it is missing."""
    try:
        yield
    except ImportError as exc:
        raise typer.BadParameter(
            f"{what} needs the train extra: pip install -e '.[train]' ({exc})"
        ) from exc


Workers = Annotated[int, typer.Option(help="Processes that simulate tiles (0: all cores).")]
CalibrationTiles = Annotated[
    int, typer.Option(min=8, help="Tiles per calibration set for P(no structure).")
]


def train(
    out_dir: Annotated[Path, typer.Argument(help="Folder for focus_model.onnx and its log.")],
    tiles: Annotated[int, typer.Option(min=1, help="Simulated tiles (4 patches each).")] = 32000,
    epochs: Annotated[int, typer.Option(min=1)] = 16,
    width: Annotated[
        int, typer.Option(min=1, help="Channels of the first layer (the network's size).")
    ] = 16,
    seed: Annotated[int, typer.Option(help="Seed of the data and the weights.")] = 0,
    workers: Workers = 0,
    calibration_tiles: CalibrationTiles = 300,
) -> None:
    """Simulate, train on the CPU, export to ONNX (float, and int8 for the CPU), calibrate."""
    with _train_extra("training"):
        # What export needs (onnx, the quantizer) is checked now, not after an hour of training.
        import focusqc.models.train.calibrate
        import focusqc.models.train.quantize  # noqa: F401
        from focusqc.models.train.checkpoint import CHECKPOINT_NAME, save_checkpoint
        from focusqc.models.train.data import make_training_set
        from focusqc.models.train.fit import TrainConfig, fit
    from focusqc.service.progress import meter

    config = TrainConfig(seed=seed, tiles=tiles, epochs=epochs, width=width)
    out_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with meter() as bar:
        sim = bar.add(f"simulating {tiles} tiles", total=tiles)
        data = make_training_set(
            tiles,
            seed,
            config.brightfield_fraction,
            config.patch_px,
            workers=workers or os.cpu_count() or 1,
            progress=lambda k: bar.update(sim, advance=k),
        )
        fit_task = bar.add("training", total=None)

        def report(step: int, total: int, loss: dict[str, float]) -> None:
            bar.update(
                fit_task,
                completed=step,
                total=total,
                description="training " + " ".join(f"{k} {v:.3f}" for k, v in loss.items()),
            )

        model = fit(data, config, progress=report)
        # Another size is another model: its name says so.
        version = f"sim-{seed}" if width == TrainConfig.width else f"sim-{seed}-w{width}"
        save_checkpoint(model, config, version, out_dir / CHECKPOINT_NAME)
        written = _write_model(model, config, version, out_dir, calibration_tiles, workers, bar)
    log: dict[str, Any] = {"config": config.__dict__, "config_sha256": config.digest()}
    log |= written
    log |= {"patches": len(data["patches"]), "seconds": round(time.perf_counter() - start, 1)}
    (out_dir / "train_log.json").write_text(json.dumps(log, indent=2) + "\n")
    bar.console.print(
        f"wrote {out_dir / 'focus_model.onnx'} (sha256 {log['sha256'][:12]}), its int8 copy "
        f"and {CHECKPOINT_NAME} in {log['seconds']} s"
    )


def export(
    checkpoint: Annotated[Path, typer.Argument(help="focus_model.pt, as focusqc train wrote it.")],
    out_dir: Annotated[Path, typer.Argument(help="Folder for focus_model.onnx and its log.")],
    workers: Workers = 0,
    calibration_tiles: CalibrationTiles = 300,
) -> None:
    """Export a trained checkpoint to ONNX with its metadata (float, and int8), calibrate, pin."""
    with _train_extra("export"):
        import focusqc.models.train.calibrate
        import focusqc.models.train.quantize  # noqa: F401
        from focusqc.models.train.checkpoint import CheckpointError, load_checkpoint
    from focusqc.service.progress import meter

    try:
        model, config, version = load_checkpoint(checkpoint)
    except CheckpointError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    out_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with meter() as bar:
        written = _write_model(model, config, version, out_dir, calibration_tiles, workers, bar)
    log: dict[str, Any] = {"checkpoint": str(checkpoint), "version": version}
    log["config"] = config.__dict__
    log |= {"config_sha256": config.digest(), **written}
    log["seconds"] = round(time.perf_counter() - start, 1)
    (out_dir / "export_log.json").write_text(json.dumps(log, indent=2) + "\n")
    bar.console.print(
        f"wrote {out_dir / 'focus_model.onnx'} ({version}, sha256 {log['sha256'][:12]}) and "
        f"its int8 copy in {log['seconds']} s"
    )


def _write_model(
    model: FocusNet,
    config: TrainConfig,
    version: str,
    out_dir: Path,
    calibration_tiles: int,
    workers: int,
    bar: Meter,
) -> dict[str, Any]:
    """Export, quantize, calibrate both files on the same tiles, and pin both.

    The one path from trained weights to the files the scorer loads, for ``train`` and
    ``export`` alike.
    """
    from focusqc.models.scorer import file_sha256, int8_sibling
    from focusqc.models.train.calibrate import CALIBRATION_SETS, calibrate
    from focusqc.models.train.fit import export
    from focusqc.models.train.quantize import quantize

    path = out_dir / "focus_model.onnx"
    export(model, config, path, version=version)
    int8 = int8_sibling(path)
    quantize(path, int8)
    cal = bar.add(
        "calibrating P(no structure)", total=2 * calibration_tiles * len(CALIBRATION_SETS)
    )
    offsets = calibrate(
        path,
        int8,
        tiles_per_set=calibration_tiles,
        workers=workers or os.cpu_count() or 1,
        progress=lambda k: bar.update(cal, advance=k),
    )
    digests = {p.name: file_sha256(p) for p in (path, int8)}
    pins = "".join(f"{d}  {name}\n" for name, d in digests.items())
    path.with_suffix(".sha256").write_text(pins)
    return {
        "blank_logit_offset": offsets[0],
        "blank_logit_offset_int8": offsets[1],
        "sha256": digests[path.name],
        "sha256_int8": digests[int8.name],
    }


def score(
    files: Files,
    pixel_size_um: Annotated[float, typer.Option(help="Pixel size in the sample, um.")],
    na: Annotated[float, typer.Option(help="Objective numerical aperture.")],
    wavelength_nm: Annotated[float, typer.Option(help="Emission (or centre) wavelength, nm.")],
    n_immersion: Annotated[float, typer.Option(help="Immersion index: 1.0 air, 1.518 oil.")] = 1.0,
    threshold_dof: Annotated[
        float | None,
        typer.Option(
            help="In focus up to this many depths of field [default: the model's].",
            show_default=False,
        ),
    ] = None,
    model: Annotated[Path | None, typer.Option(help="Model file (default: shipped).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per image.")] = False,
    montage: Annotated[
        Path | None, typer.Option(help="Folder for one scored picture per image.")
    ] = None,
    budget: Annotated[int, typer.Option(min=1, help="Patches scored per image.")] = 16,
    precision: Precision = "float32",
) -> None:
    """Score finished images for focus (a QC pass over a data set, no microscope needed)."""
    from focusqc.models.imageio import read_image
    from focusqc.models.postprocess import DEFAULT_THRESHOLD_DOF

    threshold = DEFAULT_THRESHOLD_DOF if threshold_dof is None else threshold_dof
    scorer = _load_scorer(model, precision)
    failed = 0
    for path in files:
        try:
            image = read_image(path)
            result = scorer.score(
                image,
                pixel_size_um=pixel_size_um,
                na=na,
                wavelength_um=wavelength_nm / 1000,
                n_immersion=n_immersion,
                budget=budget,
            )
        except ValueError as exc:  # TileError, SamplingError: a bad file or bad optics
            failed += 1
            typer.echo(f"error: {exc}", err=True)
            continue
        in_focus = result.defocus_dof <= threshold
        row = {
            "path": str(path),
            "defocus_um": round(result.defocus_um, 3),
            "defocus_dof": round(result.defocus_dof, 2),
            "in_focus": in_focus,
            "certainty": round(result.certainty, 3),
            "side_above_prob": round(result.side_above_prob, 3),
            "blank_prob": round(result.blank_prob, 3),
            "provider": result.provider,
            "precision": scorer.precision,
            "model_version": scorer.version,
        }
        if as_json:
            sys.stdout.write(json.dumps(row) + "\n")
        else:
            verdict = "in focus" if in_focus else "OUT OF FOCUS"
            typer.echo(
                f"{path}: {verdict}  |defocus| {result.defocus_um:.2f} um "
                f"({result.defocus_dof:.1f} DOF), certainty {result.certainty:.2f}"
            )
        if montage:
            from focusqc.models.picture import score_picture

            montage.mkdir(parents=True, exist_ok=True)
            score_picture(image, result, path.name).save(montage / f"{path.stem}.png")
    if failed:
        raise typer.Exit(1)


def evaluate(
    out_dir: Annotated[Path, typer.Argument(help="Folder for evaluation.md and its plots.")],
    model: Annotated[Path | None, typer.Option(help="Model file (default: shipped).")] = None,
    fraction: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Fraction of each set's tiles (quick runs).")
    ] = 1.0,
    real_data: Annotated[
        Path | None,
        typer.Option(
            exists=True,
            file_okay=False,
            help="Folder holding bbbc006/ and tcga_focus/ (e.g. ../shared/data).",
        ),
    ] = None,
    workers: Annotated[int, typer.Option(help="Processes for simulation (0: all cores).")] = 0,
    precision: Precision = "float32",
) -> None:
    """Evaluate the model on held-out simulated sets and real images, against classical measures."""
    try:
        import matplotlib  # noqa: F401 - the plots need it; fail now, not after the run
    except ImportError as exc:
        raise typer.BadParameter(
            f"evaluation plots need the train extra: pip install -e '.[train]' ({exc})"
        ) from exc
    from focusqc.models import evaluate as ev
    from focusqc.models import evaluation, report
    from focusqc.models.sim.corruptions import CORRUPTIONS
    from focusqc.service.progress import meter

    scorer = _load_scorer(model, precision)
    with meter() as bar:
        tasks = {
            s.name: bar.add(f"scoring {s.name}", total=ev.scaled(s, fraction).tiles)
            for s in ev.SETS
        }
        # Its tiles are known once the 20x set is scored: the side tiles' count is not fixed.
        tasks["side ideal observer"] = bar.add("side ideal observer (20x side tiles)", None)
        n_robust = len(CORRUPTIONS) * len(ev.SEVERITIES)
        tasks["robustness"] = bar.add("robustness conditions", total=n_robust)
        result = evaluation.run(
            scorer,
            fraction=fraction,
            workers=workers or os.cpu_count() or 1,
            real_root=real_data,
            progress=lambda name, k: bar.update(tasks[name], advance=k),
        )
    command = "focusqc evaluate " + " ".join(sys.argv[2:])
    path = report.write(result, out_dir, command)
    for what, got, ok in evaluation.targets(result):
        typer.echo(f"{'met ' if ok else 'MISS'}  {what}: {got}")
    typer.echo(f"wrote {path} in {result.seconds:.0f} s")
