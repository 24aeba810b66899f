"""Fast KV-cache decoding of a Llama-architecture model: a preallocated cache, a shrinking batch.

The per-token path of `transformers` (a DynamicCache that grows by concatenation, a new
4D mask per call, logits of every prompt position) costs more than the arithmetic of a
small model. This module runs the same LlamaForCausalLM's own modules (RMSNorm,
projections, rotary embedding, SwiGLU MLP, lm_head: the model's weights and the same ops)
with:

    * one key/value buffer per layer, (B, kv_heads, P + T, head_dim), allocated once and
      written in place (Pope et al. 2022, "Efficiently Scaling Transformer Inference",
      Sec. 3.1: the KV cache); attention over the filled slots only, with
      torch.nn.functional.scaled_dot_product_attention (grouped-query heads: enable_gqa);
    * the vocabulary projection of the last position only (the prompt's other positions
      predict nothing that sampling needs);
    * finished sequences dropped from the batch (their cache rows with them) once a
      quarter of the rows still computed has finished: a finished row's later tokens
      are padding that nothing reads.

Every row's logits are the same function of its own tokens as in the HF forward (no op
mixes rows), so this is the same sampler up to float rounding (tests/bridge/test_decode.py
holds it against `transformers`' forward at 1e-5). `supports(model)` says which models
take this path; simrl/bridge/rollout.py uses the HF forward for the others.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from simrl.bridge.sampler import as_sampler, choose

#: drop finished rows once this share of the rows still computed has finished
COMPACT_SHARE = 0.25


def supports(model) -> bool:
    """A plain LlamaForCausalLM (the tiny model, SmolLM2): no biases, default rotary."""
    c = getattr(model, "config", None)
    return (
        type(model).__name__ == "LlamaForCausalLM"
        and c is not None
        and not getattr(c, "attention_bias", False)
        and not getattr(c, "mlp_bias", False)
        and getattr(c, "pretraining_tp", 1) == 1
    )


class LlamaDecoder:
    """Forward passes of a LlamaForCausalLM over a preallocated KV cache of S slots."""

    def __init__(self, model, slots: int):
        from transformers.models.llama.modeling_llama import apply_rotary_pos_emb

        self.rope = apply_rotary_pos_emb
        self.model = model
        c = model.config
        self.heads = c.num_attention_heads
        self.kv_heads = c.num_key_value_heads
        self.head_dim = getattr(c, "head_dim", None) or c.hidden_size // c.num_attention_heads
        self.layers = list(model.model.layers)
        self.keys: list[torch.Tensor] = []
        self.values: list[torch.Tensor] = []
        self.slots = slots

    def keep(self, rows: torch.Tensor) -> None:
        """Keep only the cache rows `rows` (indices into the current batch)."""
        self.keys = [k.index_select(0, rows) for k in self.keys]
        self.values = [v.index_select(0, rows) for v in self.values]

    def forward(self, ids, pos, start: int, mask) -> torch.Tensor:
        """Last-position logits (b, V) of tokens ids (b, n) at positions pos (b, n), written
        into cache slots [start, start + n); mask (b, 1, n, start + n) bool, True = attend."""
        m = self.model.model
        b, n = ids.shape
        h = m.embed_tokens(ids)  # (b, n, d)
        cos, sin = m.rotary_emb(h, pos)
        end = start + n
        for i, layer in enumerate(self.layers):
            attn = layer.self_attn
            x = layer.input_layernorm(h)
            q = attn.q_proj(x).view(b, n, -1, self.head_dim).transpose(1, 2)  # (b, H, n, hd)
            k = attn.k_proj(x).view(b, n, -1, self.head_dim).transpose(1, 2)  # (b, Hkv, n, hd)
            v = attn.v_proj(x).view(b, n, -1, self.head_dim).transpose(1, 2)
            q, k = self.rope(q, k, cos, sin)
            if len(self.keys) <= i:  # first call: allocate (dtype: what autocast produced)
                shape = (b, self.kv_heads, self.slots, self.head_dim)
                self.keys.append(torch.zeros(shape, dtype=k.dtype, device=k.device))
                self.values.append(torch.zeros(shape, dtype=v.dtype, device=v.device))
            self.keys[i][:, :, start:end] = k
            self.values[i][:, :, start:end] = v
            o = F.scaled_dot_product_attention(
                q,
                self.keys[i][:, :, :end],
                self.values[i][:, :, :end],
                attn_mask=mask,
                scale=attn.scaling,
                enable_gqa=self.kv_heads != self.heads,
            )  # (b, H, n, hd)
            h = h + attn.o_proj(o.transpose(1, 2).reshape(b, n, -1))
            h = h + layer.mlp(layer.post_attention_layernorm(h))
        return self.model.lm_head(m.norm(h[:, -1]))  # (b, V)


def sample_llama(
    model, ids, attn, rows_of, T, temperature, eos_id, pad_id, uniforms, autocast, record=None
):
    """(tokens (B, T), mask (B, T), finished (B,)) of B sequences whose prompts are the
    left-padded distinct prompts ids / attn (U, P), sequence i starting from prompt
    rows_of[i] (B,); uniforms (B, T) float64 for inverse-CDF sampling at `temperature` (a
    float, or a simrl/bridge/sampler.py Sampler: temperature, top-k, top-p), None for
    greedy decoding; `record` (a sampler.Record), if given, gets each generated token's
    log q (and sum_v q^2). `autocast` is the device's precision context. A group's G
    sequences share their prompt's prefill: it runs once per distinct prompt, and the
    cache rows are copied G times."""
    sampler = as_sampler(temperature)
    U, P = ids.shape
    B = rows_of.shape[0]
    device = ids.device
    dec = LlamaDecoder(model, P + T)
    valid = torch.zeros((U, P + T), dtype=torch.bool, device=device)
    valid[:, :P] = attn.bool()
    pos = (attn.cumsum(-1) - 1).clamp(min=0)
    causal = torch.ones((P, P), dtype=torch.bool, device=device).tril()
    # a pad query attends to itself too, so that no row of the mask is empty (its output
    # is never read: pad keys are masked for every real query)
    prefill = (valid[:, None, None, :P] & causal) | torch.eye(P, dtype=torch.bool, device=device)
    out_tok = torch.full((B, T), pad_id, dtype=torch.long, device=device)
    out_mask = torch.zeros((B, T), device=device)
    finished = torch.zeros(B, dtype=torch.bool, device=device)
    rows = torch.arange(B, device=device)  # original index of each row still computed
    done = torch.zeros(B, dtype=torch.bool, device=device)  # of the rows still computed
    with autocast:
        logits = dec.forward(ids, pos, 0, prefill).float()
    dec.keep(rows_of)  # (U, ...) -> (B, ...): each sequence gets its prompt's cache
    logits, valid, pos = logits[rows_of], valid[rows_of], pos[rows_of, -1:]
    for t in range(T):
        tok, lq, sq = choose(logits, None if uniforms is None else uniforms[rows, t], sampler)
        tok = torch.where(done, torch.full_like(tok, pad_id), tok)
        live = rows[~done]
        out_tok[live, t] = tok[~done]
        out_mask[live, t] = 1.0
        if record is not None and lq is not None:
            record.put(live, t, lq[~done], None if sq is None else sq[~done])
        done = done | (tok == eos_id)
        finished[rows[done]] = True
        if bool(done.all()) or t == T - 1:
            break
        if int(done.sum()) >= max(1, COMPACT_SHARE * len(rows)):
            keep = (~done).nonzero()[:, 0]
            dec.keep(keep)
            rows, tok, pos, valid = rows[keep], tok[keep], pos[keep], valid[keep]
            done = done[keep]
        slot = P + t
        valid[:, slot] = True
        pos = pos + 1
        with autocast:
            logits = dec.forward(tok[:, None], pos, slot, valid[:, None, None, : slot + 1])
        logits = logits.float()
    return out_tok, out_mask, finished
