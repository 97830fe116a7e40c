"""``focusqc tail``, ``focusqc events list|replay`` and ``focusqc config show|validate|schema``."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from focusqc.service.cli_daemon import ConfigFile, load_settings

if TYPE_CHECKING:
    from focusqc.service.stream import Message

events_app = typer.Typer(help="The event journal: list runs, re-publish one.", no_args_is_help=True)
config_app = typer.Typer(help="Show, check and describe settings.", no_args_is_help=True)
Endpoint = Annotated[str | None, typer.Option(help="Publish endpoint (default: the config's).")]
JournalPath = Annotated[Path | None, typer.Option(help="Journal file (default: the config's).")]


def describe(msg: Message) -> str:
    """One line for a person."""
    h, b = msg.header, msg.body
    head = f"#{h['seq']:<6} {msg.topic:<28}"
    if msg.kind == "event" and "action" in b.get("data", {}):
        d = b["data"]
        defocus = "-" if d["defocus_um"] is None else f"{d['defocus_um']:.2f} um"
        move = "" if d["z_move_um"] is None else f" move {d['z_move_um']:+.2f} um"
        return (
            f"{head} tile {d['tile']} (r{d['row']} c{d['col']}) try {d['attempt']}: "
            f"{d['action']:<9} |defocus| {defocus} certainty {d['certainty']:.2f} "
            f"z {d['z_um']:.2f}{move}"
        )
    if msg.kind == "event":
        return f"{head} ALARM {b['data']['severity']}: {b['data']['message']}"
    if msg.kind == "heartbeat":
        return f"{head} heartbeat: last #{b['last_seq']}, {b['tiles_done']} tiles"
    if msg.kind == "stop":
        return f"{head} run {h['run_uid'][:8]} stopped: {b['exit_status']} {b.get('reason', '')}"
    return f"{head} run {str(h.get('run_uid'))[:8]}"


def tail(
    endpoint: Endpoint = None,
    count: Annotated[int | None, typer.Option(min=1, help="Exit after N documents.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per document.")] = False,
    heartbeats: Annotated[bool, typer.Option(help="Show heartbeats too.")] = False,
    timeout_s: Annotated[
        float | None, typer.Option(help="Exit 1 when nothing arrives for this long.")
    ] = None,
    config: ConfigFile = None,
) -> None:
    """Print the live event stream."""
    from focusqc.service.stream import Subscriber

    where = endpoint or load_settings(config).endpoints.publish
    sub = Subscriber(where)
    seen = 0
    # The timeout counts what is shown: hidden heartbeats do not keep a quiet stream alive.
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    try:
        while count is None or seen < count:
            left = None if deadline is None else max(deadline - time.monotonic(), 0.0)
            msg = sub.recv(left)
            if msg is None:
                typer.echo(f"nothing from {where} for {timeout_s} s", err=True)
                raise typer.Exit(1)
            if msg.kind == "heartbeat" and not heartbeats:
                continue
            seen += 1
            deadline = None if timeout_s is None else time.monotonic() + timeout_s
            if as_json:
                out = {"topic": msg.topic, "header": msg.header, "body": msg.body}
                sys.stdout.write(json.dumps(out) + "\n")
            else:
                sys.stdout.write(describe(msg) + "\n")
            sys.stdout.flush()
    except KeyboardInterrupt:
        pass
    finally:
        sub.close()


@events_app.command("list")
def list_runs(journal: JournalPath = None, config: ConfigFile = None) -> None:
    """The runs in the journal, oldest first."""
    from focusqc.service.journal import Journal

    path = journal or load_settings(config).journal.path
    if not path.is_file():
        typer.echo(f"error: no journal at {path}", err=True)
        raise typer.Exit(2)
    store = Journal(path)
    for uid, n, started in store.runs():
        typer.echo(
            f"{uid}  {n:6d} documents  started {time.strftime('%F %T', time.localtime(started))}"
        )
    store.close()


@events_app.command()
def replay(
    run: Annotated[str, typer.Argument(help="Run uid, or a unique prefix of it.")],
    journal: JournalPath = None,
    endpoint: Endpoint = None,
    wait_s: Annotated[float, typer.Option(help="Time for subscribers to connect first.")] = 1.0,
    config: ConfigFile = None,
) -> None:
    """Re-publish a run from the journal (headers say replay=true; original sequence numbers)."""
    import zmq

    from focusqc.service.bus import frames
    from focusqc.service.journal import Journal

    settings = load_settings(config)
    path = journal or settings.journal.path
    if not path.is_file():
        typer.echo(f"error: no journal at {path}", err=True)
        raise typer.Exit(2)
    store = Journal(path)
    try:
        uid = store.find_run(run)
    except KeyError as exc:
        typer.echo(f"error: {exc.args[0]}", err=True)
        raise typer.Exit(2) from exc
    pub: zmq.Socket[bytes] = zmq.Context.instance().socket(zmq.PUB)
    pub.setsockopt(zmq.LINGER, 2000)
    where = endpoint or settings.endpoints.publish
    try:
        pub.bind(where)
    except zmq.ZMQError as exc:
        typer.echo(
            f"error: cannot bind {where} ({exc}): is the daemon running? use --endpoint", err=True
        )
        raise typer.Exit(2) from exc
    typer.echo(f"replaying run {uid} on {pub.getsockopt_string(zmq.LAST_ENDPOINT)}", err=True)
    time.sleep(wait_s)
    sent = 0
    for entry in store.read(run_uid=uid):
        header: dict[str, Any] = {**entry.header, "replay": True}
        pub.send_multipart(frames(header, entry.body, entry.thumbnail))
        sent += 1
    store.close()
    pub.close()
    typer.echo(f"re-published {sent} documents", err=True)


@config_app.command()
def show(config: ConfigFile = None) -> None:
    """The settings in effect (file, then environment), as JSON."""
    typer.echo(load_settings(config).model_dump_json(indent=2))


@config_app.command()
def validate(config: Annotated[Path, typer.Argument(help="TOML settings file.")]) -> None:
    """Check a settings file; exit 2 with the key and the fix when it is wrong."""
    load_settings(config)
    typer.echo(f"{config}: valid")


@config_app.command()
def schema(
    write: Annotated[
        Path | None, typer.Option(help="Regenerate every committed schema into this folder.")
    ] = None,
) -> None:
    """The settings' JSON schema (every key, its type, default and meaning)."""
    from focusqc.config.events import schema_text, write_schemas
    from focusqc.config.settings import Settings

    if write is not None:
        for path in write_schemas(write):
            typer.echo(f"wrote {path}", err=True)
        return
    typer.echo(schema_text(Settings), nl=False)


