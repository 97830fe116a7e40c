"""QC event payloads: the pydantic models are the source of truth for the wire format.

The stream follows Bluesky's document model: each run (a slide, an acquisition) is a ``start``
document, one ``descriptor`` per stream (``tiles``, ``alarms``), an ``event`` per decision, and a
``stop``. An event's ``data`` is a ``TileQC`` or an ``Alarm``. Each ZeroMQ message is
``[topic, header, document(, thumbnail)]``: the topic ``<scope>.<kind>``, a JSON ``Header`` with
the sequence number, the JSON document, and optionally a PNG thumbnail. A ``Heartbeat`` (header
only) says the daemon is alive and what the last sequence number was. Nothing is pickled.

The JSON schemas of these models are committed in ``config/schemas/`` and drift-tested.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

FORMAT: Literal["focusqc.events"] = "focusqc.events"
VERSION = 1
SCHEMAS = Path(__file__).parent / "schemas"

Kind = Literal["start", "descriptor", "event", "stop", "heartbeat"]
Action = Literal["in_focus", "skip", "refocus", "reacquire", "alarm"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Header(_Frozen):
    """The second frame of every message."""

    format: Literal["focusqc.events"] = FORMAT
    version: int = VERSION
    seq: int = Field(
        ge=-1, description="Per journal, +1 per document (a heartbeat repeats the last)."
    )
    kind: Kind
    scope: str = Field(description="The microscope's name (settings.name).")
    run_uid: str | None = None
    time: float = Field(description="Unix time the document was made.")
    replay: bool = Field(False, description="True when re-published from the journal.")
    has_thumbnail: bool = False


class TileQC(_Frozen):
    """The ``data`` of one event in the ``tiles`` stream: one decision on one acquisition."""

    tile: int = Field(ge=0, description="Tile index in the run.")
    row: int = Field(ge=0)
    col: int = Field(ge=0)
    attempt: int = Field(ge=0, description="0 first acquisition, then one per re-acquisition.")
    x_um: float
    y_um: float
    z_um: float = Field(description="Stage z when the tile was acquired.")
    defocus_um: float | None = Field(description="|defocus| predicted; null with no verdict.")
    defocus_dof: float | None
    certainty: float = Field(ge=0.0, le=1.0)
    side_above_prob: float = Field(ge=0.0, le=1.0)
    action: Action
    reason: str
    z_move_um: float | None = Field(description="The z move made after this decision.")
    strategy: str | None = Field(
        description="model, sweep, hardware, or search (after a streak of empty tiles); "
        "null with no move."
    )
    latency_ms: float = Field(ge=0.0, description="Tile arrival to decision.")
    deadline_missed: bool
    model_version: str
    provider: str


class Alarm(_Frozen):
    """The ``data`` of one event in the ``alarms`` stream: something a person must see."""

    severity: Literal["warning", "error"]
    tile: int | None
    message: str
    error_type: str | None = Field(None, description="Exception class for failures, else null.")


class Heartbeat(_Frozen):
    """A heartbeat's document: alive, and where the stream stands."""

    last_seq: int = Field(ge=-1)
    run_uid: str | None
    tiles_done: int = Field(ge=0)
    uptime_s: float = Field(ge=0.0)
    provider: str = Field("unknown", description="The execution provider actually in use.")
    model_version: str = "unknown"


STREAMS: dict[str, type[BaseModel]] = {"tiles": TileQC, "alarms": Alarm}
MODELS: dict[str, type[BaseModel]] = {
    "header": Header,
    "tile_qc": TileQC,
    "alarm": Alarm,
    "heartbeat": Heartbeat,
}

_DTYPES = {"number": "number", "integer": "integer", "string": "string", "boolean": "boolean"}


def data_keys(model: type[BaseModel]) -> dict[str, dict[str, Any]]:
    """Bluesky ``data_keys`` for a descriptor, read off the model's fields."""
    keys = {}
    for name, prop in model.model_json_schema()["properties"].items():
        types = [t.get("type") for t in prop.get("anyOf", [prop])]
        dtype = next((_DTYPES[t] for t in types if t in _DTYPES), "string")
        entry: dict[str, Any] = {"dtype": dtype, "shape": [], "source": f"focusqc:{name}"}
        if name.endswith("_um"):
            entry["units"] = "um"
        elif name.endswith("_ms"):
            entry["units"] = "ms"
        keys[name] = entry
    return keys


def schema_text(model: type[BaseModel]) -> str:
    """The committed form of a model's JSON schema."""
    return json.dumps(model.model_json_schema(), indent=2, sort_keys=True) + "\n"


def write_schemas(folder: Path = SCHEMAS) -> list[Path]:
    """Regenerate the committed schemas (``focusqc config schema --write``)."""
    from focusqc.config.settings import Settings

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    every: dict[str, type[BaseModel]] = {**MODELS, "settings": Settings}
    for name, model in every.items():
        path = folder / f"{name}.json"
        path.write_text(schema_text(model))
        paths.append(path)
    return paths
