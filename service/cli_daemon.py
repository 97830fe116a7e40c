"""``focusqc run`` (the QC daemon on its embedded default) and ``focusqc bench refocus``."""

from __future__ import annotations

import logging
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import TaskID

    from focusqc.config.settings import Settings
    from focusqc.service.bus import EventBus
    from focusqc.service.deadline import DeadlineScorer
    from focusqc.service.pipeline import Tally
    from focusqc.service.scan import Truth

ConfigFile = Annotated[
    Path | None, typer.Option("--config", help="TOML settings (default: the shipped default).")
]


def load_settings(config: Path | None, **overrides: object) -> Settings:
    """Settings or a clear exit: the message names the key and the fix."""
    from focusqc.config.settings import ConfigError, load

    try:
        return load(config, **overrides)
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc


def make_scorer(settings: Settings, deadline_ms: float | None = None) -> DeadlineScorer:
    """The configured model behind the deadline, or a clear exit when it cannot load."""
    from focusqc.models.scorer import FocusScorer, ModelError
    from focusqc.service.deadline import DeadlineScorer

    o, rt = settings.optics, settings.runtime
    try:
        model = FocusScorer(
            rt.model,
            provider=rt.provider,
            threads=rt.threads,
            require_gpu=rt.require_gpu,
            precision=rt.precision,
        )
    except ModelError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    return DeadlineScorer(
        model,
        deadline_ms or rt.deadline_ms,
        na=o.na,
        wavelength_um=o.wavelength_nm / 1000,
        n_immersion=o.n_immersion,
        budget=rt.patch_budget,
    )


def make_bus(settings: Settings, scorer: DeadlineScorer) -> EventBus:
    """The journaled event bus on the configured endpoints, or a clear exit when they are taken.

    Its heartbeats carry the model and the provider actually in use.
    """
    import zmq

    from focusqc.service.bus import EventBus

    try:
        bus = EventBus(
            settings.name, settings.endpoints, settings.journal.path, settings.journal.fsync
        )
    except zmq.ZMQError as exc:
        typer.echo(
            f"error: cannot bind {settings.endpoints.publish} / {settings.endpoints.snapshot}: "
            f"{exc}. Is another focusqc running? Set [endpoints] in the config.",
            err=True,
        )
        raise typer.Exit(2) from exc
    bus.provider, bus.model_version = scorer.scorer.provider, scorer.scorer.version
    return bus


def summary(
    console: Console, tallies: list[tuple[str, Tally]], truths: list[Truth] | None = None
) -> None:
    """The end-of-run table: one column per run; with ``truths``, what the simulator knows."""
    from rich.table import Table

    table = Table(title="focusqc run summary")
    table.add_column("")
    rows: dict[str, list[str]] = {
        name: []
        for name in (
            "tiles",
            "in focus first time",
            "refocused",
            "re-acquired",
            "skipped (blank or unsure)",
            "alarms",
            "exposures",
            "seconds per tile",
            "scoring latency, median ms",
        )
    }
    for uid, t in tallies:
        table.add_column(f"run {uid[:8]}", justify="right")
        tiles = sum(t.outcomes.values())
        scores = sorted(t.score_ms)
        values = [
            tiles,
            t.outcomes["in focus"],
            t.outcomes["refocused"],
            t.outcomes["reacquired"],
            t.outcomes["skip"],
            t.outcomes["alarm"],
            t.exposures,
            f"{t.seconds / max(tiles, 1):.2f}",
            f"{scores[len(scores) // 2]:.1f}" if scores else "-",
        ]
        for cells, value in zip(rows.values(), values, strict=True):
            cells.append(str(value))
    for name, cells in rows.items():
        table.add_row(name, *cells)
    if any(t.floor_alarms for _, t in tallies):
        table.add_row("alarms maybe at best focus", *(_floor(t) for _, t in tallies))
    if truths:
        limit = f"beyond {truths[0].threshold_um:.2f} um"
        table.add_section()
        table.add_row(
            f"passed, truly {limit}",
            *(f"{t.passed_out} of {t.passed} (worst {t.worst_passed_um:.2f} um)" for t in truths),
        )
        table.add_row(f"skipped, truly {limit}", *(str(t.skipped_out) for t in truths))
    console.print(table)


def _floor(tally: Tally) -> str:
    """Alarms that may be the specimen's best focus: the readings, the threshold they pass at."""
    if not tally.floor_alarms:
        return "0"
    reads = [r for r, _ in tally.floor_alarms]
    return (
        f"{len(reads)}: read {min(reads):.2f}-{max(reads):.2f} um, would pass at threshold "
        f"{max(p for _, p in tally.floor_alarms):.2f} um"
    )


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def stop_on_signals() -> None:
    """Make SIGINT and SIGTERM close the run cleanly, whatever the parent process left set.

    A shell starts background jobs with SIGINT ignored, and Python then never turns it into
    KeyboardInterrupt; SIGTERM (``docker stop``, systemd) would kill without closing the run.
    """
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)


