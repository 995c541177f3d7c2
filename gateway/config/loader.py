"""Load `gateway.yaml` into a `GatewayConfig`, reporting every problem with its place."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from gateway.config.models import GatewayConfig
from gateway.config.source import LocatedDocument, Location, YAMLSyntaxError, parse_yaml


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


def _issues_of(error: ValidationError, doc: LocatedDocument) -> list[ConfigIssue]:
    issues = []
    for detail in error.errors(include_url=False):
        loc = tuple(detail["loc"])
        message = detail["msg"].removeprefix("Value error, ")
        if detail["type"] == "extra_forbidden":
            message = "unknown setting (a typo?)"
        issues.append(ConfigIssue(doc.locate(loc), _dotted(loc), message))
    return issues


def parse_config(text: str, file: str = "<string>") -> GatewayConfig:
    """Parse the YAML `text` of a config file; raise `ConfigError` naming each problem."""
    try:
        doc = parse_yaml(text, file)
    except YAMLSyntaxError as exc:
        raise ConfigError([ConfigIssue(exc.location, "", exc.reason)]) from exc
    if not isinstance(doc.data, dict):
        raise ConfigError([ConfigIssue(doc.locate(()), "", "the file must hold a mapping")])
    try:
        return GatewayConfig.model_validate(doc.data)
    except ValidationError as exc:
        raise ConfigError(_issues_of(exc, doc)) from exc


def load_config(path: Path) -> GatewayConfig:
    """Read and validate the config file at `path`."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            [ConfigIssue(Location(str(path), 1, 1), "", f"cannot read: {exc.strerror}")]
        ) from exc
    return parse_config(text, str(path))
