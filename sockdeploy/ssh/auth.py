"""Logging in: keys from ssh-agent and identity files, then keyboard-interactive or password answers relayed to the person.

sockdeploy authenticates itself instead of letting paramiko do it: paramiko's own
login would read 2FA answers from stdin, and would send credentials before the
host key check is done.
"""

from __future__ import annotations

import base64
import os
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, Iterator, List, Optional, Sequence, Set, Tuple

from sockdeploy.errors import AuthError
from sockdeploy.spec.hosts import ServerConfig
from sockdeploy.ssh.hostkeys import fingerprint
from sockdeploy.ssh.terminal import Prompt

if TYPE_CHECKING:
    import paramiko

KEY_HINT = "check server.user and server.identity in hosts.yaml, add your key with ssh-copy-id, or load it with ssh-add"


def identity_files(cfg: ServerConfig, configured: Sequence[str]) -> List[str]:
    """Return the identity files to offer, in order, that exist: hosts.yaml's one alone, else OpenSSH's
    (`configured` is ssh -G's IdentityFile list: the config's files, or OpenSSH's defaults)."""
    paths = [cfg.identity] if cfg.identity else [os.path.expanduser(p) for p in configured]
    return [p for p in dict.fromkeys(paths) if os.path.isfile(p)]


def agent_socket(cfg: ServerConfig, identity_agent: Optional[str]) -> Optional[str]:
    """The ssh-agent socket to ask for keys: none with hosts.yaml's `agent: false` or `IdentityAgent none`."""
    if not cfg.agent or identity_agent == "none":
        return None
    if identity_agent is None:
        return os.environ.get("SSH_AUTH_SOCK") or None
    if identity_agent.startswith("$"):
        return os.environ.get(identity_agent[1:]) or None
    return identity_agent


