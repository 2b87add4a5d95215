"""Host keys: the known_hosts file, fingerprints, and the policy for a key seen for the first time."""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, Iterator, List, Optional, Sequence, Tuple

from sockdeploy.errors import HostKeyError
from sockdeploy.ssh.terminal import Confirm

if TYPE_CHECKING:  # paramiko is imported only once a connection is made (a fast CLI start)
    import paramiko

    from sockdeploy.spec.hosts import ServerConfig
    from sockdeploy.ssh.resolver import SshOptions

log = logging.getLogger("sockdeploy.ssh.hostkeys")

SYSTEM_KNOWN_HOSTS = "/etc/ssh/ssh_known_hosts"


def fingerprint(key: paramiko.PKey) -> str:
    """Return the OpenSSH-style SHA256 fingerprint of a paramiko key."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def known_hosts_name(host: str, port: int) -> str:
    """Return the name known_hosts files this host under (`[host]:port` off port 22)."""
    return host if port == 22 else f"[{host}]:{port}"


class KnownHosts:
    """One known_hosts file (hosts.yaml's server.known_hosts, else ~/.ssh/known_hosts)."""

    def __init__(self, configured: Optional[str], *, default: Optional[str] = None, hash_names: bool = False,
                 also: Sequence[str] = (SYSTEM_KNOWN_HOSTS,)) -> None:
        """`configured` is hosts.yaml's path, if it names one; then no other file is read.

        `default` is the file ssh config names first (UserKnownHostsFile), where new keys go;
        `also` the other files OpenSSH looks keys up in (the rest of UserKnownHostsFile,
        GlobalKnownHostsFile); `hash_names` stores new entries hashed (HashKnownHosts), as OpenSSH would.
        """
        self.configured = configured
        self.path = Path(configured or default or os.path.join(os.path.expanduser("~"), ".ssh", "known_hosts"))
        self.also = () if configured else tuple(Path(p) for p in also if p and Path(p) != self.path)
        self.hash_names = hash_names
        self.revoked: Dict[str, str] = {}  # "type base64" of a key marked @revoked -> its FILE:LINE
        self.notes: List[str] = []  # lines read but not used (@cert-authority), said with -v

    def load_into(self, client: paramiko.SSHClient) -> None:
        """Give `client` the known keys: this file, then the others OpenSSH reads (unless hosts.yaml names one)."""
        if self.path.is_file():
            try:
                self._load(client, self.path)
            except (OSError, UnicodeDecodeError) as exc:
                raise HostKeyError(f"cannot read known_hosts: {exc}", "check the file's permissions",
                                   where=str(self.path)) from None
        for other in self.also:
            if other.is_file():
                try:
                    self._load(client, other)
                except (OSError, UnicodeDecodeError):
                    pass  # OpenSSH, too, goes on without a file it cannot read

    def _load(self, client: paramiko.SSHClient, path: Path) -> None:
        """Read PATH as OpenSSH does: plain and hashed names, [host]:port, @revoked keys, @cert-authority lines."""
        entries = []
        for no, marker, entry in _entries(path.read_text()):
            if marker == "@cert-authority":
                self.notes.append(f"{path}:{no}: @cert-authority line ignored (certificates are not supported)")
            elif marker == "@revoked":
                self.revoked[_key_text(entry.key)] = f"{path}:{no}"
            elif not marker:
                entries.append(entry)
        known = client.get_host_keys()
        for entry in entries:
            if _key_text(entry.key) in self.revoked:
                continue
            for name in entry.hostnames:
                known.add(name, entry.key.get_name(), entry.key)

    def revoked_error(self, name: str, key: paramiko.PKey) -> Optional[HostKeyError]:
        """The error for a key marked @revoked, or None."""
        where = self.revoked.get(_key_text(key))
        if where is None:
            return None
        return HostKeyError(f"the host key {name} offered ({key.get_name()} {fingerprint(key)}) is marked @revoked "
                            f"at {where}; refusing to connect",
                            "ask the host's admins which key is valid now; never remove the @revoked line to get in")

    def find_entry(self, name: str) -> Optional[str]:
        """Return 'FILE:LINE' of the entry for `name` (plain or hashed), if any, in the files read."""
        import paramiko

        for path in (self.path, *self.also):
            try:
                text = path.read_text(errors="replace")
            except OSError:
                continue
            for no, marker, entry in _entries(text):
                for h in entry.hostnames if not marker else ():
                    if h == name or (h.startswith("|1|") and paramiko.HostKeys.hash_host(name, h) == h):
                        return f"{path}:{no}"
        return None

    def store(self, name: str, key: paramiko.PKey) -> None:
        """Append `key` for `name`; the file and its folder are created private."""
        import paramiko

        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        stored = paramiko.HostKeys.hash_host(name) if self.hash_names else name
        line = paramiko.hostkeys.HostKeyEntry([stored], key).to_line()
        fd = os.open(str(self.path), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "a") as fh:
            fh.write(line or "")  # None only for a key without a name, which paramiko never hands over
        log.info("stored host key for %s in %s", name, self.path)

    def changed_key_error(self, name: str, key: paramiko.PKey) -> HostKeyError:
        """Return the error for a host offering a key other than the known one."""
        entry = self.find_entry(name)
        holder = entry.rsplit(":", 1)[0] if entry else str(self.path)
        return HostKeyError(
            f"HOST KEY CHANGED for {name}: it offered {key.get_name()} {fingerprint(key)}, "
            f"which differs from the known key{(' at ' + entry) if entry else ''}; refusing to connect (this can be an attack)",
            f"if the host was really reinstalled, check the new fingerprint with its admins, then remove the old entry: "
            f"ssh-keygen -R {shlex.quote(name)} -f {shlex.quote(holder)}",
        )


def known_hosts_for(server: ServerConfig, opts: SshOptions) -> KnownHosts:
    """The known_hosts files for a host: hosts.yaml's `known_hosts` alone, else those its OpenSSH config names."""
    user_files = tuple(opts.user_known_hosts)
    return KnownHosts(server.known_hosts, default=user_files[0] if user_files else None,
                      hash_names=opts.hash_known_hosts, also=user_files[1:] + tuple(opts.global_known_hosts))


class HostKeyPolicy:
    """Unknown keys as StrictHostKeyChecking says: ask (on a terminal, else refuse), yes (refuse),
    accept-new and no (store); --accept-new stores in every mode. Changed and revoked keys are always refused.
    """

    def __init__(self, known_hosts: KnownHosts, *, accept_new: bool, confirm: Optional[Confirm],
                 strict: str = "ask") -> None:
        self.known_hosts = known_hosts
        self.accept_new = accept_new or strict in ("accept-new", "no")
        self.confirm = confirm if strict == "ask" else None
        self.strict = strict

    def missing_host_key(self, client: Any, hostname: str, key: paramiko.PKey) -> None:
        """Store the key when allowed; raise HostKeyError otherwise (a revoked key always)."""
        revoked = self.known_hosts.revoked_error(hostname, key)
        if revoked is not None:
            raise revoked
        what = f"{key.get_name()} key {fingerprint(key)}"
        if self.accept_new:
            self.known_hosts.store(hostname, key)
            return
        if self.confirm is not None:
            question = (f"The authenticity of host {hostname} can't be established.\n"
                        f"Its {what}.\nTrust it and store it in {self.known_hosts.path}? [yes/no] ")
            if self.confirm(question):
                self.known_hosts.store(hostname, key)
                return
            raise HostKeyError(f"host key for {hostname} not trusted ({what})",
                               "compare the fingerprint with the one your course publishes, then answer yes")
        if self.strict == "yes":
            raise HostKeyError(f"unknown host key for {hostname}: {what} (your ssh config says StrictHostKeyChecking yes)",
                               "check this fingerprint with your course staff, then add it with: "
                               f"ssh-keyscan -p PORT {hostname} >> {self.known_hosts.path} (or run once with --accept-new)")
        raise HostKeyError(
            f"unknown host key for {hostname}: {what}",
            "check this fingerprint with your course staff, then run once with --accept-new (or from a terminal) to store it",
        )


def _key_text(key: paramiko.PKey) -> str:
    return f"{key.get_name()} {key.get_base64()}"


def _entries(text: str) -> Iterator[Tuple[int, str, paramiko.hostkeys.HostKeyEntry]]:
    """Yield (line number, marker or "", entry) for each known_hosts line paramiko can read; OpenSSH skips the rest."""
    import paramiko

    for no, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        marker, _, rest = line.partition(" ") if line.startswith("@") else ("", "", line)
        try:
            entry = paramiko.hostkeys.HostKeyEntry.from_line(rest.strip(), no)
        except Exception:  # a malformed line
            continue
        if entry is not None and entry.key is not None:
            yield no, marker, entry
