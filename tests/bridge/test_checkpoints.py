"""Shipped tiny-model checkpoints: their hashes, their keys, and refusing a damaged one."""

import json
import shutil

import pytest

from simrl.bridge import checkpoints
from simrl.bridge.checkpoints import CheckpointError
from simrl.bridge.config import PRETRAIN_FIELDS, BridgeRunConfig
from simrl.bridge.pretrain import pretrain_folder, pretrained
from simrl.examples_path import EXAMPLES
from tests.bridge.test_end_to_end import tiny

#: the prior mixes the studies and the example use (experiments/bridge_replay, bridge.toml)
STUDY_MIXES = (0.2, 0.8)


def test_shipped_checkpoints_match_their_recorded_hashes():
    entries = checkpoints.manifest()
    assert entries, "simrl/bridge/checkpoints/manifest.json lists no checkpoint"
    for key, entry in entries.items():
        folder = checkpoints.SHIPPED / entry["folder"]
        assert set(entry["sha256"]) == set(checkpoints.FILES)
        for name, want in entry["sha256"].items():
            assert checkpoints.sha256(folder / name) == want, (key, name)
        # the key is today's hash of the recorded pretraining fields: a change to the
        # fields or to PRETRAIN_FORMAT makes this fail (re-ship, or keep the old format)
        fields = {f"bridge.{k}": v for k, v in entry["bridge"].items()}
        assert set(entry["bridge"]) == set(PRETRAIN_FIELDS)
        assert BridgeRunConfig.from_dict({}, fields).pretrain_key() == key
        meta = json.loads((folder / "meta.json").read_text())
        assert meta["key"] == key and meta["bridge"] == entry["bridge"]


def test_the_example_and_study_prior_mixes_are_shipped():
    for mix in STUDY_MIXES:
        cfg = BridgeRunConfig.from_toml(EXAMPLES / "bridge.toml", {"bridge.prior_mix": mix})
        assert checkpoints.is_shipped(cfg.pretrain_key()), mix
        assert pretrain_folder(cfg).parent == checkpoints.SHIPPED


def test_a_shipped_checkpoint_loads_without_pretraining(monkeypatch):
    import simrl.bridge.pretrain as pre

    def refuse(*_, **__):
        raise AssertionError("pretrained instead of loading the shipped checkpoint")

    monkeypatch.setattr(pre, "pretrain", refuse)
    cfg = BridgeRunConfig.from_toml(EXAMPLES / "bridge.toml")
    model, _, meta = pretrained(cfg)
    assert meta["key"] == cfg.pretrain_key()
    assert sum(p.numel() for p in model.parameters()) == meta["parameters"]


@pytest.fixture
def cached(tmp_path, monkeypatch):
    """A test-size checkpoint in a fresh cache: (config, folder)."""
    monkeypatch.setenv("SIMRL_CACHE", str(tmp_path / "cache"))
    cfg = tiny()
    pretrained(cfg)
    return cfg, pretrain_folder(cfg)


def test_a_corrupt_checkpoint_is_refused_in_one_line(cached):
    cfg, folder = cached
    data = bytearray((folder / "model.safetensors").read_bytes())
    data[-1] ^= 0xFF
    (folder / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"model\.safetensors is corrupt") as e:
        pretrained(cfg)
    assert "\n" not in str(e.value)


def test_a_missing_checkpoint_file_is_refused(cached):
    cfg, folder = cached
    (folder / "config.json").unlink()
    with pytest.raises(CheckpointError, match=r"config\.json is missing"):
        pretrained(cfg)


def test_a_checkpoint_without_hashes_is_adopted_then_checked(cached):
    """A cache folder written before checkpoints were hashed: its hashes are recorded on
    first load; a later change is then caught."""
    cfg, folder = cached
    (folder / checkpoints.HASHES).unlink()
    pretrained(cfg)
    assert (folder / checkpoints.HASHES).is_file()
    (folder / "meta.json").write_text((folder / "meta.json").read_text() + " ")
    with pytest.raises(CheckpointError, match="corrupt"):
        pretrained(cfg)


def test_force_pretrains_into_the_cache_and_never_touches_shipped(cached, tmp_path):
    cfg, folder = cached
    before = checkpoints.sha256(folder / "model.safetensors")
    shutil.copytree(folder, tmp_path / "copy")
    _, _, meta = pretrained(cfg, force=True)
    assert meta["key"] == cfg.pretrain_key()
    assert checkpoints.sha256(folder / "model.safetensors") == before  # deterministic
