"""`sockdeploy completion`: the shell's tab-completion script."""

from __future__ import annotations

import click


@click.command()
@click.argument("shell", type=click.Choice(["bash", "zsh"]))
@click.pass_context
def completion(ctx: click.Context, shell: str) -> None:
    """Print the tab-completion script for SHELL (commands, options, payload names).

    \b
    Example:
      sockdeploy completion bash >> ~/.bashrc        # or:
      eval "$(sockdeploy completion zsh)"            # in ~/.zshrc
    """
    from click.shell_completion import get_completion_class

    cls = get_completion_class(shell)
    assert cls is not None  # click ships both
    root = ctx.find_root().command
    click.echo(cls(root, {}, "sockdeploy", "_SOCKDEPLOY_COMPLETE").source())
