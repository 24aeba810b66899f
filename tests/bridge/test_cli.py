"""`simrl bridge` as a user runs it, in a subprocess with a tiny budget."""

import os
import subprocess
import sys

import pandas as pd

from tests.bridge.test_end_to_end import TINY


def simrl(*args: str, cache) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "SIMRL_CACHE": str(cache)}
    return subprocess.run(
        [sys.executable, "-m", "simrl", "bridge", *args, "--threads", "1"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )


def test_bridge_run_writes_the_simulator_layout(tmp_path):
    lines = []
    for section, values in TINY.items():
        lines.append(f"[{section}]")
        for k, v in values.items():
            lines.append(f"{k} = {v!r}".replace("'", '"'))
    cfg = tmp_path / "tiny.toml"
    cfg.write_text("\n".join(lines) + "\n")
    out = simrl("run", str(cfg), "--set", "reward.kind=random", "--out", str(tmp_path / "o"),
                cache=tmp_path / "cache")  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "acc_heldout" in out.stdout
    for name in ("metrics.parquet", "final.parquet", "config.toml"):
        assert (tmp_path / "o" / name).is_file()
    assert pd.read_parquet(tmp_path / "o" / "final.parquet").shape[0] == 1


def test_bad_input_is_one_line_and_exit_2(tmp_path):
    out = simrl("pretrain", "--prior-mix", "1.5", cache=tmp_path)
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0
    assert "bridge.prior_mix = 1.5" in out.stderr
