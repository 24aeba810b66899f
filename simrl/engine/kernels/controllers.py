"""The controllers in the kernels (simrl/controllers.py is their numpy form and the source
of each rule): the KL penalty in the reward with its fixed or adaptive coefficient (verl
`use_kl_in_reward`), TR-DPO's reference mixing (`algo.ref_sync_steps`) and Skywork-OR1's
adaptive entropy coefficient (`algo.entropy_adaptive`), for the bandit and the sequence
step kernels.

A run's controller parameters and state are one float row `cp` of the packed parameters
(workspace.Params; `pack_controls`): the columns C_* below, the state last. The row is
empty (width 0) for a batch without a controller or the quadrant split
(kernels/quadrants.py, whose flag is column C_QUAD), so a run that uses neither pays one
shape test per hook. The kernels take a private copy of the row per run (params_row) and
write it back at the end of each chunk (the state then carries across chunks).

Hooks (each one line in the step kernels):
- `penalise_bandit` / `penalise_sequence`: after the batch is drawn (and after dynamic
  sampling), before the advantages: r <- r - beta sum_t k_t, then verl's current_kl and
  the coefficient's update (controllers.penalise_rewards);
- `before_update`: the applied entropy coefficient into the run's private fp[F_ENT_COEF]
  (controllers.applied_entropy_coef);
- `measure_bandit` / `measure_sequence`: inside the minibatch's gradient, at the policy
  before the update: TRL's kept-token mean entropy (controllers.kept_entropy_mean);
- `after_update`: the entropy coefficient's step, the update count and TR-DPO's mix of
  pol.zref (controllers.after_update). The KL terms of the step read the reference's
  cache (pol.ref_logp, pol.ref_prob), which keeps the step's starting reference, as the
  reference engine reads `state.ref_logits`; `controls_end` refreshes the cache from the
  mixed logits at the step's end (TRL: a mix takes effect from the next generation);
- `controls_end`: the step's CONTROL_METRICS into the update row.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from simrl import controllers as ctl_ref
from simrl.engine.kernels.codes import F_ENT_COEF
from simrl.engine.kernels.softmax import refresh_rows

#: cp columns: flags and parameters (packed once per run) ...
C_QUAD = 0  # run.audit_quadrants (kernels/quadrants.py)
C_CTL = 1  # any controller (controllers.active)
C_KL_ON, C_KL_KIND, C_KL_ADAPTIVE, C_KL_TARGET, C_KL_HORIZON = 2, 3, 4, 5, 6
C_SYNC, C_ALPHA = 7, 8
C_ENT_ON, C_ENT_TARGET, C_ENT_DELTA, C_ENT_MIN, C_ENT_MAX = 9, 10, 11, 12, 13
#: ... then the state (controllers.ControlState and the step's values)
C_BETA = 14  # the reward KL coefficient
C_COEF = 15  # the adaptive entropy coefficient c
C_LAST_H = 16  # the last update's measured entropy (inf before the first)
C_UPDATES = 17  # optimiser updates so far (TRL's global_step)
C_KL_NOW = 18  # the step's current_kl
C_BETA_USED = 19  # the coefficient the step's penalty used
C_MIXED = 20  # 1 when the step mixed the reference
C_H_MB = 21  # the minibatch's kept-token mean entropy, before its update
N_CP = 22

#: algo.kl_reward_kind's values, in the order of the codes `kl_value` reads
KL_REWARD_KINDS = ("k1", "k2", "k3", "abs", "k1+", "k3+")
#: controllers.VERL_MEAN_GUARD and KL_CTRL_CLIP (literal: numba freezes them; checked below)
VERL_MEAN_GUARD = 1e-8
KL_CTRL_CLIP = 0.2
assert VERL_MEAN_GUARD == ctl_ref.VERL_MEAN_GUARD and KL_CTRL_CLIP == ctl_ref.KL_CTRL_CLIP
assert ctl_ref.FIELDS["kl_reward_kind"][1].metadata["check"].names == KL_REWARD_KINDS

#: update columns a controller adds (controllers.CONTROL_METRICS, in that order)
N_CONTROL_METRICS = len(ctl_ref.CONTROL_METRICS)


def pack_controls(configs) -> np.ndarray:
    """(R, N_CP), or (R, 0) when no run has a controller or the quadrant split: each run's
    flags, parameters and initial state (controllers.initial)."""
    R = len(configs)
    if not any(ctl_ref.active(c.algo) or c.run.audit_quadrants for c in configs):
        return np.zeros((R, 0))
    cp = np.zeros((R, N_CP))
    for r, c in enumerate(configs):
        a = c.algo
        cp[r, C_QUAD] = float(c.run.audit_quadrants)
        cp[r, C_CTL] = float(ctl_ref.active(a))
        cp[r, C_KL_ON] = float(a.kl_in_reward)
        cp[r, C_KL_KIND] = float(KL_REWARD_KINDS.index(a.kl_reward_kind))
        cp[r, C_KL_ADAPTIVE] = float(a.kl_ctrl == "adaptive")
        cp[r, C_KL_TARGET] = a.kl_target
        cp[r, C_KL_HORIZON] = float(a.kl_horizon)
        cp[r, C_SYNC] = float(a.ref_sync_steps)
        cp[r, C_ALPHA] = a.ref_mixup_alpha
        cp[r, C_ENT_ON] = float(a.entropy_adaptive)
        cp[r, C_ENT_TARGET] = a.entropy_target
        cp[r, C_ENT_DELTA] = a.entropy_coef_delta
        cp[r, C_ENT_MIN] = a.entropy_coef_min
        cp[r, C_ENT_MAX] = a.entropy_coef_max
        cp[r, C_BETA] = float(a.kl_reward_coef)
        cp[r, C_COEF] = float(a.entropy_coef)
        cp[r, C_LAST_H] = math.inf
        cp[r, C_UPDATES] = 0.0
        cp[r, C_KL_NOW] = cp[r, C_BETA_USED] = np.nan
    return cp


def extra_update_columns(config) -> int:
    """The update columns a run adds after its family's (batch.names_for's order)."""
    from simrl.engine.dh_breakdown import QUADRANT_METRICS

    return N_CONTROL_METRICS * ctl_ref.active(config.algo) + len(QUADRANT_METRICS) * bool(
        config.run.audit_quadrants
    )


@njit(cache=True)
def has_controls(cp):
    return cp.shape[0] > 0 and cp[C_CTL] == 1.0


@njit(cache=True)
def entropy_adaptive(cp):
    """Does the run adapt its entropy coefficient? (Then every update reads H: seq_update.reads_entropy.)"""
    return cp.shape[0] > 0 and cp[C_ENT_ON] == 1.0


@njit(cache=True)
def kl_value(code, x):
    """The value of the estimator KL_REWARD_KINDS[code] at x = log pi_old - log pi_ref
    (controllers.kl_values: the registry's numpy forms, simrl/algorithms/kl_estimators/;
    a '+' estimator's value is its base's)."""
    if code == 0 or code == 4:  # k1, k1+
        return x
    if code == 1:  # k2
        return 0.5 * x * x
    if code == 3:  # abs
        return abs(x)
    return math.exp(-x) - 1.0 + x  # k3, k3+


@njit(cache=True)
def kl_controller_step(cp, kl_mean_sum, n):
    """After a batch's penalty: verl's current_kl (the mean over the n responses of each
    one's masked token mean, summed into kl_mean_sum; 0 without responses), the
    coefficient that was used, and the adaptive controller's update
    (controllers.kl_controller_update)."""
    beta = cp[C_BETA]
    current = kl_mean_sum / n if n > 0 else 0.0
    cp[C_KL_NOW] = current
    cp[C_BETA_USED] = beta
    if cp[C_KL_ADAPTIVE] == 1.0:
        error = min(max(current / cp[C_KL_TARGET] - 1.0, -KL_CTRL_CLIP), KL_CTRL_CLIP)
        cp[C_BETA] = beta * (1.0 + error * n / cp[C_KL_HORIZON])


@njit(cache=True)
def penalise_bandit(cp, ws, logp_old, ref_logp, n_groups, G):
    """KL in the reward on a bandit batch (reference.step): each response is one token,
    its reward r - beta k(log pi_old(a) - log pi_ref(a)); ws is the BanditWorkspace."""
    if not (has_controls(cp) and cp[C_KL_ON] == 1.0):
        return
    beta, kind = cp[C_BETA], int(cp[C_KL_KIND])
    total = 0.0
    for j in range(n_groups):
        s = ws.bprompt[j]
        for i in range(G):
            a = ws.bans[j, i]
            k = kl_value(kind, logp_old[s, a] - ref_logp[s, a])
            ws.brew[j, i] = ws.brew[j, i] - beta * k
            total += k / (1.0 + VERL_MEAN_GUARD)
    kl_controller_step(cp, total, n_groups * G)


@njit(cache=True)
def penalise_sequence(cp, batch, ti, row_col, tok_col, logp, ref_logp, n_groups, G):
    """KL in the reward on a sampled sequence batch (sequence_ref.step's `kl`): response
    i of group j (its tokens at columns after gstart[j], response by response; ti's rows
    row_col and tok_col their parameter rows and tokens) gets r - beta sum_t k_t; the
    cache logp holds log pi_old (no update yet this step). batch is the SeqBatch."""
    if not (has_controls(cp) and cp[C_KL_ON] == 1.0):
        return
    beta, kind = cp[C_BETA], int(cp[C_KL_KIND])
    total = 0.0
    for j in range(n_groups):
        k = batch.gstart[j]
        for i in range(G):
            length = batch.bresp[1, j, i]
            k_sum = 0.0
            for t in range(k, k + length):
                row, a = ti[row_col, t], ti[tok_col, t]
                k_sum += kl_value(kind, logp[row, a] - ref_logp[row, a])
            batch.brew[j, i] = batch.brew[j, i] - beta * k_sum
            total += k_sum / (length + VERL_MEAN_GUARD)
            k += length
    kl_controller_step(cp, total, n_groups * G)


@njit(cache=True)
def before_update(cp, fp):
    """The entropy coefficient the next update applies: c if the last measured entropy
    <= target, else 0 (TRL; +inf before the first measurement)."""
    if entropy_adaptive(cp):
        fp[F_ENT_COEF] = cp[C_COEF] if cp[C_LAST_H] <= cp[C_ENT_TARGET] else 0.0


@njit(cache=True)
def measure_bandit(cp, ent, bprompt, tcount, lo, hi, n_entries):
    """The kept-token mean entropy of groups lo..hi-1 at the current policy (the bandit
    keeps every token; an exact entry weighs its expected count tcount, the minibatch's
    columns from 0) into cp[C_H_MB]."""
    if not entropy_adaptive(cp):
        return
    num = den = 0.0
    t = 0
    for j in range(lo, hi):
        h = ent[bprompt[j]]
        for _ in range(n_entries):
            num += h * tcount[t]
            den += tcount[t]
            t += 1
    cp[C_H_MB] = num / max(den, 1.0)


@njit(cache=True)
def measure_sequence(cp, ent, trow, tcount, tkeep, N, exact, forking):
    """The kept-token mean entropy of the minibatch's N tokens at the current policy
    (TRL's forking mask tkeep; an exact entry weighs its expected count) into cp[C_H_MB]."""
    if not entropy_adaptive(cp):
        return
    num = den = 0.0
    for t in range(N):
        w = (tcount[t] if exact else 1.0) * (tkeep[t] if forking else 1.0)
        num += ent[trow[t]] * w
        den += w
    cp[C_H_MB] = num / max(den, 1.0)


@njit(cache=True)
def after_update(cp, pol):
    """controllers.after_update after one optimiser update: the entropy coefficient's step
    from the measured entropy, the update count, and every ref_sync_steps updates TR-DPO's
    mix zref <- zref (1 - alpha) + alpha z (TRL _sync_target_model)."""
    if not has_controls(cp):
        return
    if cp[C_ENT_ON] == 1.0:
        e = cp[C_H_MB]
        c = cp[C_COEF]
        if e <= cp[C_ENT_TARGET]:
            c = min(c + cp[C_ENT_DELTA], cp[C_ENT_MAX])
        else:
            c = max(c - cp[C_ENT_DELTA], cp[C_ENT_MIN])
        cp[C_COEF] = c
        cp[C_LAST_H] = e
    cp[C_UPDATES] += 1.0
    every = cp[C_SYNC]
    if every > 0 and cp[C_UPDATES] % every == 0.0:
        alpha = cp[C_ALPHA]
        zref, z = pol.zref, pol.z
        for s in range(z.shape[0]):
            for k in range(z.shape[1]):
                zref[s, k] = zref[s, k] * (1.0 - alpha) + alpha * z[s, k]
        cp[C_MIXED] = 1.0


@njit(cache=True)
def controls_end(cp, pol, upd, col):
    """The step's end: the reference's cache from the mixed logits (if the step mixed),
    and CONTROL_METRICS into upd[col : col + 3] (NaN where that controller is off).
    Returns the next free update column."""
    if not has_controls(cp):
        return col
    if cp[C_MIXED] == 1.0:
        S = pol.zref.shape[0]
        refresh_rows(pol.zref, pol.ref_logp, pol.ref_prob, pol.ent, np.arange(S), S, False)
        cp[C_MIXED] = 0.0
    kl_on = cp[C_KL_ON] == 1.0
    upd[col] = cp[C_KL_NOW] if kl_on else np.nan
    upd[col + 1] = cp[C_BETA_USED] if kl_on else np.nan
    upd[col + 2] = cp[C_COEF] if cp[C_ENT_ON] == 1.0 else np.nan
    return col + N_CONTROL_METRICS
