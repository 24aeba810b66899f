"""The probe breakdown: `run.audit`'s dH breakdown on the bridge, at a fixed probe set of
prefixes (theory/NOTES.md, "Bridge audit"; docs/architecture.md, "Five things once called
audit": the config fields `bridge.audit_rollouts` and `bridge.audit_top_tokens` keep
their names).

Probes: for the first `bridge.probe_prompts` RL training problems, the prompt itself (the
next token chooses the mode) and, where the format has one, the prompt followed by the
code marker (the first step of a code-mode computation); and as many held-out prompts,
which no update samples from (their change is the network's spill-over). Rollouts revisit
the training probes every step, so the tokens generated there give the sampled-token
predictions exactly as the tabular simulator computes them for a state.

Per update and probe, with z0 / z1 the probe's full-vocabulary tempered logits before /
after the update (one forward each):
    dH_exact         H(z1) - H(z0), exact
    dH_first_order   -Cov_pi(log pi, z1 - z0)        (Cui et al. 2025, Lemma 1), actual change
    dH_second_order  + the second-order term          (NOTES.md, "Second order")
    dH_cui_t1        -eta Cov_pi(log pi, pi A)        (Cui et al. 2025, Theorem 1), the tabular
                     prediction: A(v) = Q(v) - V estimated by Monte Carlo (audit_rollouts
                     continuations after each of the audit_top_tokens likeliest tokens,
                     A = 0 for the others), eta = lr x the probe's total aggregation weight
    dH_token_sum     sum over the probe's token evaluations of the one-token change
    dH_steer_code    STEER public code -lr w Omega (signed)
    dH_steer_eq14    STEER Eq. 14 over the sampled tokens
The last four treat the probe's logits as free tabular parameters moved by lr times the
token gradient: on a network the actual logit change also depends on every other
token's gradient (shared parameters), so their scale is not expected to match; the
residual statistics (simrl/approximation_grid.py `fit_stats`) include scale-free ones (sign
agreement, Spearman rank correlation).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from simrl.bridge.device import autocast
from simrl.bridge.rollout import left_pad, sample
from simrl.metrics import AUDIT_PROMPT_COLUMNS
from simrl.theory import (
    cui_theorem1,
    entropy,
    first_order_entropy_change,
    second_order_entropy_change,
)

#: the per-probe record columns: the simulator's per-state breakdown, by definition
#: (simrl/metrics.py AUDIT_PROMPT_COLUMNS), so a bridge breakdown and a simulator one are one
#: table
PROBE_COLUMNS = AUDIT_PROMPT_COLUMNS


@dataclass(frozen=True)
class Probe:
    problem: int  # index into the RL training problems; -1 - i for held-out problem i
    prompt: tuple[int, ...]
    prefix: tuple[int, ...]  # completion tokens after the prompt

    @property
    def kind(self) -> str:
        if self.problem < 0:
            return "heldout"
        return "mode" if not self.prefix else "code_step"


def build_probes(fmt, train, heldout, n: int) -> list[Probe]:
    probes = []
    code = fmt.code_prefix()
    for i, p in enumerate(train[:n]):
        prompt = tuple(fmt.prompt_ids(p))
        probes.append(Probe(i, prompt, ()))
        if code:
            probes.append(Probe(i, prompt, tuple(code)))
    for i, p in enumerate(heldout[:n]):
        probes.append(Probe(-1 - i, tuple(fmt.prompt_ids(p)), ()))
    return probes


@torch.no_grad()
def probe_logits(model, probes: list[Probe], pad_id: int, temperature: float, device) -> np.ndarray:
    """(n_probes, V) float64 tempered next-token logits at each probe prefix."""
    if not probes:
        return np.zeros((0, 1))
    ids, attn = left_pad([list(p.prompt + p.prefix) for p in probes], pad_id, device)
    pos = (attn.cumsum(-1) - 1).clamp(min=0)
    with autocast(device):
        out = model(input_ids=ids, attention_mask=attn, position_ids=pos, logits_to_keep=1)
    return (out.logits[:, -1].double() / temperature).cpu().numpy()


def probe_index(probes: list[Probe], problem_of_seq, completions, mask) -> dict:
    """(sequence, position) -> probe id for the batch tokens generated at a probe prefix."""
    table = {(p.problem, p.prefix): j for j, p in enumerate(probes) if p.problem >= 0}
    if not table:
        return {}
    depth = max(len(p.prefix) for p in probes)
    where = {}
    toks = completions.numpy()
    m = mask.numpy()
    for s, prob in enumerate(problem_of_seq):
        for pos in range(min(depth + 1, toks.shape[1])):
            if not m[s, pos]:
                break
            j = table.get((int(prob), tuple(int(x) for x in toks[s, :pos])))
            if j is not None:
                where[(s, pos)] = j
    return where


def expected_advantages(
    model, fmt, probes, z0, cfg, answer_reward, rng: np.random.Generator, device
) -> np.ndarray:
    """(n_probes, V) Monte Carlo A(v) = Q(v) - V under the current (pre-update) policy for
    each probe's audit_top_tokens likeliest tokens v (0 elsewhere). `answer_reward(probe,
    text, finished)` is the expected reward of one completion (NaN where the reward has no
    per-completion expectation: then every A is NaN)."""
    b = cfg.bridge
    zs = z0 - z0.max(-1, keepdims=True)
    pi = np.exp(zs) / np.exp(zs).sum(-1, keepdims=True)
    jobs = []  # (probe, token) of each continuation
    for j in range(len(probes)):
        for v in np.argsort(-pi[j], kind="stable")[: b.audit_top_tokens]:
            for _ in range(b.audit_rollouts):
                jobs.append((j, int(v)))
    head = [[*list(probes[j].prompt + probes[j].prefix), v] for j, v in jobs]
    rest = b.max_new_tokens - np.array([len(probes[j].prefix) + 1 for j, _ in jobs])
    T = int(max(1, rest.max()))
    u = rng.random((len(jobs), T))
    cont = sample(model, head, T, b.temperature, fmt.eos_id, fmt.pad_id, u, device)
    q = np.zeros(z0.shape)
    n = np.zeros(z0.shape)
    for k, (j, v) in enumerate(jobs):
        p = probes[j]
        if v == fmt.eos_id:
            text, finished = fmt.decode(list(p.prefix)), True
        else:
            steps = int(rest[k])
            toks = cont.tokens[k, :steps].tolist()
            done = fmt.eos_id in toks
            text, finished = fmt.decode([*list(p.prefix), v, *toks]), done
        q[j, v] += answer_reward(p, text, finished)
        n[j, v] += 1
    has = n > 0
    q = np.where(has, q / np.maximum(n, 1), 0.0)
    mass = (pi * has).sum(-1, keepdims=True)
    value = (pi * q * has).sum(-1, keepdims=True) / mass
    return np.where(has, q - value, 0.0)


def probe_breakdown_rows(z0: np.ndarray, z1: np.ndarray, sums, adv: np.ndarray | None, lr: float):
    """(n_probes, 7) per-probe record, columns PROBE_COLUMNS (NaN where not computed)."""
    dz = z1 - z0
    out = np.full((z0.shape[0], len(PROBE_COLUMNS)), np.nan)
    out[:, 0] = entropy(z1) - entropy(z0)
    out[:, 1] = first_order_entropy_change(z0, dz)
    out[:, 2] = second_order_entropy_change(z0, dz)
    if adv is not None:
        out[:, 3] = cui_theorem1(z0, adv, lr * sums.weight[:, None])
    if sums is not None:
        out[:, 4] = sums.token
        out[:, 5] = sums.steer_code
        out[:, 6] = sums.steer_eq14
    return out
