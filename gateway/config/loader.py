"""Load `gateway.yaml` into a `GatewayConfig`, reporting every problem with its place."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from gateway.config.models import GatewayConfig
from gateway.config.source import LocatedDocument, Location, YAMLSyntaxError, parse_yaml

SHIPPED_POLICIES = Path(__file__).resolve().parents[2] / "policies"
"""The presets shipped with the gateway (`policies/` at the top of the project)."""


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    """One reason a config file is refused."""

    location: Location
    path: str
    """Dotted path of the setting, e.g. `providers.sms.provider1.url`."""
    message: str

    def __str__(self) -> str:
        where = f" {self.path}:" if self.path else ""
        return f"{self.location}:{where} {self.message}"


class ConfigError(ValueError):
    """A config file that cannot be used; `issues` lists every problem found."""

    def __init__(self, issues: list[ConfigIssue]) -> None:
        super().__init__("\n".join(str(issue) for issue in issues))
        self.issues = issues


def _dotted(loc: tuple[Any, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _parse(text: str, file: str) -> LocatedDocument:
    try:
        doc = parse_yaml(text, file)
    except YAMLSyntaxError as exc:
        raise ConfigError([ConfigIssue(exc.location, "", exc.reason)]) from exc
    if not isinstance(doc.data, dict):
        raise ConfigError([ConfigIssue(doc.locate(()), "", "the file must hold a mapping")])
    return doc


def _merged(base: Any, override: Any) -> Any:
    """`override` laid over `base`, mappings merged key by key, anything else replaced."""
    if isinstance(base, dict) and isinstance(override, dict):
        return {**base, **{k: _merged(base.get(k), v) for k, v in override.items()}}
    return override


@dataclass(slots=True)
class _Sources:
    """The documents a config was assembled from, to locate an error in the right one."""

    main: LocatedDocument
    presets: dict[str, LocatedDocument]

    def locate(self, loc: tuple[Any, ...]) -> Location:
        if len(loc) >= 2 and loc[0] == "policies":
            name = loc[1]
            if loc in self.main.positions or name not in self.presets:
                return self.main.locate(loc)
            return self.presets[name].locate(loc[2:])
        return self.main.locate(loc)


def _read_presets(directory: Path) -> dict[str, LocatedDocument]:
    presets = {}
    for path in sorted(directory.glob("*.yaml")):
        presets[path.stem] = _parse(path.read_text(encoding="utf-8"), str(path))
    return presets


def _policies_dir(doc: LocatedDocument, config_dir: Path | None) -> Path:
    """`policies_dir` as configured (relative to the config file), else relative to the
    working directory (a container's /app), else the presets shipped with the code."""
    configured = Path(str(doc.data.get("policies_dir", "policies")))
    candidates = [configured]
    if not configured.is_absolute() and config_dir is not None:
        candidates.insert(0, config_dir / configured)
    candidates.append(SHIPPED_POLICIES)
    return next((path for path in candidates if path.is_dir()), SHIPPED_POLICIES)


def _assemble(doc: LocatedDocument, config_dir: Path | None) -> GatewayConfig:
    """Resolve presets and overrides into one `GatewayConfig`, or raise naming each issue."""
    presets = _read_presets(_policies_dir(doc, config_dir))
    sources = _Sources(doc, presets)
    overrides = doc.data.get("policies") or {}
    if not isinstance(overrides, dict):
        where = doc.locate(("policies",))
        raise ConfigError([ConfigIssue(where, "policies", "must map policy names to settings")])
    data = dict(doc.data)
    data["policies"] = {
        name: _merged(presets[name].data if name in presets else {}, overrides.get(name, {}))
        for name in {**presets, **overrides}
    }
    try:
        config = GatewayConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_issues_of(exc, sources)) from exc
    unknown = [
        ConfigIssue(
            doc.locate(("routes", route)),
            f"routes.{route}",
            f"no policy named {name!r} (known: {', '.join(sorted(config.policies))})",
        )
        for route, name in config.routes.model_dump().items()
        if name not in config.policies
    ]
    if unknown:
        raise ConfigError(unknown)
    return config


def _issues_of(error: ValidationError, sources: _Sources) -> list[ConfigIssue]:
    issues = []
    for detail in error.errors(include_url=False):
        loc = tuple(detail["loc"])
        message = detail["msg"].removeprefix("Value error, ")
        if detail["type"] == "extra_forbidden":
            message = "unknown setting (a typo?)"
        issues.append(ConfigIssue(sources.locate(loc), _dotted(loc), message))
    return issues


def parse_config(
    text: str, file: str = "<string>", *, config_dir: Path | None = None
) -> GatewayConfig:
    """Parse the YAML `text` of a config file; raise `ConfigError` naming each problem.

    Policy presets are read from `policies_dir`, relative to `config_dir`.
    """
    return _assemble(_parse(text, file), config_dir)


def default_config() -> GatewayConfig:
    """The embedded default: the seed's six providers on loopback, the shipped presets."""
    return parse_config("", "<embedded default>")


def load_config(path: Path) -> GatewayConfig:
    """Read and validate the config file at `path`."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            [ConfigIssue(Location(str(path), 1, 1), "", f"cannot read: {exc.strerror}")]
        ) from exc
    return parse_config(text, str(path), config_dir=path.parent)
