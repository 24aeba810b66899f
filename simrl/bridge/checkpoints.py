"""Tiny-model checkpoints: the ones shipped with simrl, and the local cache, verified by hash.

A checkpoint is a folder `tiny-<key>` (key = BridgeRunConfig.pretrain_key(), the hash of
the pretraining fields) holding model.safetensors, config.json, char_tokenizer.json,
meta.json (the pretraining fields, seed, threads, torch version, seconds, final loss) and
sha256.json (the SHA-256 of each of those files). Loading checks every hash first, so a
truncated or edited file is refused with one line, never half-loaded.

Shipped: simrl/bridge/checkpoints/ holds the checkpoints of the prior mixes the studies and
the example use (made by `simrl bridge pretrain --prior-mix X --threads 1`, then `ship`);
its manifest.json lists each key with its file hashes, so the test suite can check them.
Cached: any other pretraining fields are pretrained once into cache_root() ($SIMRL_CACHE,
else ~/.cache/simrl, then bridge/).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

from simrl.errors import ConfigError

#: the shipped checkpoints
SHIPPED = Path(__file__).parent / "checkpoints"
MANIFEST = SHIPPED / "manifest.json"
#: the cache root: $SIMRL_CACHE, else ~/.cache/simrl
CACHE_ENV = "SIMRL_CACHE"
#: the files a checkpoint folder holds, each hashed
FILES = ("model.safetensors", "config.json", "char_tokenizer.json", "meta.json")
HASHES = "sha256.json"


class CheckpointError(ConfigError):
    """A checkpoint folder is missing a file or a file's hash does not match."""


def cache_root() -> Path:
    return Path(os.environ.get(CACHE_ENV, Path.home() / ".cache" / "simrl")) / "bridge"


def manifest() -> dict[str, dict]:
    """key -> {"folder", "sha256": {file: hex}, ...} of the shipped checkpoints."""
    if not MANIFEST.is_file():
        return {}
    return json.loads(MANIFEST.read_text())["checkpoints"]


def folder_for(key: str) -> Path:
    """The shipped folder of `key` when simrl ships one, else its cache folder."""
    entry = manifest().get(key)
    if entry is not None:
        return SHIPPED / entry["folder"]
    return cache_folder(key)


def is_shipped(key: str) -> bool:
    return key in manifest()


def cache_folder(key: str) -> Path:
    return cache_root() / f"tiny-{key}"


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def recorded_hashes(folder: Path) -> dict[str, str]:
    """The hashes a folder was saved with: the manifest's for a shipped folder, else its
    own sha256.json."""
    for entry in manifest().values():
        if folder == SHIPPED / entry["folder"]:
            return entry["sha256"]
    path = folder / HASHES
    if not path.is_file():
        if not (folder / "meta.json").is_file():
            raise CheckpointError(
                "bridge checkpoint", str(folder), "has no meta.json: delete it to pretrain again"
            )
        # written before checkpoints were hashed (complete: it was renamed into place
        # whole): record its hashes now, so that later loads are checked
        hashes = {n: sha256(folder / n) for n in FILES if (folder / n).is_file()}
        path.write_text(json.dumps(hashes, indent=1))
    return json.loads(path.read_text())


def verify(folder: Path) -> None:
    """Raise CheckpointError unless every file of the checkpoint is there with its hash."""
    shipped = folder.parent == SHIPPED
    fix = (
        "reinstall simrl (a shipped checkpoint)"
        if shipped
        else "delete the folder or run `simrl bridge pretrain --force` (a cached checkpoint)"
    )
    if shipped and not (folder / "meta.json").is_file():
        raise CheckpointError("bridge checkpoint", str(folder), f"is missing: {fix}")
    for name, want in recorded_hashes(folder).items():
        path = folder / name
        if not path.is_file():
            raise CheckpointError("bridge checkpoint", str(folder), f"{name} is missing: {fix}")
        got = sha256(path)
        if got != want:
            raise CheckpointError(
                "bridge checkpoint",
                str(folder),
                f"{name} is corrupt (sha256 {got[:12]}..., expected {want[:12]}...): {fix}",
            )


def save(folder: Path, model, tok, meta: dict) -> None:
    """Write a checkpoint atomically: into a temporary sibling, hashed, then renamed (a
    concurrent writer that finished first wins; its folder is kept)."""
    tmp = folder.with_name(f".{folder.name}.tmp{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    try:
        model.save_pretrained(tmp)
        (tmp / "generation_config.json").unlink(missing_ok=True)  # not used; not hashed
        tok.save(tmp)
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
        hashes = {name: sha256(tmp / name) for name in FILES}
        (tmp / HASHES).write_text(json.dumps(hashes, indent=1))
        if folder.exists():
            shutil.rmtree(tmp)
        else:
            tmp.rename(folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def load(folder: Path):
    """(LlamaForCausalLM float32, CharTokenizer, meta) of a verified checkpoint."""
    import torch
    from transformers import LlamaForCausalLM

    from simrl.bridge.tokenizer import CharTokenizer

    verify(folder)
    model = LlamaForCausalLM.from_pretrained(folder, dtype=torch.float32)
    meta = json.loads((folder / "meta.json").read_text())
    return model, CharTokenizer.load(folder), meta


def ship(folder: Path, made_by: str) -> str:
    """Copy a cached checkpoint into simrl/bridge/checkpoints/ and list it in the manifest
    (a maintainer's step, after `simrl bridge pretrain`); returns its key."""
    folder = Path(folder)
    meta = json.loads((folder / "meta.json").read_text())
    key = meta["key"]
    verify(folder)
    dest = SHIPPED / f"tiny-{key}"
    dest.mkdir(parents=True, exist_ok=True)
    for name in FILES:
        shutil.copyfile(folder / name, dest / name)
    data = json.loads(MANIFEST.read_text()) if MANIFEST.is_file() else {"checkpoints": {}}
    data["checkpoints"][key] = {
        "folder": dest.name,
        "made_by": made_by,
        "bridge": meta["bridge"],
        "seed": meta["bridge"]["pretrain_seed"],
        "threads": meta.get("threads"),
        "torch": meta.get("torch"),
        "sha256": {name: sha256(dest / name) for name in FILES},
    }
    data["checkpoints"] = dict(sorted(data["checkpoints"].items()))
    MANIFEST.write_text(json.dumps(data, indent=1) + "\n")
    return key
