"""The SmolLM2 conversion cache: half-written copies of dead processes are swept."""

import os
import subprocess
import sys

from simrl.bridge.model import pid_alive, sweep_stale_copies


def dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_sweep_removes_only_dead_processes_copies(tmp_path):
    out = tmp_path / "smollm2-135m-instruct"
    out.mkdir()
    gone = dead_pid()
    assert not pid_alive(gone)
    stale = tmp_path / f"smollm2-135m-instruct.tmp{gone}"
    live = tmp_path / f"smollm2-135m-instruct.tmp{os.getpid()}"
    other = tmp_path / "smollm2-135m-instruct.tmpnotapid"
    for d in (stale, live, other):
        d.mkdir()
        (d / "model.safetensors").write_bytes(b"x")
    sweep_stale_copies(out)
    assert not stale.exists()
    assert live.exists() and other.exists() and out.exists()