def run(
    config: ConfigFile = None,
    max_tiles: Annotated[int | None, typer.Option(min=1, help="Stop after N tiles.")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the simulated slide.")] = None,
    forever: Annotated[bool, typer.Option(help="Scan again and again (a soak).")] = False,
) -> None:
    """Scan a simulated slide with QC: score, refocus, re-acquire, publish and journal."""
    from rich.console import Console

    from focusqc.drivers.simulated import SimulatedScope
    from focusqc.models.sim.optics import Optics
    from focusqc.service.decide import threshold_um
    from focusqc.service.progress import meter
    from focusqc.service.scan import Truth, scan

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    stop_on_signals()
    settings = load_settings(config)
    if seed is not None:
        settings = settings.model_copy(
            update={"slide": settings.slide.model_copy(update={"seed": seed})}
        )
    console = Console(stderr=True)
    o = settings.optics
    scorer = make_scorer(settings)
    model = scorer.scorer
    pixel = 0.65 if o.pixel_size_um == "driver" else o.pixel_size_um
    brightfield = settings.slide.modality == "brightfield"
    optics = Optics(
        na=o.na,
        wavelength_um=o.wavelength_nm / 1000,
        n_immersion=o.n_immersion,
        # Fluorescent cells 3 um deep in medium (an index mismatch); a dry tissue section.
        n_sample=1.0 if brightfield else 1.36,
        depth_um=0.0 if brightfield else 3.0,
        pixel_size_um=pixel,
        condenser_na=0.6 * o.na if brightfield else 0.0,
    )
    scope = SimulatedScope(settings.slide, optics)
    bus = make_bus(settings, scorer)
    tallies: list[tuple[str, Tally]] = []
    truths: list[Truth] = []
    tiles = settings.slide.rows * settings.slide.cols
    try:
        console.print(
            f"focusqc '{settings.name}': model {model.version} ({model.precision}) "
            f"on {model.provider}; "
            f"events {bus.publish_endpoint}, snapshot {bus.snapshot_endpoint}; "
            f"journal {settings.journal.path}",
            highlight=False,
            soft_wrap=True,
        )
        sys.stderr.flush()
        with meter(console) as bar:
            while True:
                task = bar.add("scanning", total=min(tiles, max_tiles or tiles))
                truth = Truth(threshold_um(settings.policy, optics.depth_of_field_um))
                truths.append(truth)

                def step(
                    index: int,
                    exposures: int,
                    action: str,
                    task: TaskID = task,
                    truth: Truth = truth,
                ) -> None:
                    truth.add(action, scope.last_defocus_um, scope.last_blank)
                    bar.update(
                        task,
                        advance=1,
                        description=f"tile {index}: {action} ({exposures} exposures)",
                    )

                tally, uid = scan(settings, scope, scorer, bus, scope.grid_xy, max_tiles, step)
                tallies.append((uid, tally))
                if not forever:
                    break
    except KeyboardInterrupt:
        console.print("interrupted: the run is closed and journaled")
    finally:
        scorer.close()
        bus.close()
    summary(console, tallies, truths[: len(tallies)])


bench_app = typer.Typer(help="Benchmarks that report numbers.", no_args_is_help=True)


@bench_app.command("refocus")
def bench_refocus_command(
    trials: Annotated[int, typer.Option(min=1, help="Focus jumps per strategy.")] = 40,
    strategies: Annotated[str, typer.Option(help="Comma-separated.")] = "model,sweep,hardware",
    seed: Annotated[int, typer.Option()] = 0,
    plot_png: Annotated[Path | None, typer.Option("--plot", help="Write a PNG here.")] = None,
    config: ConfigFile = None,
) -> None:
    """Extra exposures and compute time each refocus strategy needs after a 1-10 um jump."""
    from rich.console import Console
    from rich.table import Table

    from focusqc.drivers.simulated import SimulatedScope
    from focusqc.models.scorer import FocusScorer
    from focusqc.service.bench import bench_refocus, plot
    from focusqc.service.deadline import DeadlineScorer
    from focusqc.service.progress import meter

    settings = load_settings(config)
    names = tuple(s.strip() for s in strategies.split(","))
    if unknown := set(names) - {"model", "sweep", "hardware"}:
        raise typer.BadParameter(
            f"unknown strategies {sorted(unknown)}: use model, sweep, hardware"
        )
    slide = settings.slide.model_copy(
        update={"drift_um_per_tile": 0.0, "tilted_region": (-1, -1, -1, -1), "tile_px": 128}
    )
    scope = SimulatedScope(slide)
    o = settings.optics
    rt = settings.runtime
    model = FocusScorer(rt.model, provider=rt.provider, precision=rt.precision)
    scorer = DeadlineScorer(
        model,
        60_000,
        na=scope.optics.na,
        wavelength_um=scope.optics.wavelength_um,
        n_immersion=o.n_immersion,
    )
    console = Console(stderr=True)
    with meter(console) as bar:
        tasks = {n: bar.add(f"bench {n}", total=trials) for n in names}
        results = bench_refocus(
            settings,
            scope,
            scorer,
            names,
            trials,
            seed,
            progress=lambda n: bar.update(tasks[n], advance=1),
        )
    scorer.close()
    rows = [r.row() for r in results]
    table = Table(
        title=f"refocus after a 1-10 um jump ({model.version}, {model.precision}, {model.provider})"
    )
    for key in rows[0]:
        table.add_column(key, justify="right")
    for row in rows:
        table.add_row(
            *(
                (f"{v:.2f}" if " um" in key else f"{v:.1f}") if isinstance(v, float) else str(v)
                for key, v in row.items()
            )
        )
    Console().print(table)
    if plot_png:
        plot(results, plot_png)
        console.print(f"wrote {plot_png}")
