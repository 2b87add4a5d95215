"""`sockdeploy doctor`: check, in order, everything a run needs, and say how to fix what fails.

The eleven checks, always reported in this order, each with a result of
"ok", "fail", "warn" (not an error for the configured network path, but
worth knowing) or "skip" (an earlier failure makes it meaningless):

    check            error class (exit code) when it is the first "fail"
    config           ConfigError (2)        hosts.yaml found and valid
    name resolution  ConnectError (3)       server.host (or its ssh-config HostName) resolves
    ssh port         ConnectError (3)       TCP connect within 5 s and an "SSH-" banner
    host key         ConnectError (3)       known / unknown (with fingerprint) / changed
    login            ConnectError (3)       authentication works
    server tools     BuildError (4)         gcc (or cc), sh, tar, base64, setsid; python3 and stdbuf optional
    free port        NetworkPathError (5)   a port of network.ports is free on the server host
    forwarding       NetworkPathError (5)   sshd allows local forwards (the tunnel)
    client host      ConnectError (3)       this machine, or (client.host over SSH) host key, login and gcc there
    vpn              NetworkPathError (5)   openconnect up and routing to the server
    direct reach     NetworkPathError (5)   a course port on the server answers from here

The classes are those of the domain errors the same problem raises during a
run (check.CHECK_ERRORS); report.exit_code returns 0 when nothing failed,
warnings included. All remote checks share ONE SSH connection and one login;
the subjects' own modules say what decides each result (netchecks,
sshchecks, hostchecks). The server host is resolved once, by the resolver a
run uses (OpenSSH's `ssh -G`), and the checks and the login use that result.
"""

from __future__ import annotations

from typing import List, Optional

from sockdeploy.doctor.check import CONFIG, FAIL, FORWARDING, OK, Check
from sockdeploy.doctor.findings import Findings
from sockdeploy.doctor.hostchecks import check_client_host, check_server_host
from sockdeploy.doctor.netchecks import check_direct, check_name_and_port, check_vpn, ipv4
from sockdeploy.doctor.report import OnCheck, Report, exit_code, failure, render_table, to_json
from sockdeploy.doctor.sshchecks import check_login
from sockdeploy.errors import SockdeployError
from sockdeploy.spec.hosts import Config, load_config
from sockdeploy.ssh.resolver import SshOptions, resolve_server
from sockdeploy.ssh.session import SshSession
from sockdeploy.ssh.terminal import Prompt

# What the CLI runs the doctor with.
__all__ = ["exit_code", "failure", "render_table", "run_doctor", "to_json"]


def run_doctor(hosts_path: Optional[str], *, prompt: Optional[Prompt] = None,
               on_check: Optional[OnCheck] = None) -> List[Check]:
    """Run every check in ORDER and return one Check per name; diagnosed problems never raise.

    `prompt` relays password or 2FA prompts (None: key logins only); `on_check`
    sees each check as soon as its result is final, for live output.
    """
    report = Report(on_check)
    try:
        cfg = load_config(hosts_path)
        # a run stops here too (exit 2) when OpenSSH cannot read the user's ssh config
        ssh = resolve_server(cfg.server)
    except SockdeployError as err:
        report.add(CONFIG, FAIL, err.headline(), err.hint or "")
        report.skip_rest("hosts.yaml and the ssh config must load first")
        return report.checks
    lo, hi = cfg.network.ports
    report.add(CONFIG, OK, f"{cfg.path}: server {cfg.server.host}, via {cfg.network.via}, ports {lo}-{hi}")
    Doctor(cfg, report, prompt, ssh).run()
    return report.checks


class Doctor:
    """The checks after config: the server host over one SSH session, then the client side."""

    def __init__(self, cfg: Config, report: Report, prompt: Optional[Prompt], ssh: SshOptions) -> None:
        """SSH is what OpenSSH's config says for the server host."""
        self.findings = Findings(cfg, report, prompt)
        self.ssh = ssh

    def run(self) -> None:
        """Run the server host's checks, then the client host's, VPN and direct reach."""
        self._server_host()
        self._client_side()

    def _server_host(self) -> None:
        f = self.findings
        reachable = check_name_and_port(f, self.ssh)
        # never trusts a key by itself: an unknown key fails the check before any credential is sent
        session = SshSession(f.cfg.server, accept_new=False, confirm=None, prompt=f.prompt, options=self.ssh)
        try:
            if reachable and check_login(f, session):
                f.server_ip = session.peer_ip or f.server_ip or ipv4(session.hostname)
                check_server_host(f, session)
            else:
                f.report.skip_until(FORWARDING, "needs a login" if reachable else "needs the SSH port reachable")
        finally:
            session.close()

    def _client_side(self) -> None:
        f = self.findings
        pi: Optional[SshSession] = None
        if f.cfg.client.ssh is not None:
            pi = SshSession(f.cfg.client.ssh, accept_new=False, confirm=None, prompt=f.prompt)
            pi.role = "client host"
        try:
            check_client_host(f, pi)
            check_vpn(f)
            check_direct(f)
        finally:
            if f.client is not None:
                f.client.close()
