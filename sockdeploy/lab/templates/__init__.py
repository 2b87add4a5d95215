"""Configuration files the labs write, as templates with named `$fields` (package data)."""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from string import Template


@cache
def _template(name: str) -> Template:
    return Template(files(__name__).joinpath(name).read_text(encoding="utf-8"))


def render(name: str, **fields: object) -> str:
    """Return template NAME with every `$field` filled in; a missing field raises KeyError."""
    return _template(name).substitute({key: str(value) for key, value in fields.items()})
