"""The labs' configuration templates render to exactly the files sshd, PAM, iptables and ocserv read."""

from __future__ import annotations

import os
import stat
from importlib.resources import files
from pathlib import Path

import pytest
import yaml

from sockdeploy.lab.addresses import GATEWAY_IP, HOME_IP, HOME_NAME, SERVER_IP, SERVER_NAME
from sockdeploy.lab.firewall import firewall_rules
from sockdeploy.lab.hostsfile import HostsFile
from sockdeploy.lab.namespaces import Namespaces
from sockdeploy.lab.pam import PAM_SERVICE_PREFIX, PamService, render_pam_service, sweep_stale_pam_files
from sockdeploy.lab.sshd import Sshd
from sockdeploy.lab.templates import render
from sockdeploy.lab.vpngateway import VpnGateway
from sockdeploy.spec.hosts import parse_config

TEMPLATES = sorted(p.name for p in files("sockdeploy.lab.templates").iterdir()
                   if p.is_file() and not p.name.endswith((".py", ".pyc")))


def test_the_templates_ship_as_package_data() -> None:
    assert {"sshd_config", "hosts.yaml", "pam_service", "firewall.rules", "ocserv.conf", "netns_hosts"} <= set(TEMPLATES)


def test_render_fills_named_fields_and_refuses_a_missing_one() -> None:
    assert render("netns_hosts", gateway_ip="1", gateway_name="g", server_ip="2", server_name="s",
                  home_ip="3", home_name="h") == "127.0.0.1 localhost\n1 g\n2 s\n3 h\n"
    with pytest.raises(KeyError, match="home_name"):
        render("netns_hosts", gateway_ip="1", gateway_name="g", server_ip="2", server_name="s", home_ip="3")


# --- sshd_config ---------------------------------------------------------------------

def _sshd(tmp_path: Path, auth: str = "key", forwarding: bool = True, extra_config: str = "") -> Sshd:
    server = Sshd(tmp_path, user="alice", port=2222, auth=auth, forwarding=forwarding, extra_config=extra_config)
    server.port = 2222
    return server


def _options(text: str) -> dict:
    return dict(line.split(" ", 1) for line in text.splitlines() if line and not line.startswith(("#", " ")))


def test_sshd_config_key_mode(tmp_path: Path) -> None:
    text = _sshd(tmp_path).config()
    assert text.startswith("# sockdeploy loopback lab: throwaway sshd, loopback only\n")
    opts = _options(text)
    assert opts["Port"] == "2222" and opts["ListenAddress"] == "127.0.0.1" and opts["AllowUsers"] == "alice"
    assert opts["HostKey"] == str(tmp_path / "ssh_host_ed25519_key") and opts["PidFile"] == str(tmp_path / "sshd.pid")
    assert opts["AuthorizedKeysFile"] == str(tmp_path / "authorized_keys")
    assert opts["UsePAM"] == "no" and opts["PubkeyAuthentication"] == "yes" and opts["PasswordAuthentication"] == "no"
    assert opts["AllowTcpForwarding"] == "yes" and opts["MaxSessions"] == "64" and opts["MaxStartups"] == "100:30:200"
    assert "AuthenticationMethods" not in opts
    assert "$" not in text


def test_sshd_config_password_mode_reads_the_users_own_keys(tmp_path: Path) -> None:
    opts = _options(_sshd(tmp_path, auth="password").config())
    assert opts["AuthorizedKeysFile"] == ".ssh/authorized_keys"
    assert opts["UsePAM"] == "yes" and opts["PasswordAuthentication"] == "yes" and opts["PubkeyAuthentication"] == "yes"
    assert opts["KbdInteractiveAuthentication"] == "no"


def test_sshd_config_totp_mode_allows_only_pams_conversation(tmp_path: Path) -> None:
    opts = _options(_sshd(tmp_path, auth="password+totp").config())
    assert opts["AuthenticationMethods"] == "keyboard-interactive" and opts["KbdInteractiveAuthentication"] == "yes"
    assert opts["PubkeyAuthentication"] == "no" and opts["PasswordAuthentication"] == "no"


