"""Rollouts with a KV cache, and teacher-forced scoring of (prompt, completion) batches.

`sample(...)` generates up to T = max_new_tokens tokens for a batch of prompts: one
forward over the left-padded prompts fills the cache, then one token per forward. A
token is drawn from softmax(logits / temperature), truncated by top-k / top-p when the
run's sampler asks (simrl/bridge/sampler.py `choose`), by inverse CDF with a uniform from
the run's numpy Generator (drawn up front, one per (sequence, position), so a sequence's
sample does not depend on its batch-mates' lengths), or greedily (argmax); the sampled
completions carry each token's log q. After the end token a sequence emits padding,
masked out.

`score(...)` runs the model once over prompt + completion and returns the logits that
predicted each completion token, divided by the temperature: the policy the loss
trains and the metrics measure (verl divides by the rollout temperature the same way).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import numpy as np
import torch

from simrl.bridge.decode import sample_llama, supports
from simrl.bridge.device import autocast
from simrl.bridge.sampler import Record, as_sampler, choose
from simrl.bridge.shared_prompt import shared_prompt_logits


def _cache_arg(model) -> str:
    """The forward's KV-cache argument: `cache` in transformers >= 5.2x, `past_key_values`
    before (the old name still works there, with a deprecation warning)."""
    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


def _cache_of(out):
    return out.cache if "cache" in out else out.past_key_values


@dataclass
class Completions:
    """G completions per prompt, in (prompt, sample) order."""

    prompts: list[list[int]]  # (B,) prompt token ids
    tokens: torch.Tensor  # (B, T) completion ids, pad after the end token; T = max_new_tokens
    mask: torch.Tensor  # (B, T) float: 1 for generated tokens (the end token included)
    finished: np.ndarray  # (B,) bool: the end token was generated within T
    #: (B, T) float64 log q of each generated token under the sampler (0 at padding), or
    #: None (greedy decoding); simrl/bridge/sampler.py
    logq: torch.Tensor | None = None
    #: (B, T) float64 sum_v q(v)^2 at each generated token's position, or None (not asked)
    sum_sq: torch.Tensor | None = None

    def rows(self, rows) -> Completions:
        """The completions `rows` (a slice)."""
        return Completions(
            self.prompts[rows],
            self.tokens[rows],
            self.mask[rows],
            self.finished[rows],
            None if self.logq is None else self.logq[rows],
            None if self.sum_sq is None else self.sum_sq[rows],
        )

    @staticmethod
    def cat(parts: list[Completions]) -> Completions:
        def join(name):
            xs = [getattr(p, name) for p in parts]
            return None if any(x is None for x in xs) else torch.cat(xs)

        return Completions(
            prompts=[pr for p in parts for pr in p.prompts],
            tokens=torch.cat([p.tokens for p in parts]),
            mask=torch.cat([p.mask for p in parts]),
            finished=np.concatenate([p.finished for p in parts]),
            logq=join("logq"),
            sum_sq=join("sum_sq"),
        )


def left_pad(prompts: list[list[int]], pad_id: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    P = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), P), pad_id, dtype=torch.long)
    attn = torch.zeros((len(prompts), P), dtype=torch.long)
    for i, p in enumerate(prompts):
        ids[i, P - len(p) :] = torch.tensor(p, dtype=torch.long)
        attn[i, P - len(p) :] = 1
    return ids.to(device), attn.to(device)


def sample(
    model,
    prompts: list[list[int]],
    max_new_tokens: int,
    temperature: float,
    eos_id: int,
    pad_id: int,
    uniforms: np.ndarray | None,
    device: torch.device,
    chunk: int = 256,
) -> Completions:
    """Completions of `prompts`; uniforms (B, T) for sampling, None for greedy decoding.
    `temperature`: a float, or a simrl/bridge/sampler.py Sampler (top-k, top-p, and
    whether sum_v q^2 is recorded); sampled completions carry each token's log q."""
    parts = []
    for lo in range(0, len(prompts), chunk):
        hi = min(lo + chunk, len(prompts))
        u = None if uniforms is None else uniforms[lo:hi]
        parts.append(
            _sample_chunk(
                model, prompts[lo:hi], max_new_tokens, temperature, eos_id, pad_id, u, device
            )
        )
    return Completions.cat(parts)


