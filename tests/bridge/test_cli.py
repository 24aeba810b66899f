"""`simrl bridge` as a user runs it, in a subprocess with a tiny budget."""

import os
import subprocess
import sys

import pandas as pd
import pytest
import torch

from simrl.bridge.config import BridgeRunConfig
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
                "--log", "tensorboard", cache=tmp_path / "cache")  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "acc_heldout" in out.stdout
    # the summary: step 0 beside the last step, with the change
    assert "step 0" in out.stdout and "step 2" in out.stdout and "change" in out.stdout
    assert len(list((tmp_path / "o" / "samples").glob("seed0_step*.jsonl"))) == 3
    assert len(list((tmp_path / "o" / "tensorboard" / "seed_0").iterdir())) == 1
    for name in ("metrics.parquet", "final.parquet", "config.toml"):
        assert (tmp_path / "o" / name).is_file()
    assert pd.read_parquet(tmp_path / "o" / "final.parquet").shape[0] == 1


def test_bad_input_is_one_line_and_exit_2(tmp_path):
    out = simrl("pretrain", "--prior-mix", "1.5", cache=tmp_path)
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0
    assert "bridge.prior_mix = 1.5" in out.stderr


def one_line_exit_2(out: subprocess.CompletedProcess, *needles: str) -> None:
    assert out.returncode == 2, out.stderr
    assert out.stderr.strip().count("\n") == 0, out.stderr
    assert "Traceback" not in out.stderr
    for n in needles:
        assert n in out.stderr, out.stderr


def example_with(tmp_path, **bridge) -> str:
    """simrl/examples/bridge.toml with [bridge] fields changed, written to tmp_path."""
    from simrl.bridge.config import BridgeRunConfig
    from simrl.examples_path import EXAMPLES

    cfg = BridgeRunConfig.from_toml(
        EXAMPLES / "bridge.toml", {f"bridge.{k}": v for k, v in bridge.items()}
    )
    path = tmp_path / "cfg.toml"
    path.write_text(cfg.to_toml().split("\n", 1)[1])
    return str(path)


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_device_cuda_without_cuda(tmp_path):
    out = simrl("run", example_with(tmp_path), "--device", "cuda", "--out", str(tmp_path / "o"),
                cache=tmp_path / "cache")  # fmt: skip
    one_line_exit_2(out, "bridge.device", "CUDA")
    assert not (tmp_path / "o").exists() and not (tmp_path / "cache").exists()


def test_model_folder_without_a_tokenizer(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "llama"}')
    out = simrl("run", example_with(tmp_path), "--model", str(folder), "--out", str(tmp_path / "o"),
                cache=tmp_path / "cache")  # fmt: skip
    one_line_exit_2(out, "bridge.model", "no tokenizer")
    assert not (tmp_path / "o").exists()


def test_prompts_longer_than_the_context(tmp_path):
    out = simrl("run", example_with(tmp_path, max_new_tokens=60), "--out", str(tmp_path / "o"),
                cache=tmp_path / "cache")  # fmt: skip
    one_line_exit_2(out, "bridge.max_new_tokens = 60", "64 positions")
    assert not (tmp_path / "o").exists() and not (tmp_path / "cache").exists()


def test_a_corrupt_cached_checkpoint(tmp_path, monkeypatch):
    from simrl.bridge.pretrain import pretrain_folder, pretrained

    monkeypatch.setenv("SIMRL_CACHE", str(tmp_path / "cache"))
    cfg = BridgeRunConfig.from_dict(TINY)
    pretrained(cfg)
    weights = pretrain_folder(cfg) / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-10])  # truncated
    path = tmp_path / "tiny.toml"
    path.write_text(cfg.to_toml().split("\n", 1)[1])
    out = simrl("run", str(path), "--out", str(tmp_path / "o"), cache=tmp_path / "cache")
    one_line_exit_2(out, "model.safetensors is corrupt")
    assert not (tmp_path / "o").exists()


def test_a_missing_shipped_checkpoint(tmp_path, monkeypatch):
    """A shipped checkpoint's files gone (an install without package data): one line, and
    no silent pretraining."""
    from simrl.bridge import checkpoints
    from simrl.bridge.pretrain import pretrained

    entry = next(iter(checkpoints.manifest().values()))
    monkeypatch.setattr(checkpoints, "SHIPPED", tmp_path / "nowhere")
    cfg = BridgeRunConfig.from_dict({}, {f"bridge.{k}": v for k, v in entry["bridge"].items()})
    with pytest.raises(checkpoints.CheckpointError, match="is missing: reinstall simrl"):
        pretrained(cfg)