def test_sshd_config_ends_with_the_extra_text_and_can_forbid_forwarding(tmp_path: Path) -> None:
    text = _sshd(tmp_path, forwarding=False, extra_config="Match all\n    AllowTcpForwarding no\n").config()
    assert "\nAllowTcpForwarding no\n" in text
    assert text.endswith("Subsystem sftp internal-sftp\nMatch all\n    AllowTcpForwarding no\n\n")


# --- hosts.yaml ----------------------------------------------------------------------

def _hosts(tmp_path: Path, identity: bool) -> HostsFile:
    return HostsFile(host="localhost", port=2222, user="alice", known_hosts=tmp_path / "known_hosts",
                     workdir=tmp_path / "work", identity=tmp_path / "id_ed25519" if identity else None)


def test_hosts_file_with_a_key_parses_as_sockdeploy_config(tmp_path: Path) -> None:
    (tmp_path / "id_ed25519").write_text("key\n")  # sockdeploy checks that the identity exists
    path = _hosts(tmp_path, identity=True).write(tmp_path / "hosts.yaml", "tunnel")
    text = path.read_text()
    assert text.startswith("# written by sockdeploy's lab\n") and text.endswith("  ports: 30000-40000\n")
    doc = yaml.safe_load(text)
    assert doc["server"] == {"host": "localhost", "port": 2222, "user": "alice", "identity": str(tmp_path / "id_ed25519"),
                             "known_hosts": str(tmp_path / "known_hosts"), "workdir": str(tmp_path / "work"),
                             "ssh_config": "none", "agent": False}
    assert doc["client"] == {"host": "local"} and doc["network"] == {"via": "tunnel", "ports": "30000-40000"}
    config = parse_config(path)
    assert config.server.host == "localhost" and config.server.port == 2222 and config.network.via == "tunnel"


def test_hosts_file_without_a_key_names_no_identity_and_can_name_a_gateway(tmp_path: Path) -> None:
    path = _hosts(tmp_path, identity=False).write(tmp_path / "hosts.yaml", "auto", vpn_gateway="vpn.campus.lab")
    text = path.read_text()
    assert "identity:" not in text and text.endswith("  vpn:\n    gateway: vpn.campus.lab\n")
    doc = yaml.safe_load(text)
    assert doc["network"] == {"via": "auto", "ports": "30000-40000", "vpn": {"gateway": "vpn.campus.lab"}}
    assert parse_config(path).network.via == "auto"


# --- PAM -----------------------------------------------------------------------------

def test_pam_service_password_only(tmp_path: Path) -> None:
    text = render_pam_service(123, tmp_path, None, None)
    assert text.splitlines() == [f"# sockdeploy lab, owner pid 123, folder {tmp_path}: removed when the lab stops",
                                 "auth required pam_unix.so", "account required pam_unix.so",
                                 "session required pam_permit.so", "password required pam_deny.so"]


def test_pam_service_asks_the_totp_code_after_the_password(tmp_path: Path) -> None:
    lines = render_pam_service(123, tmp_path, "/lib/x/pam_google_authenticator.so", tmp_path / "secret").splitlines()
    assert lines[1:3] == ["auth required pam_unix.so",
                          f"auth required /lib/x/pam_google_authenticator.so secret={tmp_path / 'secret'} user=root noskewadj"]


def test_pam_service_file_and_link_are_removed_on_close(tmp_path: Path) -> None:
    pam_dir, lab_dir = tmp_path / "pam.d", tmp_path / "lab"
    pam_dir.mkdir()
    lab_dir.mkdir()
    with PamService(lab_dir, pam_dir) as service:
        name = service.write()
        assert name.startswith(PAM_SERVICE_PREFIX) and (pam_dir / name).is_file()
        assert stat.S_IMODE((pam_dir / name).stat().st_mode) == 0o644
        link = Path(service.link("/bin/true"))
        assert link == lab_dir / name and os.readlink(link) == "/bin/true"
    assert not (pam_dir / name).exists() and not link.is_symlink()
    service.close()  # idempotent