def _sample_chunk(model, prompts, T, temperature, eos_id, pad_id, uniforms, device):
    u = None if uniforms is None else torch.as_tensor(uniforms, dtype=torch.float64, device=device)
    s = as_sampler(temperature)
    rec = None if u is None else Record.empty(len(prompts), T, s.sum_sq, device)
    with torch.inference_mode():
        if supports(model):
            distinct: dict[tuple, int] = {}
            rows_of = [distinct.setdefault(tuple(p), len(distinct)) for p in prompts]
            ids, attn = left_pad([list(p) for p in distinct], pad_id, device)
            rows_of = torch.as_tensor(rows_of, device=device)
            tok, mask, done = sample_llama(
                model, ids, attn, rows_of, T, s, eos_id, pad_id, u, autocast(device), rec
            )
        else:
            ids, attn = left_pad(prompts, pad_id, device)
            tok, mask, done = sample_hf(model, ids, attn, T, s, eos_id, pad_id, u, rec)
    # clones made outside inference mode: ordinary tensors, which autograd may save
    return Completions(
        list(prompts),
        tok.cpu().clone(),
        mask.cpu().clone(),
        done.cpu().numpy(),
        None if rec is None else rec.logq.cpu().clone(),
        None if rec is None or rec.sum_sq is None else rec.sum_sq.cpu().clone(),
    )


def sample_hf(model, ids, attn, T, temperature, eos_id, pad_id, u, record=None):
    """The reference sampler: `transformers`' forward with its KV cache, one token at a
    time for the whole batch (rows that finished are fed padding). Any causal LM.
    `temperature` and `record` as in decode.sample_llama."""
    B = ids.shape[0]
    device = ids.device
    pos = (attn.cumsum(-1) - 1).clamp(min=0)
    out_tok = torch.full((B, T), pad_id, dtype=torch.long, device=device)
    out_mask = torch.zeros((B, T), device=device)
    done = torch.zeros(B, dtype=torch.bool, device=device)
    with autocast(device):
        out = model(
            input_ids=ids, attention_mask=attn, position_ids=pos, use_cache=True, logits_to_keep=1
        )
    cache_arg = _cache_arg(model)
    past, logits = _cache_of(out), out.logits[:, -1].float()
    pos = pos[:, -1:]
    sampler = as_sampler(temperature)
    for t in range(T):
        tok, lq, sq = choose(logits, None if u is None else u[:, t], sampler)
        tok = torch.where(done, torch.full_like(tok, pad_id), tok)
        out_tok[:, t] = tok
        out_mask[:, t] = (~done).float()
        if record is not None and lq is not None:
            live = (~done).nonzero()[:, 0]
            record.put(live, t, lq[live], None if sq is None else sq[live])
        done = done | (tok == eos_id)
        if bool(done.all()) or t == T - 1:
            break
        attn = torch.cat([attn, torch.ones((B, 1), dtype=attn.dtype, device=device)], dim=1)
        pos = pos + 1
        with autocast(device):
            out = model(
                input_ids=tok[:, None],
                attention_mask=attn,
                position_ids=pos,
                use_cache=True,
                **{cache_arg: past},
            )
        past, logits = _cache_of(out), out.logits[:, -1].float()
    return out_tok, out_mask, done


@dataclass
class Scored:
    """A teacher-forcing batch: prompt + completion, ready for forward passes."""

    input_ids: torch.Tensor  # (B, P + T')
    attention_mask: torch.Tensor  # (B, P + T')
    position_ids: torch.Tensor  # (B, P + T')
    P: int  # padded prompt length
    T: int  # completion positions kept (T' <= T: trailing all-pad columns dropped)


def scoring_batch(c: Completions, pad_id: int, device) -> Scored:
    ids, attn = left_pad(c.prompts, pad_id, "cpu")
    used = int(c.mask.sum(0).nonzero().max()) + 1 if c.mask.any() else 1
    comp, cmask = c.tokens[:, :used], c.mask[:, :used].long()
    full_ids = torch.cat([ids, comp], dim=1)
    full_attn = torch.cat([attn, cmask], dim=1)
    pos = (full_attn.cumsum(-1) - 1).clamp(min=0)
    return Scored(full_ids.to(device), full_attn.to(device), pos.to(device), ids.shape[1], used)


def score(model, s: Scored, idx: torch.Tensor | None, temperature: float, device) -> torch.Tensor:
    """Tempered logits (b, T', V), float32, predicting the completion tokens of rows idx:
    a Llama-architecture model runs each distinct prompt once (simrl/bridge/shared_prompt.py),
    any other model the plain forward (`score_hf`, the reference)."""
    if not supports(model):
        return score_hf(model, s, idx, temperature, device)
    sl = slice(None) if idx is None else idx
    with autocast(device):
        logits = shared_prompt_logits(
            model, s.input_ids[sl], s.attention_mask[sl], s.position_ids[sl], s.P, s.T
        )
    return logits.float() / temperature


def score_hf(model, s: Scored, idx: torch.Tensor | None, temperature: float, device):
    """`score` by the model's own forward over each whole sequence (any causal LM)."""
    sl = slice(None) if idx is None else idx
    with autocast(device):
        # logits_to_keep: only the last T' + 1 positions (saves the vocabulary projection
        # of the prompt); the last one predicts past the batch and is dropped
        logits = model(
            input_ids=s.input_ids[sl],
            attention_mask=s.attention_mask[sl],
            position_ids=s.position_ids[sl],
            logits_to_keep=s.T + 1,
        ).logits
    return logits[:, : s.T].float() / temperature
