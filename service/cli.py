"""The ``focusqc`` command line. Heavy modules are imported inside each command."""

from __future__ import annotations

import os
import time
from enum import StrEnum
from pathlib import Path  # noqa: TC003 - typer reads the annotations at run time
from typing import Annotated

import typer

app = typer.Typer(
    help="focusqc: acquisition-time autofocus QC for microscopes.",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def _group() -> None:
    """Acquisition-time autofocus QC for microscopes."""


class ModalityChoice(StrEnum):
    """Imaging modality of a simulated data set."""

    fluorescence = "fluorescence"
    brightfield = "brightfield"


@app.command()
def simulate(
    out_dir: Annotated[
        Path,
        typer.Argument(
            help="Folder to write tiles.npz, labels.jsonl, dataset.json and montage.png into."
        ),
    ],
    n: Annotated[int, typer.Option("--n", min=1, help="Number of tiles.")] = 1000,
    modality: Annotated[
        ModalityChoice, typer.Option(help="Imaging modality.")
    ] = ModalityChoice.fluorescence,
    seed: Annotated[int, typer.Option(help="Seed; the same seed gives the same data set.")] = 0,
    workers: Annotated[
        int, typer.Option(help="Processes to render with (default: all cores).")
    ] = 0,
) -> None:
    """Simulate a labelled data set of defocused tiles from physics, and a focal-sweep montage."""
    from focusqc.models.sim.dataset import write
    from focusqc.service.progress import meter

    start = time.perf_counter()
    with meter() as bar:
        task = bar.add(f"simulating {n} {modality.value} tiles", total=n)
        montage = write(
            out_dir,
            n,
            modality.value,
            seed,
            workers=workers or os.cpu_count() or 1,
            progress=lambda k: bar.update(task, advance=k),
        )
    console = bar.console
    elapsed = time.perf_counter() - start
    console.print(
        f"wrote {n} tiles to {out_dir} in {elapsed:.1f} s "
        f"({1000 * elapsed / n:.1f} ms a tile); focal sweep: {montage}"
    )


def main() -> None:
    """Entry point for ``python -m focusqc.service``."""
    app()


def _register_model_commands() -> None:
    from focusqc.service import cli_daemon, cli_events, cli_model, cli_scanner

    app.command()(cli_daemon.run)
    app.command()(cli_scanner.serve)
    app.command()(cli_scanner.watch)
    app.command()(cli_scanner.mda)
    app.command()(cli_events.tail)
    app.command()(cli_events.dashboard)
    app.command()(cli_events.health)
    app.add_typer(cli_events.events_app, name="events")
    app.add_typer(cli_events.config_app, name="config")
    app.add_typer(cli_daemon.bench_app, name="bench")
    app.command()(cli_model.train)
    app.command()(cli_model.export)
    app.command()(cli_model.score)
    app.command()(cli_model.evaluate)


_register_model_commands()
