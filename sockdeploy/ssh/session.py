"""The SSH session: one authenticated connection that carries every remote step.

This is the only module that touches paramiko and fabric.
"""

from __future__ import annotations

import base64
import getpass
import hashlib
import logging
import os
import select
import shlex
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, List, Optional, Sequence, Tuple, Union

from sockdeploy.errors import (
    AuthError,
    ConnectError,
    ForwardConnectFailed,
    ForwardingForbidden,
    HostKeyError,
    ScriptTimeout,
)
from sockdeploy.remote.host import CommandResult
from sockdeploy.spec.hosts import ServerConfig

log = logging.getLogger("sockdeploy.ssh.session")

KEEPALIVE_SECONDS = 10
KEEPALIVE_TIMEOUT = 20  # no reply for this long after a keepalive: the link is dead (~30 s in all)
CONNECT_TIMEOUT = 15

# Asks a yes/no question on the terminal; None when there is no terminal.
Confirm = Callable[[str], bool]
# Shows a prompt exactly as given and returns the answer; the flag says whether to echo it.
Prompt = Callable[[str, bool], str]
DEFAULT_IDENTITIES = ("id_ed25519", "id_ecdsa", "id_rsa")


def fingerprint(key) -> str:  # type: ignore[no-untyped-def]
    """Return the OpenSSH-style SHA256 fingerprint of a paramiko key."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def known_hosts_name(host: str, port: int) -> str:
    return host if port == 22 else f"[{host}]:{port}"


def wrap_script(script: str) -> str:
    """Return a one-line command that runs `script` with /bin/sh whatever the login shell is.

    The script travels base64-encoded so csh/fish login shells, newlines and
    quotes in interpolated values cannot change its meaning.
    """
    # umask 077: nothing a run creates on a shared host is readable by others
    b64 = base64.b64encode(("umask 077\n" + script).encode()).decode()
    return f"/bin/sh -c 'eval \"$(printf %s {b64} | base64 -d)\"'"


class SshSession:
    """One SSH connection to the server host (a Host for running scripts)."""

    role = "server host"

    def __init__(self, cfg: ServerConfig, *, accept_new: bool = False, confirm: Optional[Confirm] = None,
                 prompt: Optional[Prompt] = None) -> None:
        """`confirm` and `prompt` talk to the person at a terminal; None means there is none."""
        self.cfg = cfg
        self.accept_new = accept_new
        self.confirm = confirm
        self.prompt = prompt
        self.name = cfg.host
        self._conn = None
        self._transport = None
        self.peer_ip: Optional[str] = None
        self.hostname = cfg.host
        self.login = cfg.host
        self.strict_kex: Optional[bool] = None
        # remote agents (see agent.py): at most max_agents, each running one script at a time
        self.max_agents = 1
        self._agents: list = []  # idle ones
        self._agent_count = 0
        self._agent_off = False  # the host has no python3: every script on its own channel
        self._agent_lock = threading.Lock()
        self._open_lock = threading.Lock()  # see _open

    # -- lifetime -----------------------------------------------------------
    def __enter__(self) -> SshSession:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _known_hosts_path(self) -> Path:
        return Path(self.cfg.known_hosts or os.path.join(os.path.expanduser("~"), ".ssh", "known_hosts"))

    def _make_connection(self):  # type: ignore[no-untyped-def]
        import paramiko
        from fabric import Config as FabricConfig
        from fabric import Connection

        if self.cfg.ssh_config == "none":
            sshcfg = paramiko.SSHConfig()
        else:
            path = self.cfg.ssh_config or os.path.join(os.path.expanduser("~"), ".ssh", "config")
            try:
                sshcfg = paramiko.SSHConfig.from_path(path) if os.path.isfile(path) else paramiko.SSHConfig()
            except (paramiko.ssh_exception.ConfigParseError, OSError, UnicodeDecodeError) as exc:
                from sockdeploy.errors import ConfigError

                raise ConfigError(f"cannot read the ssh config: {exc}",
                                  "fix that line, or set server.ssh_config: none in hosts.yaml to ignore the file",
                                  where=path) from None
        # lazy: read no Fabric/Invoke config files; explicit ssh_config: no other ssh files.
        fcfg = FabricConfig(ssh_config=sshcfg, lazy=True)
        conn = Connection(self.cfg.host, user=self.cfg.user, port=self.cfg.port, config=fcfg,
                          connect_timeout=CONNECT_TIMEOUT, connect_kwargs={})
        # ssh config's IdentityFile entries arrive through Fabric's connect_kwargs.
        from_ssh_config = conn.connect_kwargs.get("key_filename") or []
        if isinstance(from_ssh_config, str):
            from_ssh_config = [from_ssh_config]
        if self.cfg.identity:
            self.identities = [self.cfg.identity]
        else:
            home_ssh = os.path.join(os.path.expanduser("~"), ".ssh")
            self.identities = [os.path.expanduser(p) for p in from_ssh_config] + [
                os.path.join(home_ssh, n) for n in DEFAULT_IDENTITIES]
        self.identities = [p for p in dict.fromkeys(self.identities) if os.path.isfile(p)]
        # paramiko's own login would fall back to reading answers from stdin for
        # 2FA; sockdeploy authenticates itself, after the host key check.
        conn.connect_kwargs = {"allow_agent": False, "look_for_keys": False,
                               "banner_timeout": CONNECT_TIMEOUT, "auth_timeout": 60}
        client = conn.client
        # Fabric accepts unknown keys silently by default; replace that policy.
        client.set_missing_host_key_policy(_HostKeyPolicy(self))
        gateway = getattr(conn, "gateway", None)
        if gateway is not None and hasattr(gateway, "client"):  # ProxyJump: the jump host is checked too
            gateway.client.set_missing_host_key_policy(_HostKeyPolicy(self))
            if self._known_hosts_path().is_file():
                gateway.client.load_host_keys(str(self._known_hosts_path()))
        kh = self._known_hosts_path()
        if kh.is_file():
            try:
                client.load_host_keys(str(kh))
            except (OSError, UnicodeDecodeError) as exc:
                raise HostKeyError(f"cannot read known_hosts: {exc}", "check the file's permissions", where=str(kh)) from None
        if not self.cfg.known_hosts and os.path.isfile("/etc/ssh/ssh_known_hosts"):
            try:
                client.load_system_host_keys("/etc/ssh/ssh_known_hosts")
            except OSError:
                pass
        return conn

    def open(self, login: bool = True) -> None:
        """Connect and authenticate once; the host key is checked before any credential is sent.

        `login=False` stops after the host key check (nothing is sent): `sockdeploy init` uses
        it to learn and store the key before the doctor, which never stores one.
        """
        import paramiko

        conn = self._make_connection()
        self._conn = conn
        target = f"{conn.user}@{conn.host}:{conn.port}"
        try:
            try:
                conn.open()
            except paramiko.SSHException as exc:
                # Expected: no login method was given to paramiko (see _make_connection).
                if "No authentication methods available" not in str(exc):
                    raise
            transport = conn.client.get_transport()
            if transport is None or not transport.is_active():
                raise ConnectError(f"the SSH connection to {target} closed during the handshake", "check the host and port")
            if login:
                self._authenticate(transport, conn.user, target)
        except HostKeyError:
            self.close()
            raise
        except paramiko.BadHostKeyException as exc:
            self.close()
            name = known_hosts_name(conn.host, conn.port)
            entry = self._find_entry(name)
            raise HostKeyError(
                f"HOST KEY CHANGED for {name}: it offered {exc.key.get_name()} {fingerprint(exc.key)}, "
                f"which differs from the known key{(' at ' + entry) if entry else ''}; refusing to connect (this can be an attack)",
                f"if the host was really reinstalled, check the new fingerprint with its admins, then remove the old entry: "
                f"ssh-keygen -R {shlex.quote(name)} -f {shlex.quote(str(self._known_hosts_path()))}",
            ) from None
        except AuthError:
            self.close()
            raise
        except paramiko.AuthenticationException as exc:
            self.close()
            raise AuthError(f"authentication to {target} failed: {exc}",
                            "check server.user and server.identity in hosts.yaml, or load your key with ssh-add") from None
        except paramiko.SSHException as exc:
            self.close()
            raise ConnectError(f"SSH negotiation with {target} failed: {exc}", "check that the host runs an SSH server on that port") from None
        except socket.gaierror as exc:
            self.close()
            raise ConnectError(f"cannot resolve host name {conn.host!r}: {exc.strerror}", "check server.host in hosts.yaml and your network") from None
        except (socket.timeout, TimeoutError):
            self.close()
            raise ConnectError(f"connecting to {target} timed out after {CONNECT_TIMEOUT} s",
                               "check that you are online and that the host and port are right") from None
        except OSError as exc:
            self.close()
            raise ConnectError(f"cannot connect to {target}: {exc.strerror or exc}",
                               "check server.host and server.port, and that an SSH server is running there") from None
        transport = conn.client.get_transport()
        assert transport is not None
        self._transport = transport
        if isinstance(transport.sock, socket.socket):
            # As OpenSSH does: without it Nagle holds each small request (a channel open,
            # a heartbeat) until the previous one is acknowledged, 40 ms at a time.
            try:
                transport.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
        # Fabric's own view (its connect() never returned, see above): without it Fabric would
        # log in again for a ThreadingGroup, and conn.close() would leave the connection open.
        conn.transport = transport
        _install_direct_delivery(transport)
        self._start_keepalive(transport)
        self.strict_kex = bool(getattr(transport, "agreed_on_strict_kex", False))
        log.info("connected to %s; strict key exchange (Terrapin fix): %s", target, "yes" if self.strict_kex else "no")
        self.name = conn.original_host
        self.hostname = conn.host  # after ssh-config HostName: a name the client can resolve
        self.login = target
        self.peer_ip = _peer_ip(transport)

    # -- authentication -------------------------------------------------------
    def _keys(self):  # type: ignore[no-untyped-def]
        """Yield (key, label): the agent's keys first, then identity files, as OpenSSH orders them."""
        import paramiko

        if self.cfg.agent and os.environ.get("SSH_AUTH_SOCK"):
            try:
                for i, key in enumerate(paramiko.Agent().get_keys()):
                    yield key, f"agent key {i + 1}"
            except paramiko.SSHException:
                pass
        for path in self.identities:
            try:
                key = paramiko.PKey.from_path(path)
            except (paramiko.PasswordRequiredException, TypeError):
                # paramiko lets cryptography's TypeError through for encrypted OpenSSH keys
                key = self._unlock(path)
            except (paramiko.SSHException, OSError, ValueError) as exc:
                self.skipped.append(f"{path} ({exc})")
                continue
            if key is not None:
                yield key, path

    def _unlock(self, path: str):  # type: ignore[no-untyped-def]
        """Ask once for a key's passphrase; None if there is no terminal or it is wrong."""
        import paramiko

        if self.prompt is None:
            self.skipped.append(f"{path} (needs its passphrase; no terminal to ask)")
            return None
        passphrase = self.prompt(f"Enter passphrase for key '{path}': ", False)
        try:
            return paramiko.PKey.from_path(path, passphrase.encode())
        except (paramiko.SSHException, TypeError, ValueError):
            self.skipped.append(f"{path} (wrong passphrase)")
            return None

    def _authenticate(self, transport, user: str, target: str) -> None:  # type: ignore[no-untyped-def]
        """Log in once: public keys, then keyboard-interactive or password answers relayed to the person."""
        import paramiko

        self.skipped: list = []
        tried: list = []
        allowed: Optional[list] = None
        for key, label in self._keys():
            if allowed is not None and "publickey" not in allowed:
                break
            tried.append(label)
            try:
                remaining = transport.auth_publickey(user, key)
            except paramiko.BadAuthenticationType as exc:
                allowed = list(exc.allowed_types)
                break
            except paramiko.AuthenticationException:
                continue
            if transport.is_authenticated():
                return
            allowed = list(remaining)  # partial success: a second factor follows
        if allowed is None:  # every key failed (or none): ask the server what it accepts
            try:
                transport.auth_none(user)
                if transport.is_authenticated():
                    return
            except paramiko.BadAuthenticationType as exc:
                allowed = list(exc.allowed_types)
        allowed = allowed or []
        while not transport.is_authenticated():
            if "keyboard-interactive" in allowed:
                method = "keyboard-interactive"
            elif "password" in allowed:
                method = "password"
            else:
                keys = ", ".join(tried) or "none found"
                extra = f"; skipped: {'; '.join(self.skipped)}" if self.skipped else ""
                raise AuthError(f"authentication to {target} failed: no key was accepted (tried: {keys}{extra}); "
                                f"the server accepts: {', '.join(allowed) or 'nothing more'}",
                                "check server.user and server.identity in hosts.yaml, add your key with ssh-copy-id, or load it with ssh-add")
            if self.prompt is None:
                raise AuthError(f"{target} asks for {method} answers (a password or a one-time code such as 2FA) and there is no terminal to ask them on",
                                "run sockdeploy from a terminal, or log in with a key (ssh-copy-id) so nothing needs typing")
            try:
                if method == "keyboard-interactive":
                    allowed = list(transport.auth_interactive(user, self._relay))
                else:
                    allowed = list(transport.auth_password(user, self.prompt(f"{user}@{self.cfg.host}'s password: ", False)))
            except paramiko.BadAuthenticationType as exc:
                allowed = [m for m in exc.allowed_types if m != method]
            except paramiko.AuthenticationException:
                raise AuthError(f"{target} did not accept the answers to its {method} prompts",
                                "check them and run again (answers are asked once per run and never stored)") from None

    def _relay(self, title: str, instructions: str, prompts) -> list:  # type: ignore[no-untyped-def]
        """Show the server's own prompt texts to the person and return their answers unchanged."""
        assert self.prompt is not None
        header = "\n".join(t for t in (title, instructions) if t)
        if header:
            sys.stderr.write(header + "\n")
            sys.stderr.flush()
        return [self.prompt(text, bool(echo)) for text, echo in prompts]

    def close(self) -> None:
        with self._agent_lock:
            idle, self._agents = self._agents, []
            self._agent_count -= len(idle)
        for a in idle:
            a.close()
        conn, self._conn, self._transport = self._conn, None, None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # closing a dead connection must not mask the real error
                pass

    def _start_keepalive(self, transport) -> None:  # type: ignore[no-untyped-def]
        """Ask the server for a reply every few seconds; close the link if none comes.

        paramiko's own keepalive expects no reply, so a dead link would only be
        noticed when TCP gives up, many minutes later.
        """
        import threading

        self.dead_reason: Optional[str] = None

        def ping(done: threading.Event) -> None:
            try:
                transport.global_request("keepalive@openssh.com", wait=True)
            except Exception:
                pass
            done.set()

        def watch() -> None:
            while transport.is_active():
                time.sleep(KEEPALIVE_SECONDS)
                if not transport.is_active():
                    return
                done = threading.Event()
                threading.Thread(target=ping, args=(done,), daemon=True).start()
                if not done.wait(KEEPALIVE_TIMEOUT):
                    self.dead_reason = f"no answer to keepalives for {KEEPALIVE_TIMEOUT + KEEPALIVE_SECONDS} s"
                    log.info("SSH connection to %s is dead: %s", self.cfg.host, self.dead_reason)
                    transport.close()
                    return

        threading.Thread(target=watch, name="sockdeploy-keepalive", daemon=True).start()

    @property
    def transport(self):  # type: ignore[no-untyped-def]
        if self._transport is None or not self._transport.is_active():
            why = f" ({self.dead_reason})" if getattr(self, "dead_reason", None) else ""
            raise ConnectError(f"the SSH connection to {self.cfg.host} was lost{why}", "check your network and run again")
        return self._transport

    @property
    def alive(self) -> bool:
        return self._transport is not None and self._transport.is_active()

    # -- host keys ------------------------------------------------------------
    def _find_entry(self, name: str) -> Optional[str]:
        """Return 'FILE:LINE' of the known_hosts entry for `name`, if any."""
        import paramiko

        path = self._known_hosts_path()
        try:
            lines = path.read_text(errors="replace").splitlines()
        except OSError:
            return None
        for no, line in enumerate(lines, 1):
            try:
                entry = paramiko.hostkeys.HostKeyEntry.from_line(line, no)
            except Exception:
                continue
            if entry is None:
                continue
            for h in entry.hostnames:
                if h == name or (h.startswith("|1|") and paramiko.HostKeys.hash_host(name, h) == h):
                    return f"{path}:{no}"
        return None

    def _store_key(self, name: str, key) -> None:  # type: ignore[no-untyped-def]
        import paramiko

        path = self._known_hosts_path()
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        line = paramiko.hostkeys.HostKeyEntry([name], key).to_line()
        fd = os.open(str(path), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "a") as fh:
            fh.write(line)
        log.info("stored host key for %s in %s", name, path)

    def _open(self, transport, kind: str = "session", *args: Any, **kwargs: Any):  # type: ignore[no-untyped-def]
        """Open a channel, one at a time per connection.

        Paramiko keeps a refused open's reason in one slot per connection; two
        opens at once (parallel runs) could take each other's reason and report
        "Unable to open channel." instead.
        """
        with self._open_lock:
            return transport.open_channel(kind, *args, timeout=CONNECT_TIMEOUT, **kwargs)

    # -- forwarding -------------------------------------------------------------
    def open_forward(self, host: str, port: int, origin: Tuple[str, int] = ("127.0.0.1", 0)):  # type: ignore[no-untyped-def]
        """Open a direct-tcpip channel: the server host connects to host:port for us (ssh -L)."""
        return _open_forward(self, host, port, origin)

    def check_forwarding(self) -> None:
        """Raise ForwardingForbidden if sshd refuses local forwards; any other answer means allowed."""
        try:
            chan = self.open_forward("127.0.0.1", 1)  # port 1 is never served: sshd answers before any data flows
        except ForwardConnectFailed:
            return
        chan.close()

    def listen_remote(self, port: int, handler: Callable[[Any, Tuple[str, int]], None]) -> int:
        """Have the host listen on its loopback `port` (0: any) for us, like `ssh -R`; return the port.

        `handler(channel, origin)` gets each connection, on paramiko's thread:
        it must hand the work to a thread of its own.
        """
        import paramiko

        def accepted(chan, origin, _server):  # type: ignore[no-untyped-def]
            handler(chan, (str(origin[0]), int(origin[1])))

        try:
            # 127.0.0.1 exactly: with "localhost" sshd reports success when only one of
            # 127.0.0.1 and ::1 could be bound, and the client might reach something else
            return int(self.transport.request_port_forward("127.0.0.1", port, handler=accepted))
        except paramiko.SSHException as exc:
            raise ForwardingForbidden(f"{self.cfg.host} refused to listen on 127.0.0.1:{port} for the tunnel: {exc}",
                                      "the port may be busy there, or its sshd forbids forwarding (AllowTcpForwarding)") from None

    def stop_listening(self, port: int) -> None:
        """Undo listen_remote; quietly, since the connection may be gone already."""
        try:
            self.transport.cancel_port_forward("127.0.0.1", port)
        except Exception:
            pass

    def start_stream(self, script: str):  # type: ignore[no-untyped-def]
        """Run `script` on its own channel and hand back the channel (stdin/stdout as a byte stream)."""
        import paramiko

        try:
            chan = self._open(self.transport)
            chan.exec_command(wrap_script(script))
        except (paramiko.SSHException, EOFError, OSError) as exc:
            raise ConnectError(f"cannot open a channel to {self.cfg.host}: {exc}", "check your network and run again") from None
        return chan

    def start_lifeline(self, script: str, interval: float = 5.0, ready: Optional[bytes] = None) -> Lifeline:
        """Run `script` on a channel kept open with heartbeats; closing or losing it ends the script.

        The channel opens in the background (off the critical path); Lifeline.ensure()
        waits for it and, with `ready`, until the script has printed that line.
        """
        transport = self.transport
        host = self.cfg.host

        def opener():  # type: ignore[no-untyped-def]
            import paramiko

            try:
                chan = self._open(transport)
                chan.exec_command(wrap_script(script))
                chan.sendall(b".")
            except (paramiko.SSHException, EOFError, OSError) as exc:
                raise ConnectError(f"cannot open the watchdog channel to {host}: {exc}", "check your network and run again") from None
            return chan

        return Lifeline(opener, interval, ready)

    # -- running things -------------------------------------------------------
    def run(self, script: str, *, stdin: Optional[bytes] = None, timeout: Optional[float] = None) -> CommandResult:
        """Run a POSIX sh script on the server host over this connection.

        Through an idle remote agent when there is one (one round trip), else on a channel of its own.
        """
        from sockdeploy.ssh import helper as agent_mod

        helper = self._borrow_agent()
        if helper is not None:
            try:
                return helper.run("umask 077\n" + script, stdin, timeout)
            except agent_mod.AgentUnavailable:
                with self._agent_lock:
                    self._agent_off = True  # nothing ran; this host gets channels from now on
                log.info("no python3 on %s: each script runs on its own channel", self.name)
            except agent_mod.AgentLost:
                self.transport  # raises ConnectError naming why, if the connection died
                raise agent_mod.lost_error(self.name) from None
            except (OSError, EOFError) as exc:
                self.transport
                raise ConnectError(f"the SSH connection to {self.cfg.host} failed: {exc}", "check your network and run again") from None
            finally:
                self._return_agent(helper)
        return self._run_on_channel(script, stdin=stdin, timeout=timeout)

    def _borrow_agent(self):  # type: ignore[no-untyped-def]
        """Return an idle agent, a newly started one, or None (agents off, or all busy)."""
        import paramiko

        from sockdeploy.ssh import helper as agent_mod

        with self._agent_lock:
            if self._agent_off or not agent_mod.enabled():
                return None
            if self._agents:
                return self._agents.pop()
            if self._agent_count >= self.max_agents:
                return None
            self._agent_count += 1
        transport = self.transport
        try:
            chan = self._open(transport)
            helper = agent_mod.Agent(chan, transport.is_active, owner=transport)
            chan.exec_command(wrap_script(agent_mod.launcher(helper.nonce)))
        except BaseException as exc:
            with self._agent_lock:
                self._agent_count -= 1
            if isinstance(exc, (paramiko.SSHException, EOFError, OSError)):
                raise ConnectError(f"cannot open a channel to {self.cfg.host}: {exc}",
                                   "the SSH connection may have dropped; run again") from None
            raise
        return helper

    def _return_agent(self, helper) -> None:  # type: ignore[no-untyped-def]
        with self._agent_lock:
            # not one from before a reconnect (PooledSession): its channel died with its connection
            if not helper.broken and not self._agent_off and helper.owner is self._transport:
                self._agents.append(helper)
                return
            self._agent_count -= 1
        helper.close()

    def _run_on_channel(self, script: str, *, stdin: Optional[bytes] = None, timeout: Optional[float] = None) -> CommandResult:
        import paramiko

        transport = self.transport
        try:
            chan = self._open(transport)
        except (paramiko.SSHException, EOFError, OSError) as exc:
            raise ConnectError(f"cannot open a channel to {self.cfg.host}: {exc}", "the SSH connection may have dropped; run again") from None
        out, err = bytearray(), bytearray()
        try:
            chan.exec_command(wrap_script(script))
            if stdin:
                chan.sendall(stdin)
            chan.shutdown_write()
            deadline = None if timeout is None else time.monotonic() + timeout
            while True:
                while chan.recv_ready():
                    out += chan.recv(65536)
                while chan.recv_stderr_ready():
                    err += chan.recv_stderr(65536)
                if chan.exit_status_ready() and not chan.recv_ready() and not chan.recv_stderr_ready():
                    break
                if not transport.is_active():
                    self.transport  # raises ConnectError naming why
                if deadline is not None and time.monotonic() > deadline:
                    raise ScriptTimeout(CommandResult(out.decode(errors="replace"), err.decode(errors="replace"), -1))
                select.select([chan], [], [], 0.02)
            status = chan.recv_exit_status()
        except (paramiko.SSHException, EOFError, OSError) as exc:
            raise ConnectError(f"the SSH connection to {self.cfg.host} failed: {exc}", "check your network and run again") from None
        finally:
            chan.close()
        return CommandResult(out.decode(errors="replace"), err.decode(errors="replace"), status)

    # -- first-time setup ------------------------------------------------------
    def install_key(self, public_key: str) -> bool:
        """Append `public_key` to ~/.ssh/authorized_keys on the host unless it is there; return whether it was added.

        Like ssh-copy-id: ~/.ssh is created 0700 and authorized_keys 0600 (the
        umask is 077) when missing; existing ones keep their modes. The key
        travels on stdin, never on a command line.
        """
        line = public_key.strip()
        if not line or "\n" in line or len(line.split()) < 2:
            from sockdeploy.errors import UsageError

            raise UsageError(f"not a public key line: {line[:40]!r}", "a public key is one line: TYPE BASE64 [COMMENT] (the .pub file)")
        result = self.run(INSTALL_KEY_SCRIPT, stdin=(line + "\n").encode(), timeout=60)
        status = result.stdout.strip().splitlines()[-1:] or [""]
        if result.exit_status != 0 or status[0] not in ("added", "present"):
            from sockdeploy.errors import RemoteError

            raise RemoteError(f"installing the key on {self.cfg.host} failed (exit status {result.exit_status}): "
                              f"{result.stderr.strip() or result.stdout.strip() or 'no output'}",
                              "check that your home directory on the host is writable and not full, then run again")
        return status[0] == "added"