def test_sweep_removes_only_files_of_dead_owners(tmp_path: Path) -> None:
    dead = 2 ** 22 + 17  # above the kernel's pid_max default, so never a live process
    (tmp_path / f"{PAM_SERVICE_PREFIX}dead").write_text(render_pam_service(dead, tmp_path, None, None))
    (tmp_path / f"{PAM_SERVICE_PREFIX}live").write_text(render_pam_service(os.getpid(), tmp_path, None, None))
    (tmp_path / f"{PAM_SERVICE_PREFIX}odd").write_text("no owner line\n")
    (tmp_path / "sshd").write_text(render_pam_service(dead, tmp_path, None, None))
    sweep_stale_pam_files(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{PAM_SERVICE_PREFIX}live", f"{PAM_SERVICE_PREFIX}odd", "sshd"]


# --- campus: firewall, ocserv, /etc/netns/NS/hosts -----------------------------------

def test_firewall_opens_course_ports_only_to_the_vpn_pool_and_campus() -> None:
    lines = firewall_rules().splitlines()
    assert lines[0] == "*filter" and lines[-2:] == ["-A CAMPUS-FW -j DROP", "COMMIT"]
    course = [line for line in lines if "30000:40000" in line]
    assert course == ["-A CAMPUS-FW -i vpns+ -s 10.77.8.0/24 -p tcp --dport 30000:40000 -j ACCEPT",
                      "-A CAMPUS-FW -i vpns+ -s 10.77.8.0/24 -p udp --dport 30000:40000 -j ACCEPT",
                      "-A CAMPUS-FW -s 10.77.2.0/24 -p tcp --dport 30000:40000 -j ACCEPT",
                      "-A CAMPUS-FW -s 10.77.2.0/24 -p udp --dport 30000:40000 -j ACCEPT"]
    assert "-A CAMPUS-FW -p tcp --dport 22 -j ACCEPT" in lines and "$" not in "".join(lines)


def _namespaces() -> Namespaces:
    names = Namespaces()  # names only: nothing is created before create()
    names.ip = "/usr/sbin/ip"
    return names


def test_ocserv_config_names_the_lab_files_pool_and_route(tmp_path: Path) -> None:
    gateway = VpnGateway(tmp_path, _namespaces())
    with gateway:
        text = gateway.config()
        socket_dir = gateway.socket_path().parent
        assert stat.S_IMODE(socket_dir.stat().st_mode) == 0o711
    assert not socket_dir.exists(), "close() removes the socket folder"
    opts = dict(line.split(" = ", 1) for line in text.splitlines() if " = " in line and not line.startswith("#"))
    assert opts["auth"] == f'"plain[passwd={tmp_path / "ocpasswd"}]"' and opts["listen-host"] == GATEWAY_IP
    assert opts["ipv4-network"] == "10.77.8.0" and opts["ipv4-netmask"] == "255.255.255.0"
    assert opts["route"] == "10.77.2.0/255.255.255.0" and opts["device"] == "vpns"
    assert opts["socket-file"] == str(socket_dir / "ocserv.sock") and opts["connect-script"] == str(tmp_path / "vpn-connect")
    assert opts["server-cert"] == str(tmp_path / "ocserv-cert.pem") and opts["tls-priorities"] == '"NORMAL:%SERVER_PRECEDENCE"'
    assert "$" not in text


def test_ocserv_passes_the_connect_scripts_settings_in_its_environment(tmp_path: Path) -> None:
    env = VpnGateway(tmp_path, _namespaces()).script_environment()
    assert env["SOCKDEPLOY_LAB_IP"] == "/usr/sbin/ip" and env["SOCKDEPLOY_LAB_SOURCE"] == SERVER_IP
    assert env["PATH"] == os.environ["PATH"]


def test_netns_hosts_names_every_lab_machine() -> None:
    text = render("netns_hosts", gateway_ip=GATEWAY_IP, gateway_name="vpn.campus.lab", server_ip=SERVER_IP,
                  server_name=SERVER_NAME, home_ip=HOME_IP, home_name=HOME_NAME)
    assert text == "127.0.0.1 localhost\n10.77.1.1 vpn.campus.lab\n10.77.2.10 shell.campus.lab\n10.77.1.2 pi.home.lab\n"
    names = Namespaces()
    assert names.campus.startswith("sdc-") and names.home.startswith("sdh-") and not names.made