class Authenticator:
    """One login: public keys first (as OpenSSH orders them), then the answers the server asks for."""

    def __init__(self, cfg: ServerConfig, identities: Sequence[str], prompt: Optional[Prompt],
                 identities_only: bool = False, identity_agent: Optional[str] = None) -> None:
        """`prompt` asks the person at the terminal; None means there is none.

        With `identities_only` (ssh config's IdentitiesOnly), agent keys are offered only for
        the identity files, as OpenSSH does. `identity_agent` is ssh config's IdentityAgent.
        """
        self.cfg = cfg
        self.identities = list(identities)
        self.prompt = prompt
        self.identities_only = identities_only
        self.identity_agent = identity_agent
        self._agent: Any = None  # paramiko's agent client, while the login runs
        self.skipped: List[str] = []  # identity files not offered, with the reason
        self.tried: List[str] = []  # keys offered
        self.used: Optional[str] = None  # how the login succeeded: method, and the key's label and fingerprint

    def keys(self) -> Iterator[Tuple[paramiko.PKey, str]]:
        """Yield (key, label) in OpenSSH's order, after the identity hosts.yaml names: the identity files the
        agent holds (as the agent's keys), the agent's other keys (not with IdentitiesOnly), the other files.

        With many keys in the agent, the one hosts.yaml names is offered before
        the server's MaxAuthTries runs out.
        """
        held = self._agent_keys()
        agent = {key.asbytes(): key for key, _ in held}
        offered: Set[bytes] = set()
        named = [p for p in self.identities if self.cfg.identity and p == self.cfg.identity]
        rest = [p for p in self.identities if p not in named]
        yield from self._files(named, agent, offered)
        yield from self._files([p for p in rest if _public_blob(p) in agent], agent, offered)
        if not self.identities_only:
            for key, label in held:
                if key.asbytes() not in offered:
                    offered.add(key.asbytes())
                    yield key, label
        yield from self._files(rest, agent, offered)

    def _agent_keys(self) -> List[Tuple[paramiko.PKey, str]]:
        """The agent's keys, labelled; none when there is no agent to ask or it does not answer."""
        import paramiko

        path = agent_socket(self.cfg, self.identity_agent)
        if path is None:
            return []
        try:
            # paramiko.Agent asks $SSH_AUTH_SOCK's agent; IdentityAgent may name another
            self._agent = paramiko.Agent() if path == os.environ.get("SSH_AUTH_SOCK") else _open_agent(path)
            return [(key, f"agent key {i + 1}") for i, key in enumerate(self._agent.get_keys())]
        except (paramiko.SSHException, OSError):
            return []

    def close(self) -> None:
        """Let go of the agent connection (the login is over)."""
        agent, self._agent = self._agent, None
        if agent is not None:
            agent._close()

    def _files(self, paths: Sequence[str], agent: Dict[bytes, paramiko.PKey],
               offered: Set[bytes]) -> Iterator[Tuple[paramiko.PKey, str]]:
        """Yield each file's key once: the agent's copy when it holds it (no passphrase needed), else the file."""
        import paramiko

        for path in paths:
            blob = _public_blob(path)
            if blob is not None and blob in offered:
                continue
            if blob is not None and blob in agent:
                offered.add(blob)
                yield agent[blob], f"{path} (from the agent)"
                continue
            too_open = _too_open(path)
            if too_open:
                self.skipped.append(f"{path} ({too_open})")
                continue
            try:
                found: Optional[paramiko.PKey] = paramiko.PKey.from_path(path)
            except (paramiko.PasswordRequiredException, TypeError):
                # paramiko lets cryptography's TypeError through for encrypted OpenSSH keys
                found = self._unlock(path)
            except (paramiko.SSHException, OSError, ValueError) as exc:
                self.skipped.append(f"{path} ({exc})")
                continue
            if found is not None and found.asbytes() not in offered:
                offered.add(found.asbytes())
                yield found, path

    def _unlock(self, path: str) -> Optional[paramiko.PKey]:
        """Ask once for a key's passphrase; None if there is no terminal or it is wrong."""
        import paramiko

        if self.prompt is None:
            self.skipped.append(f"{path} (needs its passphrase; no terminal to ask)")
            return None
        passphrase = self.prompt(f"Enter passphrase for key '{path}': ", False)
        try:
            # paramiko takes bytes (types-paramiko says str only)
            return paramiko.PKey.from_path(path, passphrase.encode())  # type: ignore[arg-type]
        except (paramiko.SSHException, TypeError, ValueError):
            self.skipped.append(f"{path} (wrong passphrase)")
            return None

    def login(self, transport: paramiko.Transport, user: str, target: str) -> None:
        """Authenticate `user` on `transport`; raise AuthError naming what was tried."""
        try:
            self._login(transport, user, target)
        finally:
            self.close()

    def _login(self, transport: paramiko.Transport, user: str, target: str) -> None:
        allowed = self._offer_keys(transport, user)
        if transport.is_authenticated():
            return
        if not transport.is_active():  # sshd hung up: MaxAuthTries ran out before the right key came
            raise AuthError(f"{target} ended the login after {len(self.tried)} keys were offered "
                            f"({', '.join(self.tried)}): too many authentication failures",
                            "offer only the right key: `identity:` in hosts.yaml, or `IdentitiesOnly yes` with "
                            "`IdentityFile` for this host in ~/.ssh/config")
        if allowed is None:  # every key failed (or none): ask the server what it accepts
            allowed = self._ask_methods(transport, user)
            if transport.is_authenticated():
                return
        self._answer(transport, user, target, allowed or [])

    def _offer_keys(self, transport: paramiko.Transport, user: str) -> Optional[List[str]]:
        """Offer each key until one is accepted; return the methods the server named (None: it named none)."""
        import paramiko

        allowed: Optional[List[str]] = None
        for key, label in self.keys():
            if allowed is not None and "publickey" not in allowed:
                break
            self.tried.append(label)
            try:
                remaining = transport.auth_publickey(user, key)
            except paramiko.BadAuthenticationType as exc:
                return list(exc.allowed_types)
            except paramiko.AuthenticationException:
                continue
            except paramiko.SSHException:
                if transport.is_active():
                    raise
                self.tried.pop()  # it never reached the server
                break  # sshd hung up (MaxAuthTries): login() says so
            if transport.is_authenticated():
                self.used = f"publickey ({label}, {key.get_name()} {fingerprint(key)})"
                return []
            self.used = f"publickey ({label}, {key.get_name()} {fingerprint(key)})"
            allowed = list(remaining)  # partial success: a second factor follows
        return allowed

    @staticmethod
    def _ask_methods(transport: paramiko.Transport, user: str) -> Optional[List[str]]:
        """Try the "none" method, which makes the server list the methods it accepts."""
        import paramiko

        try:
            transport.auth_none(user)
        except paramiko.BadAuthenticationType as exc:
            return list(exc.allowed_types)
        return None

    def _answer(self, transport: paramiko.Transport, user: str, target: str, allowed: List[str]) -> None:
        """Relay keyboard-interactive prompts or ask for the password until the server is satisfied."""
        import paramiko

        while not transport.is_authenticated():
            method = self._method(allowed, target)
            if self.prompt is None:
                raise AuthError(f"{target} asks for {method} answers (a password or a one-time code such as 2FA) "
                                "and there is no terminal to ask them on",
                                "run sockdeploy from a terminal, or log in with a key (ssh-copy-id) so nothing needs typing")
            try:
                self.used = f"{self.used} + {method}" if self.used else method
                if method == "keyboard-interactive":
                    allowed = list(transport.auth_interactive(user, self._relay))
                else:
                    allowed = list(transport.auth_password(user, self.prompt(f"{user}@{self.cfg.host}'s password: ", False)))
            except paramiko.BadAuthenticationType as exc:
                allowed = [m for m in exc.allowed_types if m != method]
            except paramiko.AuthenticationException:
                raise AuthError(f"{target} did not accept the answers to its {method} prompts",
                                "check them and run again (answers are asked once per run and never stored)") from None

    def _method(self, allowed: List[str], target: str) -> str:
        """Pick the next answer method, or raise AuthError when the server accepts none that is left."""
        for method in ("keyboard-interactive", "password"):
            if method in allowed:
                return method
        keys = ", ".join(self.tried) or "none found"
        extra = f"; skipped: {'; '.join(self.skipped)}" if self.skipped else ""
        raise AuthError(f"authentication to {target} failed: no key was accepted (tried: {keys}{extra}); "
                        f"the server accepts: {', '.join(allowed) or 'nothing more'}", KEY_HINT)

    def _relay(self, title: str, instructions: str, prompts: Sequence[Tuple[str, bool]]) -> List[str]:
        """Show the server's own prompt texts to the person and return their answers unchanged."""
        assert self.prompt is not None
        header = "\n".join(t for t in (title, instructions) if t)
        if header:
            sys.stderr.write(header + "\n")
            sys.stderr.flush()
        return [self.prompt(text, bool(echo)) for text, echo in prompts]


def _public_blob(path: str) -> Optional[bytes]:
    """The public key beside a private key file (PATH.pub), as OpenSSH reads it to match agent keys."""
    try:
        fields = Path(path + ".pub").read_text().split()
        return base64.b64decode(fields[1]) if len(fields) >= 2 else None
    except (OSError, ValueError, UnicodeDecodeError):
        return None


def _too_open(path: str) -> Optional[str]:
    """Why OpenSSH would refuse the private key at PATH (yours, readable by others), or None."""
    try:
        st = os.stat(path)
    except OSError:
        return None  # reading it says what is wrong
    if st.st_uid == os.getuid() and st.st_mode & 0o077:
        return (f"permissions {oct(st.st_mode & 0o777)[2:].zfill(4)} are too open, so OpenSSH refuses it too: "
                f"chmod 600 {path}")
    return None



def _open_agent(path: str) -> Any:
    """Connect to the ssh-agent at PATH (IdentityAgent names another socket than $SSH_AUTH_SOCK)."""
    import paramiko.agent

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except OSError:
        sock.close()
        raise
    agent: Any = paramiko.agent.AgentSSH()
    agent._connect(sock)  # what paramiko.Agent does with $SSH_AUTH_SOCK's socket
    return agent