# Reads the key line from stdin; compares by key blob (the second field), so a copy with
# another comment or options counts as present. Nothing is interpolated into it.
INSTALL_KEY_SCRIPT = r"""
set -f
IFS= read -r key || [ -n "$key" ] || { echo "no key on stdin" >&2; exit 1; }
set -- $key
[ $# -ge 2 ] || { echo "not a public key line" >&2; exit 1; }
cd || exit 1
[ -d .ssh ] || mkdir -m 700 .ssh || exit 1
f=.ssh/authorized_keys
[ -e "$f" ] || : > "$f" || exit 1
if SD_BLOB="$2" awk '{ for (i = 1; i <= NF; i++) if ($i == ENVIRON["SD_BLOB"]) found = 1 } END { exit !found }' "$f"; then
  echo present
  exit 0
fi
# a last line without its newline would be glued to the new key
if [ -s "$f" ] && [ -n "$(tail -c 1 "$f")" ]; then printf '\n' >> "$f" || exit 1; fi
printf '%s\n' "$key" >> "$f" || exit 1
echo added
"""


def install_public_key(cfg: ServerConfig, public_key: str, *, accept_new: bool = False, confirm: Optional[Confirm] = None,
                       prompt: Optional[Prompt] = None) -> bool:
    """Log in once (password or keyboard-interactive answers relayed by `prompt`) and install the key; see install_key."""
    with SshSession(cfg, accept_new=accept_new, confirm=confirm, prompt=prompt) as session:
        return session.install_key(public_key)


