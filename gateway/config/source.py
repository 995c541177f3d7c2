"""Read YAML while remembering where every value came from.

`gateway check` must point at the line of a bad value, like `nginx -t`, yet the
models should see plain dicts. So we compose the YAML node tree ourselves and
keep, beside the data, an index from each value's path (the same tuple pydantic
puts in an error's `loc`) to its position in the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

Path_ = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Location:
    """A place in a config file, 1-based like an editor shows it."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(slots=True)
class LocatedDocument:
    """The data of one YAML file and where each path in it was written."""

    data: Any
    file: str
    positions: dict[Path_, Location] = field(default_factory=dict)

    def locate(self, path: Path_) -> Location:
        """The position of `path`, or of its nearest ancestor written in the file
        (a missing key is reported at the mapping that should hold it)."""
        for end in range(len(path), -1, -1):
            found = self.positions.get(tuple(path[:end]))
            if found is not None:
                return found
        return Location(self.file, 1, 1)


class YAMLSyntaxError(ValueError):
    """The file is not YAML at all; carries the position the parser stopped at."""

    def __init__(self, location: Location, reason: str) -> None:
        super().__init__(f"{location}: {reason}")
        self.location = location
        self.reason = reason


def _mark(doc: LocatedDocument, path: Path_, node: yaml.Node) -> None:
    # A mapping entry is located at its key (set first), anything else at its value.
    if path not in doc.positions:
        mark = node.start_mark
        doc.positions[path] = Location(doc.file, mark.line + 1, mark.column + 1)


def _construct(node: yaml.Node, path: Path_, doc: LocatedDocument, scalars: yaml.SafeLoader) -> Any:
    _mark(doc, path, node)
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = scalars.construct_object(key_node)
            _mark(doc, (*path, key), key_node)
            result[key] = _construct(value_node, (*path, key), doc, scalars)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [
            _construct(item, (*path, index), doc, scalars) for index, item in enumerate(node.value)
        ]
    # Scalars (and tagged scalars such as !!str) go through PyYAML's safe constructors.
    return scalars.construct_object(node)


def parse_yaml(text: str, file: str) -> LocatedDocument:
    """Parse `text` (the content of `file`) into data plus positions.

    An empty document is an empty mapping: every setting takes its default.
    """
    doc = LocatedDocument(data=None, file=file)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = Location(file, mark.line + 1, mark.column + 1) if mark else Location(file, 1, 1)
        raise YAMLSyntaxError(where, exc.problem or str(exc)) from exc
    doc.data = {} if root is None else _construct(root, (), doc, yaml.SafeLoader(""))
    return doc


def read_yaml(path: Path) -> LocatedDocument:
    return parse_yaml(path.read_text(encoding="utf-8"), str(path))
