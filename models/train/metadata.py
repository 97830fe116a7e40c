"""Key/value metadata of an exported ONNX file: what the scorer reads besides the graph."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path


def add_metadata(path: Path, entries: dict[str, str]) -> None:
    """Append ``entries`` to the file's metadata, in order (the file is rewritten in place)."""
    import onnx

    proto = onnx.load(str(path))
    for key, value in entries.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(proto, str(path))
