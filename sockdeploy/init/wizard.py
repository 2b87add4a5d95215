"""First-time setup (`sockdeploy init`): find or create a key, ask the questions, write hosts.yaml.

The steps live in keys.py (keys), questions.py (the questions and the plan
they make) and hostsfile.py (the file); this module carries a plan out, in
the order that leaves nothing half done. Installing the key on the host
(ssh-copy-id) is the SSH session's job.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Callable, Optional

from sockdeploy.errors import SockdeployError
from sockdeploy.init.hostsfile import (
    check_writable,
    default_output,
    render_hosts,
    shadowing_file,
    validate_text,
    write_hosts,
)
from sockdeploy.init.keys import create_key, public_key_line
from sockdeploy.init.questions import CREATE, NONE, Answers, Plan, ask_missing, make_plan, server_config
from sockdeploy.spec.hosts import Config, load_config
from sockdeploy.ssh.keyinstall import install_public_key, trust_host_key
from sockdeploy.ssh.terminal import Confirm, Prompt

# What the CLI drives the wizard with.
__all__ = ["CREATE", "NONE", "Answers", "Plan", "ask_missing", "carry_out", "check_writable", "default_output",
           "make_plan", "shadowing_file"]


def carry_out(plan: Plan, output: Path, force: bool, *, accept_new: bool = False, confirm: Optional[Confirm] = None,
              prompt: Optional[Prompt] = None, say: Callable[[str], None] = lambda _: None) -> Config:
    """Create the key, install it, write hosts.yaml and load it back; return the loaded config.

    Order matters: the answers are validated before a key is created, and the file
    is written only after the key is installed, so a failed login leaves no file
    that would need --force on the next try (a created key stays, for --identity).
    """
    check_writable(output, force)
    validate_text(render_hosts(replace(plan, identity=None)), output)
    if plan.create_key:
        assert plan.identity is not None
        pub = create_key(plan.identity)
        say(f"created the key {plan.identity} (public part {pub})")
    text = render_hosts(plan)
    validate_text(text, output)
    cfg = server_config(plan)
    if plan.install_key:
        assert plan.identity is not None
        line = public_key_line(plan.identity)
        say(f"installing {plan.identity}.pub on {plan.host} (one login; a password is asked if the key is not there yet)")
        added = install_public_key(cfg, line, accept_new=accept_new, confirm=confirm, prompt=prompt)
        say(f"key {'installed in' if added else 'already in'} ~/.ssh/authorized_keys on {plan.host}")
    elif accept_new or confirm is not None:
        # learn the host key now, so the doctor (which never stores one) can log in
        try:
            trust_host_key(cfg, accept_new=accept_new, confirm=confirm)
        except SockdeployError as err:
            say(f"note: host key not stored: {err.headline()}")
    write_hosts(output, text, force)
    return load_config(str(output))
