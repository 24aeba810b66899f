"""Eval metrics of a policy on the bridge's task, under the simulator's names.

At each eval row the policy answers every RL training problem and every held-out problem
`eval_samples` times (sampled at the run's temperature) and once greedily. What a
language model cannot give exactly is estimated from those samples and named so here;
per-prefix quantities (entropy, KL) are exact for each sampled prefix.

    acc, acc_heldout                  sampled accuracy (estimate of pass@1)
    acc_greedy, acc_heldout_greedy    greedy-decoding accuracy (exact for the greedy answer)
    pass_at_k[_heldout]               Chen et al.'s unbiased estimator from n = eval_samples
                                      (theory/passk.py `pass_at_k_unbiased`)
    entropy_mean, entropy_q10/50/90   the token-entropy distribution: full-vocabulary
                                      entropy of each generated token's prefix, over the
                                      sampled training completions
    entropy_gt05, entropy_gt10        share of those tokens above 0.5 / 1.0 nats
    kl_base                           mean over completions of sum_t KL(pi_t || base_t),
                                      the sequence KL as the simulator's sequence task
                                      reports it (exact per prefix, sampled prefixes)
    mode_usage_0 / _1                 share of sampled completions in code / prose mode
    mode_prob_code                    exact probability of the code marker as the first
                                      token, mean over training prompts (tiny model only)
    entropy_mode_state                exact entropy of the first token, mean over prompts
    mass_format                       share of well-formed completions
    mass_incorrect_label              share answering the fixed wrong label
    mass_base_top                     share in the base model's most used mode
    length_mean                       mean completion length in tokens
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from simrl.bridge.device import autocast
from simrl.bridge.formats import NUM_MODES
from simrl.bridge.rollout import Completions, left_pad, sample, score, scoring_batch
from simrl.metrics import ENTROPY_QUANTILES
from simrl.metrics_sequence import ENTROPY_THRESHOLDS
from simrl.theory.passk import pass_at_k_unbiased


@dataclass
class Verified:
    """Completions with their verdicts, (n_problems * n) in (problem, sample) order."""

    completions: Completions
    texts: list[str]
    answers: list[int | None]
    correct: np.ndarray  # (B,) bool
    modes: np.ndarray  # (B,) int
    lengths: np.ndarray  # (B,) tokens generated


def verify(fmt, c: Completions, truths: list[int]) -> Verified:
    texts, answers = [], []
    for i in range(c.tokens.shape[0]):
        n = int(c.mask[i].sum())
        text = fmt.decode(c.tokens[i, :n].tolist())
        texts.append(text)
        answers.append(fmt.answer(text, bool(c.finished[i])))
    correct = np.array([a is not None and a == t for a, t in zip(answers, truths, strict=True)])
    modes = np.array([fmt.mode(t) for t in texts])
    return Verified(c, texts, answers, correct, modes, c.mask.sum(1).numpy())


def rollout(model, fmt, problems, n, uniforms, cfg, device) -> Verified:
    """n completions of each problem (greedy when uniforms is None)."""
    prompts = [fmt.prompt_ids(p) for p in problems for _ in range(n)]
    truths = [p.answer for p in problems for _ in range(n)]
    c = sample(
        model,
        prompts,
        cfg.bridge.max_new_tokens,
        cfg.bridge.temperature,
        fmt.eos_id,
        fmt.pad_id,
        uniforms,
        device,
    )
    return verify(fmt, c, truths)


def _acc_passk(v: Verified, n_problems: int, n: int, passk, suffix: str) -> dict[str, float]:
    c = v.correct.reshape(n_problems, n).sum(1)
    out = {f"acc{suffix}": float(v.correct.mean())}
    for k in passk:
        out[f"pass_at_{k}{suffix}"] = float(np.mean(pass_at_k_unbiased(n, c, k)))
    return out


@torch.no_grad()
def token_stats(model, base, fmt, v: Verified, cfg, device, chunk: int = 64) -> dict[str, float]:
    """Token-entropy distribution and sequence KL to the base model over v's tokens."""
    hs, kls = [], []
    c = v.completions
    for lo in range(0, c.tokens.shape[0], chunk):
        part = Completions(
            c.prompts[lo : lo + chunk],
            c.tokens[lo : lo + chunk],
            c.mask[lo : lo + chunk],
            c.finished[lo : lo + chunk],
        )
        s = scoring_batch(part, fmt.pad_id, device)
        lp = torch.log_softmax(score(model, s, None, cfg.bridge.temperature, device), -1)
        lb = torch.log_softmax(score(base, s, None, cfg.bridge.temperature, device), -1)
        m = part.mask[:, : s.T].to(device).bool()
        h = -(lp.exp() * lp).sum(-1)
        kl = (lp.exp() * (lp - lb)).sum(-1)
        hs.append(h[m].double().cpu().numpy())
        kls.append((kl * m).sum(-1).double().cpu().numpy())
    h = np.concatenate(hs)
    out = {"entropy_mean": float(h.mean()) if h.size else np.nan}
    for q in ENTROPY_QUANTILES:
        out[f"entropy_q{round(q * 100)}"] = float(np.quantile(h, q)) if h.size else np.nan
    for thr, name in zip(ENTROPY_THRESHOLDS, ("entropy_gt05", "entropy_gt10"), strict=True):
        out[name] = float((h > thr).mean()) if h.size else np.nan
    out["kl_base"] = float(np.concatenate(kls).mean())
    return out