def trust_host_key(cfg: ServerConfig, *, accept_new: bool = False, confirm: Optional[Confirm] = None) -> None:
    """Check the host key against known_hosts and store an unknown one if allowed; send no credential."""
    session = SshSession(cfg, accept_new=accept_new, confirm=confirm, prompt=None)
    try:
        session.open(login=False)
    finally:
        session.close()


def run_on_hosts(sessions: Sequence[SshSession], script: str, *, timeout: float = 60) -> List[Union[CommandResult, ConnectError]]:
    """Run one POSIX sh script on several open sessions at once (Fabric's ThreadingGroup); one result per session.

    Each session must be open and reach a different host; a session that fails
    gives a ConnectError in its place instead of stopping the others.
    """
    from fabric import ThreadingGroup
    from fabric.exceptions import GroupException

    conns = [s._conn for s in sessions]
    if any(c is None or not s.alive for s, c in zip(sessions, conns)) or len(set(conns)) < len(conns):
        # a closed session, or two on one host (Fabric keys its results by user@host:port): one at a time
        return [_run_one(s, script, timeout) for s in sessions]
    group = ThreadingGroup.from_connections(conns)
    try:
        results = group.run(wrap_script(script), hide=True, warn=True, in_stream=False, timeout=timeout)
    except GroupException as exc:
        results = exc.result
    out: List[Union[CommandResult, ConnectError]] = []
    for session, conn in zip(sessions, conns):
        result = results.get(conn)
        if result is None or isinstance(result, BaseException):
            out.append(ConnectError(f"running a check on {session.name} failed: {result or 'no result'}",
                                    "check your network and the host, then run again"))
        else:
            out.append(CommandResult(result.stdout, result.stderr, result.exited))
    return out


