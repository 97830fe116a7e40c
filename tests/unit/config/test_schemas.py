"""The committed JSON schemas are what the pydantic models generate (no drift)."""

from __future__ import annotations

import json

import pytest
from pydantic import BaseModel

from focusqc.config.events import MODELS, SCHEMAS, TileQC, data_keys, schema_text
from focusqc.config.settings import Settings

ALL: dict[str, type[BaseModel]] = {**MODELS, "settings": Settings}


@pytest.mark.parametrize("name", sorted(ALL))
def test_committed_schema_matches_the_model(name: str) -> None:
    committed = SCHEMAS / f"{name}.json"
    assert committed.is_file(), f"{committed} missing: run 'focusqc config schema --write'"
    assert committed.read_text() == schema_text(ALL[name]), (
        f"{committed} drifted from its model: run 'focusqc config schema --write' and commit"
    )


def test_bluesky_data_keys_follow_the_model() -> None:
    keys = data_keys(TileQC)
    assert keys["defocus_um"] == {
        "dtype": "number",
        "shape": [],
        "source": "focusqc:defocus_um",
        "units": "um",
    }
    assert keys["row"]["dtype"] == "integer" and keys["action"]["dtype"] == "string"
    assert keys["deadline_missed"]["dtype"] == "boolean"
    assert set(keys) == set(TileQC.model_fields)
    json.dumps(keys)
