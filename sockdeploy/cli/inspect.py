"""`sockdeploy inspect DIR`: what discovery finds in a folder of sources, and the exact plan a run would use."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Optional

import click

from sockdeploy.cli import options
from sockdeploy.errors import UsageError


@click.command("inspect")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@click.option("--exercise", metavar="NAME", help="Fit the plan to a bundled exercise (ex5: AF_INET, a run, then a quit run).")
@click.option("--server", "server_file", metavar="FILE", help="Use this file as the server (path inside FOLDER).")
@click.option("--client", "client_file", metavar="FILE", help="Use this file as the client (path inside FOLDER).")
@click.option("--write", is_flag=True, help="Save the plan as FOLDER/payload.yaml, to adjust by hand.")
@click.option("--force", is_flag=True, help="With --write: replace an existing payload.yaml.")
@options.as_json("Print what was found and the plan as JSON, and only that, on stdout.")
def inspect_cmd(folder: Path, exercise: Optional[str], server_file: Optional[str], client_file: Optional[str],
                write: bool, force: bool, as_json: bool) -> None:
    """Show the server and client found in FOLDER and how a run would build and start them.

    \b
    Examples:
      sockdeploy inspect ~/studio5 --exercise ex5
      sockdeploy inspect ~/studio5 --exercise ex5 --write   # then: sockdeploy run ~/studio5
    """
    from sockdeploy.discover.exercise import inspect_folder
    from sockdeploy.discover.manifest import report, to_manifest

    found, plan, description = inspect_folder(folder, exercise, server=server_file, client=client_file)
    if as_json:
        click.echo(json.dumps({"programs": [_jsonable(p) for p in found.programs], "reasons": found.reasons,
                               "skipped": found.skipped, "plan": _jsonable(plan)}, indent=2))
    else:
        click.echo("\n".join(report(found, plan)), err=True)
    if write:
        target = folder / "payload.yaml"
        if target.exists() and not force:
            raise UsageError(f"{target} exists", "add --force to replace it, or edit it by hand", where="--write")
        target.write_text(to_manifest(found, plan, description))
        click.echo(f"wrote {target}", err=True)


def _jsonable(obj: object) -> object:
    data = dataclasses.asdict(obj)  # type: ignore[call-overload]
    return json.loads(json.dumps(data, default=lambda v: sorted(v) if isinstance(v, set) else str(v)))
