"""The campus lab: a student's home Pi and a university in two network namespaces.

Namespace "campus" holds the login host (an OpenSSH sshd on 10.77.2.10, shell.campus.lab),
an OpenConnect VPN gateway (ocserv on 10.77.1.1:443, vpn.campus.lab) and a firewall that
drops the course ports (30000-40000) unless the packet comes from the VPN pool or campus.
Namespace "home" is the student's machine, wired to campus by a veth pair and able to run
openconnect. Nothing is created in the root namespace except the namespaces themselves, and
no packet leaves them.
"""

from __future__ import annotations

import base64
import datetime
import grp
import hashlib
import ipaddress
import os
import pwd
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from sockdeploy.errors import LabError
from sockdeploy.lab.loopback import LoopbackLab, find_sshd

COURSE_PORTS = (30000, 40000)
INTERNET_NET = "10.77.1.0/24"
GATEWAY_IP = "10.77.1.1"
HOME_IP = "10.77.1.2"
CAMPUS_NET = "10.77.2.0/24"
SERVER_IP = "10.77.2.10"
VPN_POOL = "10.77.8.0/24"
SERVER_NAME = "shell.campus.lab"
GATEWAY_NAME = "vpn.campus.lab"
HOME_NAME = "pi.home.lab"
VPN_USER = "labuser"
VPN_DEVICE = "tun0"        # openconnect's device in the home namespace
VPN_SERVER_DEVICE = "vpns"  # ocserv's device prefix in the campus namespace
LINK_DEVICE = "inet0"       # the veth end in each namespace
CAMPUS_DEVICE = "campus0"   # holds the login host's address inside campus

# Debian packages the campus lab needs, for installers
PACKAGES = "iproute2 iptables ocserv openconnect vpnc-scripts openssh-server openssh-client"
SBIN_DIRS = ("/usr/sbin", "/sbin", "/usr/local/sbin", "/usr/bin", "/bin")
VPNC_SCRIPTS = ("/usr/share/vpnc-scripts/vpnc-script", "/etc/vpnc/vpnc-script",
                "/usr/local/share/vpnc-scripts/vpnc-script")
NETNS_ETC = Path("/etc/netns")


def _tool(name: str) -> Optional[str]:
    """Find a program, also in the sbin directories sudo's PATH may lack."""
    found = shutil.which(name)
    if found:
        return found
    return next((f"{d}/{name}" for d in SBIN_DIRS if os.access(f"{d}/{name}", os.X_OK)), None)


def _vpnc_script() -> Optional[str]:
    return next((p for p in VPNC_SCRIPTS if os.access(p, os.X_OK)), None)


def _requirements() -> Tuple[List[str], List[str]]:
    """Return what is missing and the Debian packages that would provide it."""
    problems: List[str] = []
    packages: List[str] = []
    needed = {"ip": "iproute2", "iptables-restore": "iptables", "ocserv": "ocserv", "ocpasswd": "ocserv",
              "openconnect": "openconnect", "ssh": "openssh-client", "ssh-keygen": "openssh-client"}
    for name, package in needed.items():
        if not _tool(name):
            problems.append(f"{name} is not installed")
            packages.append(package)
    try:
        find_sshd()
    except LabError:
        problems.append("sshd is not installed")
        packages.append("openssh-server")
    if not _vpnc_script():
        problems.append("vpnc-script is not installed")
        packages.append("vpnc-scripts")
    try:
        import cryptography.x509  # noqa: F401  (paramiko depends on it, so it is normally there)
    except ImportError:
        problems.append("the Python package cryptography is missing (pip install cryptography)")
    if not os.path.exists("/dev/net/tun"):
        problems.append("/dev/net/tun is missing (sudo modprobe tun, or give the container --device /dev/net/tun)")
    try:
        pwd.getpwnam("nobody")
    except KeyError:
        problems.append("there is no 'nobody' user for ocserv to run its workers as")
    if os.geteuid() != 0:
        problems.append("the campus lab needs root (network namespaces, iptables): run it with sudo")
    elif _tool("ip"):
        err = _probe_netns()
        if err:
            problems.append(f"cannot create network namespaces ({err}); run on the host or in a privileged container")
    return problems, sorted(set(packages))


