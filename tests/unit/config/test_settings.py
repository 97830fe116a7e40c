"""Settings: the shipped files load, the environment overrides, bad values name key and fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from focusqc.config.settings import SHIPPED, ConfigError, Settings, load


@pytest.mark.parametrize("path", sorted(SHIPPED.glob("*.toml")), ids=lambda p: p.name)
def test_every_shipped_config_loads(path: Path) -> None:
    assert isinstance(load(path), Settings)


def test_the_environment_overrides_the_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOCUSQC_POLICY__CERTAINTY_GATE", "0.35")
    settings = load()
    assert settings.policy.certainty_gate == 0.35
    assert settings.optics.na == 0.75  # the rest still comes from the file


BAD = [
    ("[optics]\nna = 1.2\n", "optics", "n_immersion = 1.33"),
    ("[policy]\ntreshold_dof = 1\n", "policy.treshold_dof", "unknown key"),
    ("[safety]\nz_min_um = 5\nz_max_um = -5\n", "safety", "swap them"),
    ("[endpoints]\npublish = 'tcp://0.0.0.0:5560'\n", "endpoints", "allow_remote"),
    ("[endpoints]\npublish = 'http://x'\n", "endpoints", "tcp://HOST:PORT"),
    ("[optics]\npixel_size_um = 900.0\n", "optics.pixel_size_um", "0.01-50"),
    ("[runtime]\ndeadline_ms = -1\n", "runtime.deadline_ms", "greater than 0"),
    ("optics = [\n", "", "not valid TOML"),
]


@pytest.mark.parametrize(("text", "key", "fix"), BAD)
def test_a_wrong_config_names_the_key_and_the_fix(
    tmp_path: Path, text: str, key: str, fix: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load(path)
    message = str(caught.value)
    assert str(path) in message and key in message and fix in message


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such configuration file"):
        load(tmp_path / "nope.toml")


def test_remote_endpoints_are_allowed_only_on_purpose(tmp_path: Path) -> None:
    path = tmp_path / "remote.toml"
    path.write_text("[endpoints]\nallow_remote = true\npublish = 'tcp://0.0.0.0:5560'\n")
    assert load(path).endpoints.publish == "tcp://0.0.0.0:5560"


def test_policy_defaults_are_the_models_calibrated_defaults() -> None:
    # config may not import models (import-linter), so the numbers live twice; they must agree.
    from focusqc.models.postprocess import DEFAULT_CERTAINTY_GATE, DEFAULT_THRESHOLD_DOF

    policy = load().policy
    assert Settings().policy.threshold_dof == policy.threshold_dof == DEFAULT_THRESHOLD_DOF
    assert Settings().policy.certainty_gate == policy.certainty_gate == DEFAULT_CERTAINTY_GATE
