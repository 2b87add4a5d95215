"""Uploads against the lab's real sshd: a connection cut mid-upload leaves nothing; too much is never sent."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Iterator, List

import pytest

from sockdeploy.errors import ConnectError
from sockdeploy.remote.host import Upload
from sockdeploy.run import workspace
from sockdeploy.spec.hosts import load_config
from sockdeploy.spec.sources import Source
from sockdeploy.ssh import helper as helper_mod
from sockdeploy.ssh.session import SshSession
from tests.conftest import PAYLOADS, kill_ssh_connections

pytestmark = pytest.mark.integration


def wait_for(check, within: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@pytest.mark.parametrize("through_helper", [True, False], ids=["remote-helper", "own-channel"])
def test_an_upload_cut_midway_leaves_nothing_on_the_host(clean_lab, tmp_path: Path, monkeypatch,
                                                         through_helper: bool) -> None:
    if not through_helper:
        monkeypatch.setenv(helper_mod.ENV_SWITCH, "0")
    files: List[Source] = []
    for name in ("first.dat", "second.dat"):
        (tmp_path / name).write_bytes(name.encode() * (1 << 20))
        files.append(Source(tmp_path / name, name))
    real = workspace.tar_sources
    seen: List[str] = []  # the run folders there when the link was cut
    cut: List[bool] = []

    def cut_midway(sources, dirs=(), **kw) -> Upload:  # type: ignore[no-untyped-def]
        upload = real(sources, dirs, **kw)

        def chunks() -> Iterator[bytes]:
            sent = 0
            for chunk in upload.chunks():
                yield chunk
                sent += len(chunk)
                if sent > upload.size // 2 and not cut:
                    # on its own channel tar unpacks as the bytes come; the helper runs nothing before all are in
                    wait_for(lambda: any(Path(d, "first.dat").exists() for d in clean_lab.leftover_dirs()),
                             within=0 if through_helper else 10)
                    seen.extend(clean_lab.leftover_dirs())
                    cut.append(kill_ssh_connections(clean_lab) >= 1)

        return Upload(upload.size, chunks)

    monkeypatch.setattr(workspace, "tar_sources", cut_midway)
    cfg = load_config(str(clean_lab.hosts_file))
    with SshSession(cfg.server) as session:
        session.run("true")  # logged in (and the helper started) before the upload
        with pytest.raises(ConnectError) as err:
            workspace.create_workspace(session, cfg.server.workdir, files)
    assert "lost" in err.value.message or "ended while a step ran" in err.value.message, err.value.message
    assert cut == [True]
    assert (seen == []) if through_helper else (len(seen) == 1)
    assert wait_for(lambda: clean_lab.leftover_dirs() == [], within=10), clean_lab.leftover_dirs()


def test_a_payload_over_the_upload_limit_is_refused_before_any_login(cli, clean_lab, tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    shutil.copytree(PAYLOADS / "ex5", mine)
    (mine / "payload.yaml").unlink()
    (mine / "data").mkdir()
    with open(mine / "data" / "capture.bin", "wb") as fh:  # 60 MB that take no disk: a sparse file
        fh.truncate(60 * 2**20)
    logins = clean_lab.login_count()
    res = cli("run", "ex5", "--payload", str(mine), "--hosts", str(clean_lab.hosts_file), "--out", "runs")
    assert res.code == 2, res.stderr
    assert "more than 50.0 MiB (the upload limit)" in res.stderr and "data/capture.bin 60.0 MiB" in res.stderr
    assert clean_lab.login_count() == logins
