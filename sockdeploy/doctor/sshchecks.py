"""SSH checks on the one shared session: host key, login, and whether sshd allows forwarding.

The session is opened with accept_new=False and confirm=None, so an unknown
or changed host key fails the host key check before any credential is sent,
and the doctor writes no known_hosts entry unless the user's ssh config says
StrictHostKeyChecking accept-new (or no), where `ssh` would store it too. Forwarding forbidden is "fail" with
via tunnel and "warn" otherwise, because --via tunnel and auto's fallback
cannot work.
"""

from __future__ import annotations

from sockdeploy.doctor.check import FAIL, FORWARDING, HOST_KEY, LOGIN, OK, SKIP, WARN
from sockdeploy.doctor.findings import Findings
from sockdeploy.errors import AuthError, ConfigError, ConnectError, ForwardingForbidden, HostKeyError
from sockdeploy.ssh.hostkeys import fingerprint
from sockdeploy.ssh.session import SshSession


def check_login(f: Findings, session: SshSession) -> bool:
    """Open `session`; report the host key and login checks; return whether it is logged in."""
    report = f.report
    try:
        session.open()
    except HostKeyError as err:
        report.fail(HOST_KEY, err)
        report.add(LOGIN, SKIP, "not tried: the host key is not trusted, so no credential was sent")
        return False
    except AuthError as err:
        report.add(HOST_KEY, OK, "known: the server proved it holds the trusted key before any credential was sent")
        report.fail(LOGIN, err)
        return False
    except ConnectError as err:
        report.add(HOST_KEY, FAIL, f"no SSH connection to check it on: {err.headline()}", err.hint or "")
        report.add(LOGIN, SKIP, "needs an SSH connection")
        return False
    except ConfigError as err:  # a jump host's ssh config (the host's own was read before)
        report.add(HOST_KEY, FAIL, err.headline(), err.hint or "")
        report.add(LOGIN, SKIP, "needs an SSH connection")
        return False
    except Exception as exc:
        # doctor reports, it does not crash
        report.add(HOST_KEY, FAIL, f"connecting raised {type(exc).__name__}: {exc}",
                   "if it names a line of your ssh config, fix that file (or set server.ssh_config: none in "
                   "hosts.yaml); otherwise report this as a sockdeploy bug")
        report.add(LOGIN, SKIP, "needs an SSH connection")
        return False
    try:
        key = session.transport.get_remote_server_key()
        report.add(HOST_KEY, OK, f"known: {key.get_name()} {fingerprint(key)}")
    except ConnectError as err:
        report.fail(HOST_KEY, err)
        report.add(LOGIN, SKIP, "the SSH connection was lost")
        return False
    kex = "yes" if session.strict_kex else "no (the server lacks the Terrapin fix)"
    how = f" with {session.auth_used}" if session.auth_used else ""
    jumps = "".join(f"; through {hop.summary()}" for hop in session.jump_hosts)
    report.add(LOGIN, OK, f"logged in as {session.login}{how}; strict key exchange: {kex}{jumps}")
    return True


def check_forwarding(f: Findings, session: SshSession) -> None:
    """Ask sshd for a test forward."""
    try:
        session.check_forwarding()
    except ForwardingForbidden as err:
        if f.via == "tunnel":
            f.report.fail(FORWARDING, err)
        else:
            f.report.add(FORWARDING, WARN, f"{err.headline()}; not needed with via {f.via}, "
                         "but --via tunnel and auto's fallback cannot work",
                         f"if the course ports are firewalled from here, use the VPN: sudo openconnect {f.gateway}")
        return
    except ConnectError as err:
        f.report.fail(FORWARDING, err)
        return
    f.report.add(FORWARDING, OK, "allowed: sshd accepted a test forward (so --via tunnel works)")
