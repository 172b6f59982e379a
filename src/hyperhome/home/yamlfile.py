"""YAML files whose errors name the file, the line and the field.

``load(path)`` parses with PyYAML and remembers the line of every mapping key and list item, so
a pydantic ValidationError can be reported as ``demo.yaml:14: devices.2.kind: ...``. A
``Source`` is a part of such a file (a whole home file, or the home written inline in a scenario
file) that reports its own mistakes the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from hyperhome.broker.wire import error_field
from hyperhome.errors import ConfigError

M = TypeVar("M", bound=BaseModel)
Loc = tuple[str | int, ...]


def _lines(node: yaml.Node, loc: Loc, out: dict[Loc, int]) -> None:
    out.setdefault(loc, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            child = (*loc, str(key.value))
            out[child] = key.start_mark.line + 1
            _lines(value, child, out)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _lines(item, (*loc, index), out)


def resolve(name_or_path: str | Path, shipped: dict[str, Path], what: str) -> Path:
    """A path to a file, or the name of a shipped one; ConfigError listing the shipped names."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    if str(name_or_path) in shipped:
        return shipped[str(name_or_path)]
    msg = f"no {what} file {name_or_path!s} (shipped {what}s: {', '.join(sorted(shipped))})"
    raise ConfigError(msg)


def load(path: Path) -> tuple[Any, dict[Loc, int]]:
    """The data of a YAML file and the line of every location in it."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        msg = f"cannot read {path}: {exc.strerror or exc}"
        raise ConfigError(msg) from None
    return parse(text, str(path))


def parse(text: str, name: str) -> tuple[Any, dict[Loc, int]]:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{name}:{mark.line + 1}" if mark is not None else name
        msg = f"{where}: not valid YAML: {getattr(exc, 'problem', None) or exc}"
        raise ConfigError(msg) from None
    lines: dict[Loc, int] = {}
    if node is not None:
        _lines(node, (), lines)
    return data, lines


def line_of(lines: dict[Loc, int], loc: Loc) -> int | None:
    """The line of ``loc`` or of its nearest enclosing location."""
    for end in range(len(loc), -1, -1):
        key = tuple(loc[:end])
        if key in lines:
            return lines[key]
    return None


def file_loc(lines: dict[Loc, int], loc: Loc) -> Loc:
    """``loc`` without the parts pydantic adds that are not in the file (union and tag names).

    A part is dropped when the path without it continues in the file and the path with it does
    not: ``("home", "inline", "devices", 0)`` becomes ``("home", "devices", 0)``.
    """
    kept: list[str | int] = []
    for index, part in enumerate(loc):
        following = loc[index + 1] if index + 1 < len(loc) else None
        if (*kept, part) not in lines and following is not None and (*kept, following) in lines:
            continue
        kept.append(part)
    return tuple(kept)


def validate(model: type[M], path: Path) -> M:
    """Load ``path`` and validate it as ``model``; ConfigError naming line and field."""
    data, lines = load(path)
    return validate_data(model, data, lines, str(path))


def load_document(path: Path, needs: str) -> tuple[Any, Source]:
    """The data of a YAML file that must not be empty, and its ``Source``; ``needs`` says what
    such a file holds at least, for the error an empty file gets."""
    data, lines = load(path)
    source = Source(str(path), lines)
    if data is None:
        raise source.error((), f"the file is empty; it needs at least {needs}", line=1)
    return data, source


@dataclass(frozen=True)
class Source:
    """Where a document came from: the file's name, the line of every location in it, and the
    location of the document within the file (``("home",)`` for a home inline in a scenario)."""

    name: str
    lines: dict[Loc, int]
    at: Loc = ()

    def where(self, loc: Loc, *, line: int | None = None) -> str:
        """``file:line: field`` of ``loc`` (a location within the document)."""
        full = (*self.at, *loc)
        line = line or line_of(self.lines, full)
        return f"{self.name}:{line or '?'}: {'.'.join(map(str, full)) or '(top level)'}"

    def error(self, loc: Loc, message: str, *, line: int | None = None) -> ConfigError:
        return ConfigError(f"{self.where(loc, line=line)}: {message}")

    def problems(self, found: list[tuple[Loc, str]]) -> ConfigError:
        """One error listing every problem, a line each."""
        return ConfigError("\n".join(f"{self.where(loc)}: {message}" for loc, message in found))


def validate_data(
    model: type[M], data: Any, lines: dict[Loc, int], name: str, *, context: dict[str, Any] | None = None
) -> M:
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False):
            loc = file_loc(lines, tuple(err["loc"]))
            if err["type"] != "missing" and loc and loc not in lines and loc[:-1] in lines:
                loc = loc[:-1]  # a union's tag at the end (a model-level error of one branch)
            line = line_of(lines, loc)
            field = error_field(loc, top="(top level)")
            problems.append(f"{name}:{line or '?'}: {field}: {err['msg']}")
        raise ConfigError("\n".join(problems)) from None
