"""The built-in tiny model: a Llama-style causal LM built in code (no download).

`tiny_model(bridge, vocab_size)` is a LlamaForCausalLM (pre-norm, RoPE, SwiGLU; Touvron
et al. 2023, arXiv 2302.13971) from a `transformers` LlamaConfig, sized by bridge.d_model
/ layers / heads, with the character tokenizer's vocabulary and tied embeddings. Its
weights come from simrl/bridge/pretrain.py (shipped or cached: simrl/bridge/checkpoints.py).
"""

from __future__ import annotations

import torch

#: positions of the tiny model: its longest prompt plus bridge.max_new_tokens must fit
TINY_CONTEXT = 64


def tiny_model(bridge, vocab_size: int, max_positions: int = TINY_CONTEXT):
    """A fresh tiny Llama, initialised from bridge.pretrain_seed."""
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
