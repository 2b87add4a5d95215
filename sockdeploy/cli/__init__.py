"""Command line: thin commands over the library; the only place that maps errors to exit codes."""

from sockdeploy.cli.app import cli, main

__all__ = ["cli", "main"]