def _run_one(session: SshSession, script: str, timeout: float) -> Union[CommandResult, ConnectError]:
    try:
        return session.run(script, timeout=timeout)
    except ConnectError as exc:
        return exc
    except ScriptTimeout:
        return ConnectError(f"a check on {session.name} did not finish within {timeout:g} s", "check the host's load")


def _await_line(chan, line: bytes, timeout: float) -> None:  # type: ignore[no-untyped-def]
    """Read from `chan` until `line` arrives on a line of its own (after whatever the login shell printed)."""
    seen = b"\n"
    deadline = time.monotonic() + timeout
    while b"\n" + line + b"\n" not in seen:
        if chan.recv_ready():
            data = chan.recv(4096)
            if not data:
                raise EOFError("the script ended before it was ready")
            seen = seen[-4096:] + data
        elif chan.exit_status_ready() or chan.closed:
            raise EOFError(f"the script ended before it was ready (exit status {chan.recv_exit_status()})")
        elif time.monotonic() > deadline:
            raise EOFError("the script did not get ready in time")
        else:
            select.select([chan], [], [], 0.5)


class Lifeline:
    """A channel that sends a heartbeat byte every few seconds until closed."""

    def __init__(self, opener: Callable[[], Any], interval: float, ready_line: Optional[bytes] = None) -> None:
        """`opener` opens the channel (on the heartbeat thread) and raises ConnectError if it cannot;
        `ready_line` is what the script prints once it is in place (see settle())."""
        self._chan: Any = None
        self._error: Optional[ConnectError] = None
        self._ready = threading.Event()
        self._settled = threading.Event()
        self._ready_line = ready_line
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, args=(opener, interval), name="sockdeploy-lifeline", daemon=True)
        self._thread.start()

    def settle(self, timeout: float = CONNECT_TIMEOUT + 5) -> None:
        """Wait until the script has printed its ready line (or ended, or failed to start)."""
        self._settled.wait(timeout)

    def ensure(self, timeout: float = CONNECT_TIMEOUT + 5) -> None:
        """Wait until the remote side runs; raise the ConnectError that kept it from starting."""
        if not self._ready.wait(timeout):
            raise ConnectError("the watchdog channel did not open in time", "check your network and run again")
        if self._error is not None:
            raise self._error

    def _beat(self, opener: Callable[[], Any], interval: float) -> None:
        try:
            try:
                self._chan = opener()
            except ConnectError as exc:
                self._error = exc
                return
            except Exception as exc:  # any other failure still counts as "no watchdog"
                self._error = ConnectError(f"cannot open the watchdog channel: {exc}", "check your network and run again")
                return
            finally:
                self._ready.set()
            if self._ready_line is not None:
                try:
                    _await_line(self._chan, self._ready_line, CONNECT_TIMEOUT)
                except Exception:  # it ended or the link went: nothing of it left to wait for
                    pass
        finally:
            self._settled.set()
        while not self._stop.wait(interval):
            try:
                self._chan.sendall(b".")
            except Exception:  # the connection is gone; the remote side acts on the silence
                return

    def close(self, wait: float = 5.0) -> None:
        """Say goodbye ("q") and wait up to `wait` s for the remote side to end.

        Waiting means that when sockdeploy exits, nothing of the run is still
        running on the server host.
        """
        self._stop.set()
        self._ready.wait(CONNECT_TIMEOUT)
        self._thread.join(timeout=1.0)
        if self._chan is None:
            return
        try:
            self._chan.sendall(b"q")
            self._chan.shutdown_write()
            deadline = time.monotonic() + wait
            while not self._chan.exit_status_ready() and time.monotonic() < deadline:
                if self._chan.closed or not self._chan.get_transport().is_active():
                    break
                time.sleep(0.02)
        except Exception:
            pass
        finally:
            try:
                self._chan.close()
            except Exception:
                pass


