"""Load YAML while remembering the line of every key, so errors can say FILE:LINE."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Tuple, Type

import yaml

from sockdeploy.errors import SockdeployError

KeyPath = Tuple[Any, ...]


@dataclass
class Located:
    """Plain data loaded from a YAML file plus a line number for each key path."""

    data: Any
    path: Path
    lines: Dict[KeyPath, int] = field(default_factory=dict)

    def where(self, keypath: KeyPath = ()) -> str:
        """Return 'FILE:LINE' for the nearest known ancestor of keypath."""
        kp = tuple(keypath)
        while kp and kp not in self.lines:
            kp = kp[:-1]
        line = self.lines.get(kp, 1)
        return f"{self.path}:{line}"


def _construct(node: yaml.Node, kp: KeyPath, lines: Dict[KeyPath, int], where: str, err: Type[SockdeployError]) -> Any:
    lines.setdefault(kp, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        out: Dict[Any, Any] = {}
        for knode, vnode in node.value:
            key = _scalar(knode)
            if key in out:
                raise err(
                    f"duplicate key {key!r}",
                    "keep one of the two entries",
                    where=f"{where}:{knode.start_mark.line + 1}",
                )
            lines[kp + (key,)] = knode.start_mark.line + 1
            out[key] = _construct(vnode, kp + (key,), lines, where, err)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_construct(v, kp + (i,), lines, where, err) for i, v in enumerate(node.value)]
    return _scalar(node)


def _scalar(node: yaml.Node) -> Any:
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_object(node, deep=True)
    finally:
        loader.dispose()


def load_located(path: Path, err: Type[SockdeployError]) -> Located:
    """Parse a YAML file; raise `err` with FILE:LINE on syntax errors."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise err(f"file not found: {path}", "check the path", where=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise err(f"cannot read file: {exc}", "check the file's permissions and encoding (UTF-8)", where=str(path)) from None
    try:
        _limit_aliases(text, path, err)
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        problem = exc.problem or str(exc)
        raise err(
            f"YAML syntax error: {problem}",
            "fix the indentation or quoting on that line (YAML uses spaces, not tabs)",
            where=f"{path}:{line}",
        ) from None
    except yaml.YAMLError as exc:
        raise err(f"YAML error: {exc}", "fix the file's syntax", where=str(path)) from None
    lines: Dict[KeyPath, int] = {}
    data = None if node is None else _construct(node, (), lines, str(path), err)
    return Located(data=data, path=path, lines=lines)


MAX_ALIASES = 32  # a config file needs few, if any; a "billion laughs" file needs many


def _limit_aliases(text: str, path: Path, err: Type[SockdeployError]) -> None:
    """Refuse a file with more YAML aliases (*name) than any config needs, before anything expands them."""
    count = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.AliasEvent):
            count += 1
            if count > MAX_ALIASES:
                line = event.start_mark.line + 1 if event.start_mark else 1
                raise err(f"more than {MAX_ALIASES} YAML aliases (*name)", "write the values out instead of repeating anchors",
                          where=f"{path}:{line}")


class Section:
    """A mapping inside a Located document, with typed, line-aware getters."""

    def __init__(self, doc: Located, kp: KeyPath, err: Type[SockdeployError]) -> None:
        self.doc, self.kp, self.err = doc, tuple(kp), err
        value = doc.data
        for k in self.kp:
            if isinstance(value, dict) and k in value:
                value = value[k]
            elif isinstance(value, list) and isinstance(k, int) and 0 <= k < len(value):
                value = value[k]
            else:
                value = None
        if value is None:
            value = {}
        if not isinstance(value, dict):
            raise err(
                f"'{self.name}' must be a mapping of keys, got {typename(value)}",
                "indent its keys below it, e.g. 'server:' then '  host: ...'",
                where=doc.where(self.kp),
            )
        self.value: Dict[Any, Any] = value

    @property
    def name(self) -> str:
        """Return the section's dotted name as a person writes it (servers[2].host), or "top level"."""
        parts = [f"[{k + 1}]" if isinstance(k, int) else f".{k}" for k in self.kp]
        return "".join(parts).lstrip(".") or "top level"

    def fail(self, key: Any, message: str, hint: str) -> SockdeployError:
        """Return this section's error class pointing at `key`'s FILE:LINE, for the caller to raise."""
        return self.err(message, hint, where=self.doc.where(self.kp + (key,)))

    def only(self, allowed: list[str]) -> None:
        """Refuse keys outside `allowed`, suggesting the closest one."""
        import difflib

        for key in self.value:
            if key not in allowed:
                close = difflib.get_close_matches(str(key), allowed, n=1)
                hint = f"did you mean '{close[0]}'?" if close else f"allowed keys here: {', '.join(allowed)}"
                prefix = f"{self.name}." if self.kp else ""
                raise self.fail(key, f"unknown key '{prefix}{key}'", hint)

    def get(self, key: str, types: tuple[type, ...] | type, default: Any = None, *, required: bool = False,
            what: str = "") -> Any:
        """Return `key`'s value checked against `types` (never a bool for a number); `default` when it is absent."""
        if key not in self.value or self.value[key] is None:
            if required:
                prefix = f"{self.name}." if self.kp else ""
                raise self.err(
                    f"missing required key '{prefix}{key}'",
                    f"add '{key}: {what or '...'}' under '{self.name}'",
                    where=self.doc.where(self.kp),
                )
            return default
        value = self.value[key]
        types_t = types if isinstance(types, tuple) else (types,)
        # bool is an int in Python; never accept it where a number is wanted
        if isinstance(value, bool) and bool not in types_t:
            ok = False
        else:
            ok = isinstance(value, types_t)
        if not ok:
            want = " or ".join(_TYPENAMES.get(t, t.__name__) for t in types_t)
            raise self.fail(key, f"'{key}' must be {want}, got {typename(value)} {value!r}",
                            f"write '{key}' as {want}" + (f", e.g. {what}" if what else ""))
        return value

    def sub(self, key: str) -> Section:
        """Return the mapping under `key` as a Section (empty when absent)."""
        return Section(self.doc, self.kp + (key,), self.err)


_TYPENAMES = {str: "a string", int: "a whole number", bool: "true or false", list: "a list", dict: "a mapping", float: "a number"}


def typename(value: Any) -> str:
    """Name a YAML value's type the way the error messages say it ("a number", "a list")."""
    if value is None:
        return "nothing"
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "a list",
            dict: "a mapping"}.get(type(value), type(value).__name__)
