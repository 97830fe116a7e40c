"""The daemon's settings: pydantic models, read from TOML and overridden from the environment.

Units are in the field names. Every model is frozen: settings are read once at start-up, and a
wrong value fails there with a message that names the key and says how to fix it.
"""

from __future__ import annotations

import ipaddress
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

SHIPPED = Path(__file__).parent
DEFAULT_FILE = SHIPPED / "default.toml"


class ConfigError(ValueError):
    """A configuration that cannot be used, with the key at fault and the fix."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Optics(_Frozen):
    """What the camera sees through: converts the model's depth-of-field units to micrometres."""

    na: float = Field(0.75, gt=0.0, le=1.7, description="Objective numerical aperture.")
    wavelength_nm: float = Field(
        520.0, ge=300.0, le=1100.0, description="Emission (fluorescence) or centre wavelength."
    )
    n_immersion: float = Field(1.0, ge=1.0, le=1.7, description="1.0 air, 1.33 water, 1.518 oil.")
    pixel_size_um: float | Literal["driver"] = Field(
        "driver", description="Pixel size in the sample, or 'driver' to ask the microscope."
    )

    @field_validator("pixel_size_um")
    @classmethod
    def _positive(cls, value: float | str) -> float | str:
        if isinstance(value, float) and not 0.01 <= value <= 50.0:
            raise ValueError(f"{value} um is not a camera pixel in the sample: use 0.01-50")
        return value

    @model_validator(mode="after")
    def _na_below_index(self) -> Optics:
        if self.na >= self.n_immersion:
            raise ValueError(
                f"na {self.na} needs an immersion index above it (n_immersion {self.n_immersion}):"
                " set n_immersion = 1.33 (water) or 1.518 (oil)"
            )
        return self


class Policy(_Frozen):
    """When a tile is in focus, when to act, and when to give up."""

    threshold_dof: float = Field(
        2.5, gt=0.0, description="In focus up to this |defocus|, in depths of field."
    )
    threshold_um: float | None = Field(
        None, gt=0.0, description="In focus up to this |defocus| in um; overrides threshold_dof."
    )
    hysteresis: float = Field(
        0.8, gt=0.0, le=1.0, description="A refocused tile must come back below this x threshold."
    )
    certainty_gate: float = Field(
        0.1, ge=0.0, lt=1.0, description="Below this certainty a tile is skipped, never acted on."
    )
    max_retries_per_tile: int = Field(2, ge=0, le=10)
    max_retries_per_run: int = Field(100, ge=0)
    neighbour_failures_for_alarm: int = Field(
        3, ge=1, description="Failed tiles among a tile's 8 neighbours that raise an alarm."
    )
    empty_streak_warning: int = Field(
        5,
        ge=0,
        description="This many tiles in a row that show nothing to focus on start the "
        "lost-focus search, or a warning without one: far out of focus a field looks empty, so "
        "focus may be lost (0: neither).",
    )
    lost_focus_search_um: float = Field(
        30.0,
        ge=0.0,
        description="At that streak, look for a focus this far above and below (in steps of 10 "
        "depths of field, nearest first), re-acquire the tile there, and warn either way (0: "
        "only warn).",
    )
    fail_mode: Literal["open", "closed"] = Field(
        "open", description="open: a tile with no verdict passes; closed: it is re-acquired."
    )
    sweep_exposures: int = Field(10, ge=3, le=50, description="Exposures one sweep may spend.")
    autofocus_offset_um: float = Field(
        0.0, description="Added to the hardware autofocus's z (coverslip to sample)."
    )
    strategies: tuple[Literal["model", "sweep", "hardware"], ...] = Field(
        ("model", "hardware"),
        min_length=1,
        description="Refocus strategy of each attempt: the first, then the next, ...",
    )


class Safety(_Frozen):
    """Limits no decision can cross, whatever the model says."""

    z_min_um: float = -100.0
    z_max_um: float = 100.0
    max_step_um: float = Field(20.0, gt=0.0, description="Largest single z move.")

    @model_validator(mode="after")
    def _ordered(self) -> Safety:
        if self.z_min_um >= self.z_max_um:
            raise ValueError(
                f"z_min_um {self.z_min_um} must be below z_max_um {self.z_max_um}: swap them"
            )
        return self


class Runtime(_Frozen):
    """How the model runs and how long a tile may wait for it."""

    provider: Literal["auto", "cpu", "cuda", "tensorrt"] = "auto"
    require_gpu: bool = False
    threads: int = Field(0, ge=0, description="onnxruntime threads; 0 = up to 4 cores.")
    model: Path | None = Field(None, description="ONNX model file; None = the shipped model.")
    deadline_ms: float = Field(
        500.0, gt=0.0, description="Longest a tile waits for its verdict before it passes."
    )
    patch_budget: int = Field(16, ge=1, le=256)
    precision: Literal["float32", "int8"] = Field(
        "float32",
        description="int8: on the CPU, the model's int8 copy (about half the CPU time, slightly "
        "less accurate); a GPU runs the float model either way.",
    )