# -- forwarded data straight to its local socket -------------------------------------
#
# Paramiko's transport thread puts each channel's data into a buffer that another
# thread reads, a thread hand-off per message that costs about as much as the
# loopback round trip itself. For a tunnel's connections, the transport thread
# instead writes the data into the local socket itself when the socket takes it at
# once; what it does not take waits for the connection's own thread, and so does the
# channel window's acknowledgement, so a slow local reader still throttles the sender.

def _install_direct_delivery(transport) -> None:  # type: ignore[no-untyped-def]
    """Route channel data of channels with a sink to it, on this transport only."""
    from paramiko.common import MSG_CHANNEL_CLOSE, MSG_CHANNEL_DATA, MSG_CHANNEL_EOF

    base = getattr(type(transport), "_channel_handler_table", None)
    if not isinstance(base, dict) or not {MSG_CHANNEL_DATA, MSG_CHANNEL_EOF, MSG_CHANNEL_CLOSE} <= set(base):
        return  # a paramiko without this table: tunnels keep the buffered path
    table = dict(base)
    on_data, on_eof, on_close = base[MSG_CHANNEL_DATA], base[MSG_CHANNEL_EOF], base[MSG_CHANNEL_CLOSE]

    def data(chan, m):  # type: ignore[no-untyped-def]
        sink = getattr(chan, "_sd_sink", None)
        if sink is None:
            on_data(chan, m)
            sink = getattr(chan, "_sd_sink", None)
            if sink is not None:  # attached meanwhile: it must deliver that buffer before anything newer
                sink.reclaim()
            return
        sink.feed(m.get_binary())

    def wake_after(handler):  # type: ignore[no-untyped-def]
        def handle(chan, m):  # type: ignore[no-untyped-def]
            handler(chan, m)
            sink = getattr(chan, "_sd_sink", None)
            if sink is not None:
                sink.wake()
        return handle

    table[MSG_CHANNEL_DATA] = data
    table[MSG_CHANNEL_EOF] = wake_after(on_eof)
    table[MSG_CHANNEL_CLOSE] = wake_after(on_close)
    transport._channel_handler_table = table  # an instance attribute: other transports are untouched
    transport._sd_direct = True


