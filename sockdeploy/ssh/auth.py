"""Logging in: keys from ssh-agent and identity files, then keyboard-interactive or password answers relayed to the person.

sockdeploy authenticates itself instead of letting paramiko do it: paramiko's own
login would read 2FA answers from stdin, and would send credentials before the
host key check is done.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Iterator, List, Optional, Sequence, Tuple

from sockdeploy.errors import AuthError
from sockdeploy.spec.hosts import ServerConfig
from sockdeploy.ssh.hostkeys import fingerprint
from sockdeploy.ssh.terminal import Prompt

if TYPE_CHECKING:
    import paramiko

DEFAULT_IDENTITIES = ("id_ed25519", "id_ecdsa", "id_rsa")
KEY_HINT = "check server.user and server.identity in hosts.yaml, add your key with ssh-copy-id, or load it with ssh-add"


def identity_files(cfg: ServerConfig, from_ssh_config: Sequence[str]) -> List[str]:
    """Return the identity files to offer, in order, that exist: hosts.yaml's one alone, else ssh config's then the defaults."""
    if cfg.identity:
        paths = [cfg.identity]
    else:
        home_ssh = os.path.join(os.path.expanduser("~"), ".ssh")
        paths = [os.path.expanduser(p) for p in from_ssh_config] + [os.path.join(home_ssh, n) for n in DEFAULT_IDENTITIES]
    return [p for p in dict.fromkeys(paths) if os.path.isfile(p)]


class Authenticator:
    """One login: public keys first (as OpenSSH orders them), then the answers the server asks for."""

    def __init__(self, cfg: ServerConfig, identities: Sequence[str], prompt: Optional[Prompt],
                 identities_only: bool = False) -> None:
        """`prompt` asks the person at the terminal; None means there is none.

        With `identities_only` (ssh config's IdentitiesOnly), agent keys are not offered,
        as OpenSSH does: only the identity files.
        """
        self.cfg = cfg
        self.identities = list(identities)
        self.prompt = prompt
        self.identities_only = identities_only
        self.skipped: List[str] = []  # identity files not offered, with the reason
        self.tried: List[str] = []  # keys offered
        self.used: Optional[str] = None  # how the login succeeded: method, and the key's label and fingerprint

    def keys(self) -> Iterator[Tuple[paramiko.PKey, str]]:
        """Yield (key, label) in OpenSSH's order: the configured identity, agent keys (not with IdentitiesOnly), files.

        With many keys in the agent, the one hosts.yaml names is offered before
        the server's MaxAuthTries runs out.
        """
        import paramiko

        configured = [p for p in self.identities if self.cfg.identity and p == self.cfg.identity]
        yield from self._files(configured)
        if self.cfg.agent and os.environ.get("SSH_AUTH_SOCK") and not self.identities_only:
            try:
                for i, key in enumerate(paramiko.Agent().get_keys()):
                    yield key, f"agent key {i + 1}"
            except paramiko.SSHException:
                pass
        yield from self._files([p for p in self.identities if p not in configured])

    def _files(self, paths: Sequence[str]) -> Iterator[Tuple[paramiko.PKey, str]]:
        import paramiko

        for path in paths:
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
            if found is not None:
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