@torch.no_grad()
def first_token_stats(model, fmt, problems, cfg, device) -> dict[str, float]:
    """Exact entropy of the first completion token and, with a code marker, its probability."""
    ids, attn = left_pad([fmt.prompt_ids(p) for p in problems], fmt.pad_id, device)
    pos = (attn.cumsum(-1) - 1).clamp(min=0)
    with autocast(device):
        out = model(input_ids=ids, attention_mask=attn, position_ids=pos, logits_to_keep=1)
    logits = out.logits
    lp = torch.log_softmax(logits[:, -1].double() / cfg.bridge.temperature, -1)
    out = {"entropy_mode_state": float(-(lp.exp() * lp).sum(-1).mean())}
    code = fmt.code_prefix()
    out["mode_prob_code"] = float(lp[:, code[0]].exp().mean()) if code else np.nan
    return out


def eval_metrics(
    model, base, fmt, train, heldout, labels, base_top_mode, cfg, rng, device
) -> tuple[dict[str, float], Verified]:
    """The eval row of `model`; also returns the verified training samples (for labels)."""
    n, passk = cfg.bridge.eval_samples, cfg.run.passk
    T = cfg.bridge.max_new_tokens
    vt = rollout(model, fmt, train, n, rng.random((len(train) * n, T)), cfg, device)
    vh = rollout(model, fmt, heldout, n, rng.random((len(heldout) * n, T)), cfg, device)
    gt = rollout(model, fmt, train, 1, None, cfg, device)
    gh = rollout(model, fmt, heldout, 1, None, cfg, device)
    out = _acc_passk(vt, len(train), n, passk, "")
    out["acc_greedy"] = float(gt.correct.mean())
    out.update(_acc_passk(vh, len(heldout), n, passk, "_heldout"))
    out["acc_heldout_greedy"] = float(gh.correct.mean())
    out.update(token_stats(model, base, fmt, vt, cfg, device))
    out.update(first_token_stats(model, fmt, train, cfg, device))
    for m in range(NUM_MODES):
        out[f"mode_usage_{m}"] = float((vt.modes == m).mean())
    out["mass_format"] = float(np.mean([a is not None for a in vt.answers]))
    if labels is not None:
        lab = np.repeat(labels, n)
        out["mass_incorrect_label"] = float(
            np.mean([a is not None and a == b for a, b in zip(vt.answers, lab, strict=True)])
        )
    else:
        out["mass_incorrect_label"] = np.nan
    top = base_top_mode if base_top_mode is not None else int(np.bincount(vt.modes).argmax())
    out["mass_base_top"] = float((vt.modes == top).mean())
    out["length_mean"] = float(vt.lengths.mean())
    return out, vt


#: every eval column, in order
def eval_names(passk) -> tuple[str, ...]:
    return (
        "acc",
        "acc_greedy",
        *(f"pass_at_{k}" for k in passk),
        "acc_heldout",
        "acc_heldout_greedy",
        *(f"pass_at_{k}_heldout" for k in passk),
        "entropy_mean",
        *(f"entropy_q{round(q * 100)}" for q in ENTROPY_QUANTILES),
        "entropy_gt05",
        "entropy_gt10",
        "kl_base",
        "entropy_mode_state",
        "mode_prob_code",
        *(f"mode_usage_{m}" for m in range(NUM_MODES)),
        "mass_format",
        "mass_incorrect_label",
        "mass_base_top",
        "length_mean",
    )