class DirectSink:
    """A forwarded channel's data, delivered into a local socket (see _install_direct_delivery)."""

    def __init__(self, chan, sock: socket.socket) -> None:  # type: ignore[no-untyped-def]
        self.chan, self.sock = chan, sock
        self._cv = threading.Condition()
        self._backlog = bytearray()
        self._busy = True  # the connection's thread delivers until it has emptied the channel's own buffer
        self._acks = 0  # window to grant, left by the transport thread during a key exchange
        self._failed = False
        self.backlogged = 0  # bytes the socket did not take at once (they waited for run())

    def feed(self, data: bytes) -> None:
        """On the transport thread: send now if the socket takes it, else leave it for run()."""
        sent = 0
        with self._cv:
            if self._busy or self._backlog or self._failed:
                self._backlog += data
                self.backlogged += len(data)
                self._cv.notify()
                return
            try:
                sent = self.sock.send(data, socket.MSG_DONTWAIT)
            except BlockingIOError:
                sent = 0
            except OSError:
                self._failed = True
                self._cv.notify()
                return
            if sent < len(data):
                self._backlog += data[sent:]
                self.backlogged += len(data) - sent
                self._cv.notify()
        if sent:
            self._grant(sent, on_transport_thread=True)

    def wake(self) -> None:
        with self._cv:
            self._cv.notify()

    def _grant(self, n: int, on_transport_thread: bool = False) -> None:
        """Acknowledge `n` delivered bytes: widen the sender's window when paramiko says it is time."""
        ack = self.chan._check_add_window(n)
        if ack <= 0:
            return
        if on_transport_thread and not self.chan.transport.clear_to_send.is_set():
            with self._cv:  # mid key exchange: the connection's thread may wait for it, this one may not
                self._acks += ack
                self._cv.notify()
            return
        self._send_ack(ack)

    def run(self, stop: threading.Event, chunk: int) -> None:
        """On the connection's thread: deliver what feed() could not, then pass end of file on."""
        self.chan._sd_sink = self
        try:
            while not stop.is_set():
                with self._cv:
                    # data the channel buffered itself (before the sink was attached) goes first
                    buffered = self.chan.recv_ready()
                    if not (buffered or self._backlog or self._acks or self._failed):
                        self._busy = False
                        if self.chan.eof_received or self.chan.closed:
                            self.sock.shutdown(socket.SHUT_WR)  # the peer sees end-of-file, as the studio's server expects
                            return
                        self._cv.wait(0.5)
                        continue
                    self._busy = True
                    data, acks, failed = b"", self._acks, self._failed
                    self._acks = 0
                    if not buffered:
                        data = bytes(self._backlog)
                        self._backlog.clear()
                if failed:
                    raise OSError("the local socket failed")
                if acks:
                    self._send_ack(acks)
                if buffered:
                    self.sock.sendall(self.chan.recv(chunk))  # recv acknowledges the window itself
                elif data:
                    self.sock.sendall(data)
                    self._grant(len(data))
        finally:
            self.chan._sd_sink = None

    def reclaim(self) -> None:
        """On the transport thread: data went to the channel's own buffer just as the sink was attached."""
        with self._cv:
            self._busy = True  # so later data queues behind it instead of overtaking it
            self._cv.notify()

    def _send_ack(self, ack: int) -> None:
        from paramiko.common import cMSG_CHANNEL_WINDOW_ADJUST
        from paramiko.message import Message

        m = Message()
        m.add_byte(cMSG_CHANNEL_WINDOW_ADJUST)
        m.add_int(self.chan.remote_chanid)
        m.add_int(ack)
        self.chan.transport._send_user_message(m)