def _probe_netns() -> Optional[str]:
    """Create and delete a throwaway namespace; return the error text if that fails."""
    ip = _tool("ip") or "ip"
    name = f"sdp-{secrets.token_hex(3)}"
    try:
        made = subprocess.run([ip, "netns", "add", name], capture_output=True, text=True, timeout=10)
        if made.returncode != 0:
            return made.stderr.strip() or f"ip netns add exited {made.returncode}"
        subprocess.run([ip, "netns", "del", name], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    return None


def campus_available() -> Tuple[bool, str]:
    """Say whether the campus lab can run here, and if not what is missing and how to install it."""
    problems, packages = _requirements()
    if not problems:
        return True, "the campus lab can run on this machine"
    reason = "; ".join(problems)
    if packages:
        reason += f"; install: sudo apt-get install -y {' '.join(packages)}"
    return False, reason


def _tail(path: Path, limit: int = 800) -> str:
    try:
        return path.read_text(errors="replace").strip()[-limit:]
    except OSError:
        return ""


def _stop_process(proc: Optional[subprocess.Popen], sig: int = signal.SIGTERM, timeout: float = 5) -> None:
    if proc is None:
        return
    if proc.poll() is None:
        try:
            proc.send_signal(sig)
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        except ProcessLookupError:
            pass
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream:
            stream.close()


class CampusLab:
    """Two network namespaces: a campus with sshd, ocserv and a firewall, and a home that reaches it."""

    server_name = SERVER_NAME
    server_ip = SERVER_IP
    gateway = GATEWAY_NAME
    gateway_ip = GATEWAY_IP
    home_ip = HOME_IP
    vpn_pool = VPN_POOL
    vpn_user = VPN_USER
    vpn_device = VPN_DEVICE

    def __init__(self, base: Optional[Path] = None, *, forbid_forwarding: bool = False) -> None:
        """Prepare names and paths; `start()` builds the world."""
        tag = secrets.token_hex(3)
        self.campus_ns = f"sdc-{tag}"
        self.home_ns = f"sdh-{tag}"
        self._owns_dir = base is None
        self.dir = Path(base) if base else Path(tempfile.mkdtemp(prefix="sockdeploy-campus-"))
        self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.forbid_forwarding = forbid_forwarding
        self.hosts_file = self.dir / "hosts.yaml"
        self.vpn_password_file = self.dir / "vpn-password"
        self.servercert = ""  # pin-sha256:... of ocserv's key, filled by start()
        self.sshd: Optional[LoopbackLab] = None
        self._ip = _tool("ip") or "ip"
        self._made_ns: List[str] = []
        self._made_etc: List[Path] = []
        self._sock_dir: Optional[Path] = None
        self._ocserv: Optional[subprocess.Popen] = None
        self._openconnect: Optional[subprocess.Popen] = None
        self._oc_log = self.dir / "openconnect.log"
        self._ocserv_log = self.dir / "ocserv.log"

    def __enter__(self) -> CampusLab:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- running things -------------------------------------------------------------

    def _in(self, ns: str, argv: Sequence[str]) -> List[str]:
        return [self._ip, "netns", "exec", ns, *argv]

    @staticmethod
    def _run_kwargs(kw: Dict[str, Any]) -> Dict[str, Any]:
        kw.setdefault("text", True)
        if "stdout" not in kw and "stderr" not in kw:
            kw.setdefault("capture_output", True)
        if "input" not in kw:
            kw.setdefault("stdin", subprocess.DEVNULL)
        return kw

    def home(self, argv: Sequence[str], **popen_kwargs: Any) -> subprocess.CompletedProcess:
        """Run argv in the home namespace; text mode and captured output unless overridden."""
        return subprocess.run(self._in(self.home_ns, argv), **self._run_kwargs(popen_kwargs))

    def home_popen(self, argv: Sequence[str], **kw: Any) -> subprocess.Popen:
        """Start argv in the home namespace and return the process."""
        return subprocess.Popen(self._in(self.home_ns, argv), **kw)

    def campus(self, argv: Sequence[str], **kw: Any) -> subprocess.CompletedProcess:
        """Run argv in the campus namespace; text mode and captured output unless overridden."""
        return subprocess.run(self._in(self.campus_ns, argv), **self._run_kwargs(kw))

    def campus_popen(self, argv: Sequence[str], **kw: Any) -> subprocess.Popen:
        """Start argv in the campus namespace and return the process."""
        return subprocess.Popen(self._in(self.campus_ns, argv), **kw)

    def _must(self, argv: Sequence[str], what: str, *, input: Optional[str] = None) -> str:
        try:
            res = subprocess.run(list(argv), capture_output=True, text=True, input=input,
                                 stdin=None if input is not None else subprocess.DEVNULL, timeout=30)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise LabError(f"campus lab: {what} failed: {exc}", f"the command was: {' '.join(argv)}") from None
        if res.returncode != 0:
            raise LabError(f"campus lab: {what} failed: {(res.stderr or res.stdout).strip()}",
                           f"the command was: {' '.join(argv)}")
        return res.stdout

    # --- start ----------------------------------------------------------------------

    def start(self) -> CampusLab:
        """Build namespaces, links, firewall, sshd and ocserv; on any failure undo what was made."""
        if self._made_ns:
            raise LabError(f"the campus lab {self.campus_ns} is already running", "call stop() before starting it again")
        problems, packages = _requirements()
        if problems:
            hint = (f"sudo apt-get install -y {' '.join(packages)}" if packages
                    else "run it as root on a machine that allows network namespaces")
            raise LabError("the campus lab cannot run here: " + "; ".join(problems), hint)
        try:
            self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)  # stop() removes a folder the lab made itself
            self._make_network()
            self._write_etc()
            self._load_firewall()
            self._start_sshd()
            self._start_ocserv()
            self.write_hosts()
        except BaseException:
            try:
                self.stop()
            except LabError:
                pass  # the failure that stopped start() says more than a cleanup hiccup
            raise
        return self

    def _make_network(self) -> None:
        ip = self._ip
        for ns in (self.campus_ns, self.home_ns):
            self._must([ip, "netns", "add", ns], f"creating namespace {ns}")
            self._made_ns.append(ns)
            self._must([ip, "-n", ns, "link", "set", "lo", "up"], f"bringing up lo in {ns}")
        # both veth ends are born inside the namespaces, so the root namespace never sees them
        self._must([ip, "-n", self.campus_ns, "link", "add", LINK_DEVICE, "type", "veth",
                    "peer", "name", LINK_DEVICE, "netns", self.home_ns], "creating the campus-home veth pair")
        self._must([ip, "-n", self.campus_ns, "addr", "add", f"{GATEWAY_IP}/24", "dev", LINK_DEVICE], "addressing campus")
        self._must([ip, "-n", self.home_ns, "addr", "add", f"{HOME_IP}/24", "dev", LINK_DEVICE], "addressing home")
        for ns in (self.campus_ns, self.home_ns):
            self._must([ip, "-n", ns, "link", "set", LINK_DEVICE, "up"], f"bringing up {LINK_DEVICE} in {ns}")
        # some kernels (e.g. Firecracker guests) lack the dummy driver; an empty bridge holds an address as well
        made = subprocess.run([ip, "-n", self.campus_ns, "link", "add", CAMPUS_DEVICE, "type", "dummy"],
                              capture_output=True, text=True)
        if made.returncode != 0:
            self._must([ip, "-n", self.campus_ns, "link", "add", CAMPUS_DEVICE, "type", "bridge"],
                       "creating the campus-internal interface")
        self._must([ip, "-n", self.campus_ns, "addr", "add", f"{SERVER_IP}/24", "dev", CAMPUS_DEVICE],
                   "addressing the login host")
        self._must([ip, "-n", self.campus_ns, "link", "set", CAMPUS_DEVICE, "up"], "bringing up the campus network")
        # a metric keeps this route apart from the one vpnc-script replaces and later deletes
        self._must([ip, "-n", self.home_ns, "route", "add", CAMPUS_NET, "via", GATEWAY_IP, "metric", "100"],
                   "routing home to campus")
        # namespaced sysctl: only the campus namespace routes between the VPN and campus
        self._must(self._in(self.campus_ns, ["/bin/sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward"]),
                   "enabling forwarding inside campus")

    def _write_etc(self) -> None:
        hosts = (f"127.0.0.1 localhost\n{GATEWAY_IP} {GATEWAY_NAME}\n{SERVER_IP} {SERVER_NAME}\n"
                 f"{HOME_IP} {HOME_NAME}\n")
        for ns in (self.campus_ns, self.home_ns):
            etc = NETNS_ETC / ns
            etc.mkdir(parents=True, exist_ok=False)
            self._made_etc.append(etc)
            (etc / "hosts").write_text(hosts)
            # a resolver that answers nothing keeps every lookup inside the namespace
            (etc / "resolv.conf").write_text("nameserver 127.0.0.1\n")

    def firewall_rules(self) -> str:
        """Return the campus firewall as iptables-restore input."""
        lo, hi = COURSE_PORTS
        return f"""*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:CAMPUS-FW - [0:0]
-A INPUT -j CAMPUS-FW
-A FORWARD -j CAMPUS-FW
-A CAMPUS-FW -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
-A CAMPUS-FW -i lo -j ACCEPT
-A CAMPUS-FW -p icmp -j ACCEPT
-A CAMPUS-FW -p tcp --dport 22 -j ACCEPT
-A CAMPUS-FW -p tcp --dport 443 -j ACCEPT
-A CAMPUS-FW -p udp --dport 443 -j ACCEPT
-A CAMPUS-FW -i {VPN_SERVER_DEVICE}+ -s {VPN_POOL} -p tcp --dport {lo}:{hi} -j ACCEPT
-A CAMPUS-FW -i {VPN_SERVER_DEVICE}+ -s {VPN_POOL} -p udp --dport {lo}:{hi} -j ACCEPT
-A CAMPUS-FW -s {CAMPUS_NET} -p tcp --dport {lo}:{hi} -j ACCEPT
-A CAMPUS-FW -s {CAMPUS_NET} -p udp --dport {lo}:{hi} -j ACCEPT
-A CAMPUS-FW -j DROP
COMMIT
"""

    def _load_firewall(self) -> None:
        restore = _tool("iptables-restore") or "iptables-restore"
        self._must(self._in(self.campus_ns, [restore]), "loading the campus firewall", input=self.firewall_rules())

    def _start_sshd(self) -> None:
        # LoopbackLab writes 'AllowTcpForwarding yes' first, and sshd keeps the first value, so override in a Match
        extra = "Match all\n    AllowTcpForwarding no\n" if self.forbid_forwarding else ""
        self.sshd = LoopbackLab(self.dir / "sshd", extra_sshd_config=extra, listen=SERVER_IP,
                                host_name=SERVER_NAME, port=22, prefix=[self._ip, "netns", "exec", self.campus_ns])
        self.sshd.start()

    def _make_certificate(self, cert: Path, key_file: Path) -> str:
        """Write a self-signed cert for the gateway name and return openconnect's pin for it."""
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, GATEWAY_NAME)])
        now = datetime.datetime.now(datetime.timezone.utc)
        signed = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                  .serial_number(x509.random_serial_number())
                  .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=365))
                  .add_extension(x509.SubjectAlternativeName([x509.DNSName(GATEWAY_NAME)]), critical=False)
                  .sign(key, hashes.SHA256()))
        key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        key_file.chmod(0o600)
        cert.write_bytes(signed.public_bytes(serialization.Encoding.PEM))
        spki = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        return "pin-sha256:" + base64.b64encode(hashlib.sha256(spki).digest()).decode()

    def _socket_path(self) -> Path:
        """Return a socket path ocserv's unprivileged workers can reach and that fits in sun_path."""
        # the lab folder may sit under a 0700 parent (pytest's tmp), so keep the socket in its own 0711 dir
        if self._sock_dir is None:
            self._sock_dir = Path(tempfile.mkdtemp(prefix="sockdeploy-ocserv-", dir="/tmp"))
            self._sock_dir.chmod(0o711)
        return self._sock_dir / "ocserv.sock"

    def ocserv_config(self) -> str:
        """Return ocserv's configuration for this lab."""
        try:
            group = grp.getgrnam("nogroup").gr_name
        except KeyError:
            group = "nobody"
        pool, campus = ipaddress.ip_network(VPN_POOL), ipaddress.ip_network(CAMPUS_NET)
        return f"""# sockdeploy campus lab: VPN gateway, reachable only inside the lab's namespaces
auth = "plain[passwd={self.dir / 'ocpasswd'}]"
listen-host = {GATEWAY_IP}
tcp-port = 443
udp-port = 443
run-as-user = nobody
run-as-group = {group}
socket-file = {self._socket_path()}
pid-file = {self.dir / 'ocserv.pid'}
server-cert = {self.dir / 'ocserv-cert.pem'}
server-key = {self.dir / 'ocserv-key.pem'}
isolate-workers = false
max-clients = 16
max-same-clients = 0
rate-limit-ms = 0
max-ban-score = 0
keepalive = 300
dpd = 60
mobile-dpd = 300
try-mtu-discovery = false
auth-timeout = 30
cookie-timeout = 60
deny-roaming = false
use-occtl = false
log-level = 2
device = {VPN_SERVER_DEVICE}
predictable-ips = true
ipv4-network = {pool.network_address}
ipv4-netmask = {pool.netmask}
route = {campus.network_address}/{campus.netmask}
ping-leases = false
cisco-client-compat = true
dtls-legacy = true
tls-priorities = "NORMAL:%SERVER_PRECEDENCE"
connect-script = {self.dir / 'vpn-connect'}
"""

    def connect_script(self) -> str:
        """Return ocserv's connect script.

        The login host shares this namespace with the gateway, so by default a
        server bound to any address would answer a VPN client from the
        gateway's tunnel address; a separate login host answers from its own,
        which connected UDP clients insist on. The route's preferred source
        restores that.
        """
        return f"""#!/bin/sh
[ "$REASON" = connect ] || exit 0
exec {self._ip} route replace "$IP_REMOTE" dev "$DEVICE" src {SERVER_IP}
"""

    def _start_ocserv(self) -> None:
        self.servercert = self._make_certificate(self.dir / "ocserv-cert.pem", self.dir / "ocserv-key.pem")
        password = secrets.token_urlsafe(12)
        self.vpn_password_file.write_text(password + "\n")
        self.vpn_password_file.chmod(0o600)
        self._must([_tool("ocpasswd") or "ocpasswd", "-c", str(self.dir / "ocpasswd"), VPN_USER],
                   "writing the VPN password file", input=f"{password}\n{password}\n")
        script = self.dir / "vpn-connect"
        script.write_text(self.connect_script())
        script.chmod(0o700)
        cfg = self.dir / "ocserv.conf"
        cfg.write_text(self.ocserv_config())
        ocserv = _tool("ocserv") or "ocserv"
        self._must([ocserv, "-t", "-c", str(cfg)], "checking the ocserv configuration")
        with open(self._ocserv_log, "w") as log:
            self._ocserv = self.campus_popen([ocserv, "-f", "-c", str(cfg)], stdin=subprocess.DEVNULL,
                                             stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self._ocserv.poll() is not None:
                raise LabError(f"ocserv exited at start: {_tail(self._ocserv_log)}",
                               "check that /dev/net/tun exists and port 443 is free in the campus namespace")
            text = self._ocserv_log.read_text(errors="replace")
            # sec-mod must be up too, or the first login is refused
            if "listening (TCP)" in text and "sec-mod initialized" in text:
                return
            time.sleep(0.05)
        raise LabError(f"ocserv did not come up within 15 s: {_tail(self._ocserv_log)}", "see ocserv.log in the lab folder")

    def write_hosts(self, via: str = "auto", path: Optional[Path] = None) -> Path:
        """Write a hosts.yaml for running sockdeploy inside the home namespace against the login host."""
        if self.sshd is None:
            raise LabError("the campus lab is not running", "start it first")
        return self.sshd.write_hosts_file(via=via, path=path or self.hosts_file, vpn_gateway=self.gateway)

    # --- VPN ------------------------------------------------------------------------

    def _link_up(self, ns: str, dev: str) -> bool:
        res = subprocess.run([self._ip, "-n", ns, "-o", "link", "show", "dev", dev], capture_output=True, text=True)
        m = re.search(r"<([^>]*)>", res.stdout)
        return res.returncode == 0 and bool(m) and "UP" in m.group(1).split(",")

    def _link_exists(self, ns: str, dev: str) -> bool:
        return subprocess.run([self._ip, "-n", ns, "link", "show", "dev", dev],
                              capture_output=True, text=True).returncode == 0

    def route_device(self, ns: str, ip: str) -> Optional[str]:
        """Return the device namespace `ns` would send packets for `ip` through."""
        res = subprocess.run([self._ip, "-n", ns, "route", "get", ip], capture_output=True, text=True)
        m = re.search(r"\bdev (\S+)", res.stdout)
        return m.group(1) if res.returncode == 0 and m else None

    def vpn_up(self, timeout: float = 30) -> None:
        """Connect openconnect in home to the campus gateway and wait until campus routes through it."""
        if self.vpn_is_up():
            return
        if self._ocserv is None or self._ocserv.poll() is not None:
            raise LabError("the campus VPN gateway is not running", "start the campus lab first")
        self.vpn_down()
        script = _vpnc_script()
        if not script:
            raise LabError("vpnc-script is not installed", "sudo apt-get install -y vpnc-scripts")
        argv = [_tool("openconnect") or "openconnect", "--non-inter", "--passwd-on-stdin", "-u", VPN_USER,
                "--servercert", self.servercert, "--script", script, "--interface", VPN_DEVICE,
                "--reconnect-timeout", "10", f"https://{GATEWAY_NAME}/"]
        with open(self._oc_log, "w") as log:
            self._openconnect = self.home_popen(argv, stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT,
                                                text=True)
        # ip netns exec execs, so this pid is openconnect itself
        (self.dir / "openconnect.pid").write_text(f"{self._openconnect.pid}\n")
        assert self._openconnect.stdin is not None
        self._openconnect.stdin.write(self.vpn_password_file.read_text())
        self._openconnect.stdin.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self._openconnect.poll()
            if status is not None:
                log_text = _tail(self._oc_log)
                self.vpn_down()
                raise LabError(f"openconnect exited with status {status}: {log_text}",
                               "see openconnect.log and ocserv.log in the lab folder")
            if self._vpn_routes():
                return
            time.sleep(0.1)
        log_text = _tail(self._oc_log)
        self.vpn_down()
        raise LabError(f"the VPN did not come up within {timeout:g} s: {log_text}",
                       "see openconnect.log and ocserv.log in the lab folder")

    def _vpn_routes(self) -> bool:
        return self._link_up(self.home_ns, VPN_DEVICE) and self.route_device(self.home_ns, SERVER_IP) == VPN_DEVICE

    def vpn_is_up(self) -> bool:
        """Say whether openconnect runs and home routes the login host through its device."""
        return self._openconnect is not None and self._openconnect.poll() is None and self._vpn_routes()

    def vpn_down(self) -> None:
        """Disconnect openconnect (SIGINT logs off and runs vpnc-script) and wait for its device to vanish."""
        proc, self._openconnect = self._openconnect, None
        _stop_process(proc, signal.SIGINT, timeout=10)
        (self.dir / "openconnect.pid").unlink(missing_ok=True)
        if not self._made_ns or self.home_ns not in self._list_ns():
            return
        deadline = time.monotonic() + 5
        while self._link_exists(self.home_ns, VPN_DEVICE) and time.monotonic() < deadline:
            time.sleep(0.05)

    # --- looking at it --------------------------------------------------------------

    def _list_ns(self) -> List[str]:
        res = subprocess.run([self._ip, "netns", "list"], capture_output=True, text=True)
        return [line.split()[0] for line in res.stdout.splitlines() if line.strip()]

    def _ns_pids(self, ns: str) -> List[int]:
        res = subprocess.run([self._ip, "netns", "pids", ns], capture_output=True, text=True)
        return [int(p) for p in res.stdout.split() if p.isdigit()] if res.returncode == 0 else []

    @staticmethod
    def _comm(pid: int) -> str:
        try:
            return Path(f"/proc/{pid}/comm").read_text().strip()
        except OSError:
            return "?"

    def login_count(self) -> int:
        """Return how many logins the campus sshd accepted."""
        return self.sshd.login_count() if self.sshd else 0

    def leftover_processes(self) -> List[str]:
        """Return processes still working inside the login host's sockdeploy workdir."""
        return self.sshd.leftover_processes() if self.sshd else []

    def leftover_dirs(self) -> List[str]:
        """Return run directories left in the login host's sockdeploy workdir."""
        return self.sshd.leftover_dirs() if self.sshd else []

    def state(self) -> Dict[str, Any]:
        """Describe the lab for `lab status`: namespaces, addresses, daemons, VPN and files."""
        present = set(self._list_ns())

        def alive(proc: Optional[subprocess.Popen]) -> Optional[int]:
            return proc.pid if proc is not None and proc.poll() is None else None

        processes = {ns: {str(pid): self._comm(pid) for pid in self._ns_pids(ns)} if ns in present else {}
                     for ns in (self.campus_ns, self.home_ns)}
        return {
            "dir": str(self.dir),
            "running": self.campus_ns in present and self.home_ns in present,
            "namespaces": {"campus": self.campus_ns, "home": self.home_ns},
            "namespaces_present": sorted(present & {self.campus_ns, self.home_ns}),
            "addresses": {"internet": INTERNET_NET, "home": HOME_IP, "gateway": GATEWAY_IP, "server": SERVER_IP,
                          "campus_net": CAMPUS_NET, "vpn_pool": VPN_POOL},
            "names": {SERVER_NAME: SERVER_IP, GATEWAY_NAME: GATEWAY_IP, HOME_NAME: HOME_IP},
            "course_ports": f"{COURSE_PORTS[0]}-{COURSE_PORTS[1]}",
            "sshd": {"pid": alive(self.sshd.proc) if self.sshd else None, "port": 22,
                     "log": str(self.sshd.log_file) if self.sshd else None},
            "ocserv": {"pid": alive(self._ocserv), "log": str(self._ocserv_log)},
            "openconnect": {"pid": alive(self._openconnect), "log": str(self._oc_log)},
            "vpn_up": self.vpn_is_up() if self.home_ns in present else False,
            "vpn": {"url": f"https://{GATEWAY_NAME}/", "user": VPN_USER, "password_file": str(self.vpn_password_file),
                    "servercert": self.servercert},
            "processes": processes,
            "hosts_file": str(self.hosts_file) if self.hosts_file.exists() else None,
            "run_in_home": f"sudo ip netns exec {self.home_ns} COMMAND",
        }

    # --- stop -----------------------------------------------------------------------

    def _kill_ns_processes(self, ns: str) -> None:
        """End whatever still runs in one of our namespaces, or it would outlive `ip netns del`."""
        pids = self._ns_pids(ns)
        for sig, wait in ((signal.SIGTERM, 3.0), (signal.SIGKILL, 3.0)):
            for pid in pids:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                pids = self._ns_pids(ns)
                if not pids:
                    return
                time.sleep(0.05)

    def stop(self) -> None:
        """Take everything down; safe to call twice and after a half-finished start."""
        problems: List[str] = []
        try:
            self.vpn_down()
        except Exception as exc:  # keep tearing down; report at the end
            problems.append(f"openconnect: {exc}")
        proc, self._ocserv = self._ocserv, None
        _stop_process(proc, signal.SIGTERM)
        if self.sshd is not None:
            try:
                self.sshd.stop()
            except Exception as exc:
                problems.append(f"sshd: {exc}")
        present = set(self._list_ns()) if self._made_ns else set()
        for ns in list(self._made_ns):
            if ns in present:
                self._kill_ns_processes(ns)
                res = subprocess.run([self._ip, "netns", "del", ns], capture_output=True, text=True)
                if res.returncode != 0:
                    problems.append(f"ip netns del {ns}: {res.stderr.strip()}")
                    continue
            self._made_ns.remove(ns)
        for etc in list(self._made_etc):
            shutil.rmtree(etc, ignore_errors=True)
            if not etc.exists():
                self._made_etc.remove(etc)
        if self._sock_dir is not None:
            shutil.rmtree(self._sock_dir, ignore_errors=True)
            self._sock_dir = None
        if self._owns_dir and not problems:
            shutil.rmtree(self.dir, ignore_errors=True)
        if problems:
            raise LabError("the campus lab did not stop cleanly: " + "; ".join(problems),
                           "check 'ip netns list' and remove leftovers with 'sudo ip netns del NAME'")
