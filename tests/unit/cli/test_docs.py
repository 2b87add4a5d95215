"""Every command and option is documented in README.md and has help text with an example."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator, List, Tuple

import click
import pytest

from sockdeploy.cli.app import cli

README = (Path(__file__).resolve().parents[3] / "README.md").read_text(encoding="utf-8")


def _commands(group: click.Group, path: Tuple[str, ...] = ()) -> Iterator[Tuple[Tuple[str, ...], click.Command]]:
    for name, cmd in sorted(group.commands.items()):
        yield path + (name,), cmd
        if isinstance(cmd, click.Group):
            yield from _commands(cmd, path + (name,))


COMMANDS = list(_commands(cli))
IDS = [" ".join(p) for p, _ in COMMANDS]


def _long_options(cmd: click.Command) -> List[str]:
    names = []
    for param in cmd.params:
        if isinstance(param, click.Option):
            longs = [o for o in param.opts + param.secondary_opts if o.startswith("--")]
            names += longs[:1] if longs else param.opts[:1]
    return [n for n in names if n not in ("--help",)]


def test_the_walk_finds_the_commands():
    assert {"run", "demo", "doctor", "payloads", "tunnel open", "lab up", "completion"} <= set(IDS)


@pytest.mark.parametrize("path, cmd", COMMANDS, ids=IDS)
def test_command_is_in_the_readme(path, cmd):
    assert f"sockdeploy {' '.join(path)}" in README, f"README.md never shows `sockdeploy {' '.join(path)}`"


@pytest.mark.parametrize("path, cmd", COMMANDS, ids=IDS)
def test_command_has_help_with_an_example(path, cmd):
    text = cmd.help or ""
    assert text.strip(), f"{' '.join(path)} has no help text"
    if not isinstance(cmd, click.Group):
        assert "Example" in text, f"`sockdeploy {' '.join(path)} --help` shows no example"


@pytest.mark.parametrize("path, cmd", [(p, c) for p, c in COMMANDS if not isinstance(c, click.Group)],
                         ids=[i for i, (_, c) in zip(IDS, COMMANDS) if not isinstance(c, click.Group)])
def test_every_option_is_documented(path, cmd):
    for param in cmd.params:
        if isinstance(param, click.Option) and param.name != "help":
            assert (param.help or "").strip(), f"{' '.join(path)} {param.opts[0]} has no help text"
    missing = [o for o in _long_options(cmd) if o not in README]
    assert not missing, f"README.md does not mention {missing} of `sockdeploy {' '.join(path)}`"
