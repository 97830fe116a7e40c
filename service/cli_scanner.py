"""``focusqc serve``, ``watch`` and ``mda``: QC for acquisitions that others drive."""

from __future__ import annotations

import logging
import sys
from collections import Counter
from pathlib import Path  # noqa: TC003 - typer reads the annotations at run time
from typing import Annotated

import typer

from focusqc.service.cli_daemon import (
    ConfigFile,
    load_settings,
    make_bus,
    make_scorer,
    stop_on_signals,
)


def serve(
    config: ConfigFile = None,
    curve_secret: Annotated[
        Path | None,
        typer.Option(help="CURVE secret key file (zmq.auth format): encrypt and authenticate."),
    ] = None,
) -> None:
    """The scanner hook: answer tiles submitted on the scanner endpoint with verdicts."""
    import threading

    import zmq
    import zmq.auth
    from rich.console import Console

    from focusqc.service.serve import ScannerHook

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    stop_on_signals()
    settings = load_settings(config)
    if settings.endpoints.allow_remote and curve_secret is None:
        typer.echo("error: allow_remote = true needs --curve-secret (CURVE keys)", err=True)
        raise typer.Exit(2)
    secret = None
    if curve_secret is not None:
        try:
            _, secret = zmq.auth.load_certificate(curve_secret)
        except (OSError, ValueError) as exc:
            typer.echo(f"error: cannot read CURVE key {curve_secret}: {exc}", err=True)
            raise typer.Exit(2) from exc
        if secret is None:
            typer.echo(f"error: {curve_secret} holds no secret key", err=True)
            raise typer.Exit(2)
    scorer = make_scorer(settings)
    model = scorer.scorer
    bus = make_bus(settings, scorer)
    try:
        hook = ScannerHook(settings, scorer, bus, secret)
    except zmq.ZMQError as exc:
        bus.close()
        typer.echo(
            f"error: cannot bind {settings.endpoints.scanner} ({exc}): is another focusqc "
            "running? Set endpoints.scanner in the config.",
            err=True,
        )
        raise typer.Exit(2) from exc
    try:
        Console(stderr=True).print(
            f"focusqc '{settings.name}' serving scanners on {hook.endpoint}"
            f"{' (CURVE)' if secret else ''}; events {bus.publish_endpoint}, "
            f"snapshot {bus.snapshot_endpoint}; model {model.version} ({model.precision}) "
            f"on {model.provider}",
            highlight=False,
            soft_wrap=True,
        )
        sys.stderr.flush()
        hook.serve(threading.Event())
    except KeyboardInterrupt:
        pass
    finally:
        hook.close()
        scorer.close()
        bus.close()
    typer.echo(f"served {hook.served} tiles", err=True)


def watch(
    folder: Annotated[Path, typer.Argument(help="Folder the scanner writes tiles into.")],
    pixel_size_um: Annotated[
        float | None, typer.Option(help="Pixel size in the sample (default: the config's).")
    ] = None,
    once: Annotated[bool, typer.Option(help="Judge what is there now, then exit.")] = False,
    config: ConfigFile = None,
) -> None:
    """Score every new image file in a folder; verdicts go to focusqc-verdicts.jsonl and events."""
    import threading

    from rich.console import Console

    from focusqc.service.run_docs import RunDocuments
    from focusqc.service.serve import TileJudge
    from focusqc.service.watch import VERDICTS, FolderWatch

    stop_on_signals()
    settings = load_settings(config)
    if not folder.is_dir():
        typer.echo(f"error: {folder} is not a folder", err=True)
        raise typer.Exit(2)
    o = settings.optics
    pixel = pixel_size_um or (None if o.pixel_size_um == "driver" else o.pixel_size_um)
    if pixel is None:
        typer.echo(
            "error: files carry no pixel size: pass --pixel-size-um or set optics.pixel_size_um",
            err=True,
        )
        raise typer.Exit(2)
    scorer = make_scorer(settings, deadline_ms=60_000)  # files wait; nothing is blocked
    bus = make_bus(settings, scorer)
    run = RunDocuments(bus, None, {"mode": "folder watch", "folder": str(folder)})
    watcher = FolderWatch(folder, TileJudge(settings, scorer, run), float(pixel))
    console = Console(stderr=True)

    def say(row: dict[str, object]) -> None:
        verdict = row.get("error") or ("in focus" if row.get("in_focus") else row.get("action"))
        console.print(f"{row['file']}: {verdict}", highlight=False)

    try:
        console.print(
            f"watching {folder} (verdicts in {folder / VERDICTS}); events {bus.publish_endpoint}",
            highlight=False,
            soft_wrap=True,
        )
        if once:
            for row in watcher.poll(settle=False):
                say(row)
        else:
            watcher.run(threading.Event(), on_verdict=say)
    except KeyboardInterrupt:
        pass
    finally:
        run.stop()
        scorer.close()
        bus.close()


def mda(
    sequence: Annotated[Path, typer.Argument(help="useq MDASequence, YAML or JSON.")],
    mm_config: Annotated[
        Path | None,
        typer.Option(help="Micro-Manager system configuration (default: the demo devices)."),
    ] = None,
    config: ConfigFile = None,
) -> None:
    """Run a pymmcore-plus MDA with focus QC on every frame (refocus and re-acquire in place)."""
    try:
        import useq

        from focusqc.drivers.mmcore import demo_core
        from focusqc.service.mda import run_mda
    except ImportError as exc:
        raise typer.BadParameter(f"needs the micromanager extra ({exc})") from exc
    from rich.console import Console

    settings = load_settings(config)
    try:
        plan = useq.MDASequence.from_file(sequence)
    except Exception as exc:
        typer.echo(f"error: {sequence} is not a useq MDASequence: {exc}", err=True)
        raise typer.Exit(2) from exc
    if mm_config is None:
        core = demo_core()
    else:
        from pymmcore_plus import CMMCorePlus

        core = CMMCorePlus()
        core.loadSystemConfiguration(str(mm_config))
    scorer = make_scorer(settings)
    bus = make_bus(settings, scorer)
    console = Console(stderr=True)
    console.print(
        f"MDA {sequence.name}: {len(list(plan))} events; events {bus.publish_endpoint}",
        highlight=False,
        soft_wrap=True,
    )
    try:
        result = run_mda(settings, core, plan, scorer, bus)
    finally:
        scorer.close()
        bus.close()
    actions = Counter(str(frame.get("action", "unchecked")) for frame in result.frames)
    console.print(
        f"{len(result.frames)} frames emitted, {result.reacquired} re-acquisitions; "
        f"final verdicts {dict(actions)}; run {result.run_uid}",
        highlight=False,
    )