def _is_loopback(endpoint: str) -> bool:
    if endpoint.startswith(("ipc://", "inproc://")):
        return True
    host = urlsplit(endpoint).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Endpoints(_Frozen):
    """ZeroMQ endpoints: loopback unless remote access is asked for on purpose."""

    publish: str = "tcp://127.0.0.1:5560"
    snapshot: str = "tcp://127.0.0.1:5561"
    scanner: str = "tcp://127.0.0.1:5562"
    heartbeat_s: float = Field(1.0, gt=0.0)
    allow_remote: bool = Field(
        False, description="Bind beyond loopback (then CURVE keys are required)."
    )

    @model_validator(mode="after")
    def _loopback_unless_allowed(self) -> Endpoints:
        for key in ("publish", "snapshot", "scanner"):
            value = getattr(self, key)
            if not value.startswith(("tcp://", "ipc://", "inproc://")):
                raise ValueError(f"{key} = {value!r}: expected tcp://HOST:PORT or ipc://PATH")
            if not self.allow_remote and not _is_loopback(value):
                raise ValueError(
                    f"{key} = {value!r} is beyond loopback: set allow_remote = true (and CURVE "
                    "keys) to expose it, or bind 127.0.0.1"
                )
        return self


class Journal(_Frozen):
    """The durable record of every event (SQLite, write-ahead log)."""

    path: Path = Path("focusqc-journal.sqlite")
    fsync: Literal["always", "normal", "off"] = Field(
        "normal", description="always: survive power loss; normal: survive a killed daemon."
    )


class SimulatedSlide(_Frozen):
    """The embedded default microscope: a simulated slide with drift, a tilt and blank tiles."""

    rows: int = Field(6, ge=1, le=200)
    cols: int = Field(8, ge=1, le=200)
    tile_px: int = Field(256, ge=64, le=2048)
    modality: Literal["fluorescence", "brightfield"] = "fluorescence"
    specimen: str = Field("nuclei", description="Fluorescence specimen kind (see the simulator).")
    density: float = Field(1.0, gt=0.0, le=5.0, description="0.2 sparse, 1 typical, 3 crowded.")
    thickness_um: float = Field(
        6.0,
        ge=0.0,
        le=30.0,
        description="Fluorescence specimen thickness; focus is its mid-plane (brightfield: thin).",
    )
    drift_um_per_tile: float = Field(0.15, description="Focus drift between tiles.")
    drift_range_um: float = Field(
        6.0, ge=0.0, description="The drift turns back after this far (0: never)."
    )
    tilted_region: tuple[int, int, int, int] = Field(
        (4, 5, 0, 2), description="rows and cols (first, last, first, last) of a tilted patch."
    )
    tilt_um: float = Field(4.0, description="Extra defocus across the tilted region.")
    blank_tiles: int = Field(3, ge=0)
    seed: int = 0


class Settings(BaseSettings):
    """Everything the daemon reads at start-up."""

    model_config = SettingsConfigDict(
        env_prefix="FOCUSQC_", env_nested_delimiter="__", frozen=True, extra="forbid"
    )

    name: str = Field("focusqc", description="This microscope's name on the event stream.")
    optics: Optics = Optics()
    policy: Policy = Policy()
    safety: Safety = Safety()
    runtime: Runtime = Runtime()
    endpoints: Endpoints = Endpoints()
    journal: Journal = Journal()
    slide: SimulatedSlide = SimulatedSlide()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """The environment overrides the file."""
        return (env_settings, init_settings)


Key = Annotated[str, "a dotted settings key"]


def _explain(error: ValidationError, source: str) -> ConfigError:
    lines = [f"{source}: the configuration is not valid"]
    for item in error.errors():
        key: Key = ".".join(str(p) for p in item["loc"]) or "(top level)"
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown key: check its spelling against 'focusqc config schema'"
        lines.append(f"  {key}: {message} (got {item.get('input')!r})")
    return ConfigError("\n".join(lines))


def load(path: Path | None = None, **overrides: Any) -> Settings:
    """Settings from a TOML file (default: the shipped ``default.toml``), then the environment."""
    source = Path(path) if path else DEFAULT_FILE
    try:
        data = tomllib.loads(source.read_text())
    except FileNotFoundError as exc:
        raise ConfigError(f"{source}: no such configuration file") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML ({exc})") from exc
    try:
        return Settings(**{**data, **overrides})
    except ValidationError as exc:
        raise _explain(exc, str(source)) from None