def dashboard(
    connect: Annotated[
        list[str] | None,
        typer.Option(help="PUBLISH,SNAPSHOT endpoints of a daemon; repeat for several."),
    ] = None,
    host: Annotated[str, typer.Option(help="Address to serve the page on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port of the page.")] = 8080,
    config: ConfigFile = None,
) -> None:
    """Serve the live operator dashboard: tile map, z drift, events, alarms, one tab per scope."""
    try:
        import uvicorn

        from focusqc.service.dashboard import Hub, create_app
    except ImportError as exc:
        raise typer.BadParameter(f"the dashboard needs the dashboard extra ({exc})") from exc
    pairs = []
    for item in connect or []:
        publish, _, snap = item.partition(",")
        if not publish or not snap:
            raise typer.BadParameter(f"--connect {item!r}: expected PUBLISH,SNAPSHOT")
        pairs.append((publish, snap))
    if not pairs:
        ends = load_settings(config).endpoints
        pairs = [(ends.publish, ends.snapshot)]
    typer.echo(f"dashboard on http://{host}:{port}/ for {len(pairs)} daemon(s)", err=True)
    uvicorn.run(create_app(Hub(pairs)), host=host, port=port, log_level="warning")


def local(endpoint: str) -> str:
    """An endpoint to connect to from this machine (a wildcard bind means loopback here)."""
    return endpoint.replace("//0.0.0.0:", "//127.0.0.1:").replace("//*:", "//127.0.0.1:")


def health(
    endpoint: Endpoint = None,
    timeout_s: Annotated[float, typer.Option(help="How long to wait for a heartbeat.")] = 5.0,
    config: ConfigFile = None,
) -> None:
    """Exit 0 when the daemon is alive and on the execution provider its config asks for."""
    from focusqc.service.stream import Subscriber

    settings = load_settings(config)
    where = endpoint or local(settings.endpoints.publish)
    sub = Subscriber(where, topic=f"{settings.name}.heartbeat")
    try:
        beat = sub.recv(timeout_s)
    finally:
        sub.close()
    if beat is None:
        typer.echo(f"unhealthy: no heartbeat from {where} in {timeout_s} s", err=True)
        raise typer.Exit(1)
    b = beat.body
    if settings.runtime.require_gpu and b.get("provider") == "CPUExecutionProvider":
        typer.echo(
            "unhealthy: the config requires a GPU, but the daemon fell back to the CPU", err=True
        )
        raise typer.Exit(1)
    typer.echo(
        f"healthy: {beat.header['scope']} on {b.get('provider')}, model {b.get('model_version')},"
        f" last #{b['last_seq']}, {b['tiles_done']} tiles, up {b['uptime_s']:.0f} s"
    )
