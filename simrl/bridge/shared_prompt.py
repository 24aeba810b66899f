"""Teacher-forced logits of G completions per prompt, each distinct prompt's forward run once.

A GRPO batch holds G completions of every prompt. The plain forward (simrl/bridge/rollout.py
`score_hf`) runs each (prompt + completion) sequence whole, so every prompt token is
computed G times, with its gradient. Here, for a Llama-architecture model (the same modules
and weights as its HF forward: simrl/bridge/decode.py `supports`):

    1. the distinct prompts of the batch run once: hidden states, and each layer's keys and
       values at the prompt positions (after the rotary embedding);
    2. the completions run with each layer's attention over [its prompt's keys/values,
       copied by index (autograd sums their gradients back into the one prompt pass), its
       own earlier completion tokens] (causal, padding masked, as in the HF forward);
    3. the logits predicting completion token t are the vocabulary projection of the
       hidden state before it: the prompt's last position for t = 0.

Row by row this is the HF forward's arithmetic up to float rounding: the same attention
scores over the same keys (tests/bridge/test_decode.py holds logits and gradients to
1e-5). The prompt's share of the compute drops from G x to 1 x.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _attend(attn, x, cos, sin, past_k, past_v, mask, head_dim, rope):
    """One attention block over [past keys/values, x's own]; returns (out, k, v)."""
    b, n, _ = x.shape
    q = attn.q_proj(x).view(b, n, -1, head_dim).transpose(1, 2)  # (b, H, n, hd)
    k = attn.k_proj(x).view(b, n, -1, head_dim).transpose(1, 2)  # (b, Hkv, n, hd)
    v = attn.v_proj(x).view(b, n, -1, head_dim).transpose(1, 2)
    q, k = rope(q, k, cos, sin)
    keys = k if past_k is None else torch.cat([past_k, k], dim=2)
    values = v if past_v is None else torch.cat([past_v, v], dim=2)
    o = F.scaled_dot_product_attention(
        q,
        keys,
        values,
        attn_mask=mask,
        scale=attn.scaling,
        enable_gqa=q.shape[1] != keys.shape[1],
    )
    return attn.o_proj(o.transpose(1, 2).reshape(b, n, -1)), k, v


def shared_prompt_logits(model, input_ids, attention_mask, position_ids, P: int, T: int):
    """Logits (b, T, V) predicting the completion tokens of b left-padded sequences
    input_ids (b, P + T) whose first P columns are the prompt (the HF forward's
    `logits[:, P - 1 : P + T - 1]`)."""
    from transformers.models.llama.modeling_llama import apply_rotary_pos_emb as rope

    m = model.model
    c = model.config
    head_dim = getattr(c, "head_dim", None) or c.hidden_size // c.num_attention_heads
    device = input_ids.device
    prompts, rows_of = torch.unique(input_ids[:, :P], dim=0, return_inverse=True)  # (U, P)
    # a row of each distinct prompt (any: they share padding and positions)
    first = torch.zeros(len(prompts), dtype=torch.long, device=device)
    first.scatter_(0, rows_of, torch.arange(len(rows_of), device=device))
    p_valid = attention_mask[first, :P].bool()  # (U, P)
    p_pos = position_ids[first, :P]
    causal = torch.ones((P, P), dtype=torch.bool, device=device).tril()
    eye = torch.eye(P, dtype=torch.bool, device=device)
    # a pad query also attends to itself, so that no mask row is empty (never read)
    p_mask = (p_valid[:, None, None, :] & causal) | eye  # (U, 1, P, P)
    c_ids, c_pos = input_ids[:, P:], position_ids[:, P:]
    c_valid = attention_mask[:, P:].bool()  # (b, T)
    c_mask = torch.cat(
        [
            p_valid[rows_of][:, None, None, :].expand(-1, 1, T, P),
            c_valid[:, None, None, :] & torch.ones((T, T), dtype=torch.bool, device=device).tril(),
        ],
        dim=-1,
    )  # (b, 1, T, P + T)
    hp = m.embed_tokens(prompts)  # (U, P, d)
    hc = m.embed_tokens(c_ids)  # (b, T, d)
    p_cos, p_sin = m.rotary_emb(hp, p_pos)
    c_cos, c_sin = m.rotary_emb(hc, c_pos)
    for layer in m.layers:
        a = layer.self_attn
        o, k, v = _attend(
            a, layer.input_layernorm(hp), p_cos, p_sin, None, None, p_mask, head_dim, rope
        )
        hp = hp + o
        hp = hp + layer.mlp(layer.post_attention_layernorm(hp))
        o, _, _ = _attend(
            a, layer.input_layernorm(hc), c_cos, c_sin, k[rows_of], v[rows_of], c_mask,
            head_dim, rope,
        )  # fmt: skip
        hc = hc + o
        hc = hc + layer.mlp(layer.post_attention_layernorm(hc))
    h = torch.cat([hp[rows_of, -1:], hc[:, : T - 1]], dim=1)  # (b, T, d)
    return model.lm_head(m.norm(h))
