"""Shared fixtures: the real microscope images beside the clone, when they are there."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` (real images, not in the repo); skips when a user's clone lacks it."""
    if not (SHARED_DATA / "bbbc006").is_dir():
        pytest.skip(
            f"real test images not found at {SHARED_DATA}: they sit beside the clone "
            "in CI (../shared/data) and are not shipped with focusqc"
        )
    return SHARED_DATA


@pytest.fixture(scope="session")
def shared_data_if_present() -> Path | None:
    """``../shared/data`` when it is there, else None (for tests that use it only in part)."""
    return SHARED_DATA if (SHARED_DATA / "bbbc006").is_dir() else None