def direct_sink(chan, sock: object) -> Optional[DirectSink]:  # type: ignore[no-untyped-def]
    """Return a DirectSink for a forwarded channel and a local socket, or None where it does not apply."""
    transport = getattr(chan, "transport", None)
    if not isinstance(sock, socket.socket) or not getattr(transport, "_sd_direct", False):
        return None
    return DirectSink(chan, sock)


def _open_forward(session: SshSession, host: str, port: int, origin: Tuple[str, int]):  # type: ignore[no-untyped-def]
    import paramiko

    transport = session.transport
    try:
        # A large window keeps bulk transfers from stalling on paramiko's small default.
        return session._open(transport, "direct-tcpip", (host, port), origin, window_size=4 * 1024 * 1024,
                             max_packet_size=32768)
    except paramiko.ChannelException as exc:
        if exc.code == 1:  # SSH_OPEN_ADMINISTRATIVELY_PROHIBITED
            raise ForwardingForbidden(
                f"the SSH server on {session.cfg.host} forbids port forwarding (sshd AllowTcpForwarding no), so no tunnel is possible",
                "use the VPN (--via vpn) or run from campus (--via direct)") from None
        raise ForwardConnectFailed(f"{session.cfg.host} could not connect to {host}:{port} for the tunnel: {exc.text}",
                                   "check that the server listens on all addresses (INADDR_ANY), not only its public one") from None
    except (paramiko.SSHException, EOFError, OSError) as exc:
        raise ConnectError(f"the SSH connection to {session.cfg.host} failed while opening a tunnel channel: {exc}",
                           "check your network and run again") from None


class _HostKeyPolicy:
    """Unknown keys: store with --accept-new, ask on a terminal, else refuse (like StrictHostKeyChecking=ask)."""

    def __init__(self, session: SshSession) -> None:
        self.session = session

    def missing_host_key(self, client, hostname: str, key) -> None:  # type: ignore[no-untyped-def]
        fp = fingerprint(key)
        what = f"{key.get_name()} key {fp}"
        s = self.session
        if s.accept_new:
            s._store_key(hostname, key)
            return
        if s.confirm is not None:
            question = (f"The authenticity of host {hostname} can't be established.\n"
                        f"Its {what}.\nTrust it and store it in {s._known_hosts_path()}? [yes/no] ")
            if s.confirm(question):
                s._store_key(hostname, key)
                return
            raise HostKeyError(f"host key for {hostname} not trusted ({what})", "compare the fingerprint with the one your course publishes, then answer yes")
        raise HostKeyError(
            f"unknown host key for {hostname}: {what}",
            "check this fingerprint with your course staff, then run once with --accept-new (or from a terminal) to store it",
        )


def _peer_ip(transport) -> Optional[str]:  # type: ignore[no-untyped-def]
    sock = getattr(transport, "sock", None)
    if isinstance(sock, socket.socket):
        try:
            return str(sock.getpeername()[0])
        except OSError:
            return None
    return None


_prompted = False


def _end_progress_line() -> None:
    # the "connect" progress step is mid-line on a terminal; the first prompt starts a new line
    global _prompted
    if sys.stderr.isatty() and not _prompted:
        sys.stderr.write("\n")
    _prompted = True


def terminal_confirm(question: str) -> bool:
    """Ask on the controlling terminal; anything but yes is no."""
    _end_progress_line()
    sys.stderr.write(question)
    sys.stderr.flush()
    answer = sys.stdin.readline().strip().lower()
    return answer in ("y", "yes")


def terminal_prompt(prompt: str, echo: bool) -> str:
    """Ask on the terminal; secrets are read with echo off and never stored."""
    _end_progress_line()
    if not echo:
        return getpass.getpass(prompt)
    sys.stderr.write(prompt)
    sys.stderr.flush()
    return sys.stdin.readline().rstrip("\n")
