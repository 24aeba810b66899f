"""STEER's four quadrants in the kernels (`run.audit_quadrants`; the numpy form is
engine/dh_breakdown.py's BreakdownSums.add_quadrants and quadrant_metrics, the
definitions theory/NOTES.md, "STEER's four quadrants").

Per minibatch, at the policy before its update, each token goes to quadrant
2 [A <= 0] + [log pi_old(a) + H_old <= 0] and adds there its one-token first-order
entropy change (the dH breakdown's token term, kernels/breakdown.py) and its sgd
displacement -lr c_t (e_a - pi). At the step's end, over the states the step moved: each
quadrant's first-order sum, the exact change of its displacement alone, and the
residual dH_exact - the four first-order sums (QUADRANT_METRICS).

The sums live in a `Quadrants` (the workspaces' `quad` field), zero-sized unless the run
has the split (its flag: the controllers' row, kernels/controllers.py C_QUAD), so a run
without it pays one shape test per hook.
"""

from __future__ import annotations

import math
from collections import namedtuple

import numpy as np
from numba import njit

from simrl.algorithms.tokens import TF_ADV, TF_COEF, TF_ENT_OLD, TF_LOGP_OLD
from simrl.engine.kernels.breakdown import row_spread
from simrl.engine.kernels.controllers import C_QUAD
from simrl.engine.kernels.metrics import row_moved

#: per quadrant and state: the one-token first-order sums first (4, S), the displacements
#: dz (4, S, K), and the minibatch's coefficient sums csum (4, S) (the - lr c pi part of
#: a displacement is added once per state and minibatch, as the numpy form's bincount)
Quadrants = namedtuple("Quadrants", ["first", "dz", "csum"])

#: dh_breakdown.QUADRANT_METRICS: 4 first-order sums, 4 alone, the residual
N_QUADRANT_METRICS = 9


@njit(cache=True)
def has_quadrants(cp):
    return cp.shape[0] > 0 and cp[C_QUAD] == 1.0


@njit(cache=True)
def quadrant_sums(cp, S, K):
    """A run's Quadrants: (4, S), (4, S, K), (4, S) zeros with the split, else empty."""
    if has_quadrants(cp):
        return Quadrants(np.zeros((4, S)), np.zeros((4, S, K)), np.zeros((4, S)))
    return Quadrants(np.zeros((4, 0)), np.zeros((4, 0, 0)), np.zeros((4, 0)))


@njit(cache=True)
def quadrant_of(adv, logp_old, h_old):
    """2 [A <= 0] + [log pi_old(a) + H_old <= 0] (dh_breakdown.add_quadrants)."""
    return (2 if adv <= 0.0 else 0) + (1 if logp_old + h_old <= 0.0 else 0)


@njit(cache=True)
def add_token(q, lr, c, k, s, a, pa, la, h, spread):
    """One token of quadrant k at state s: its one-token change lr c (pi_a (l_a + H) -
    spread) (theory.entropy.sampled_token_entropy_change with weight -c) and its
    displacement's e_a part -lr c."""
    q.first[k, s] += lr * (c * (pa * (la + h) - spread))
    q.dz[k, s, a] += -lr * c
    q.csum[k, s] += c


@njit(cache=True)
def spread_displacements(q, lr, prob, rows, n_rows):
    """The - lr c pi part of the minibatch's displacements, per touched state and
    quadrant: dz[k, s] += (lr sum_t c_t) pi_s; then clear the coefficient sums."""
    K = prob.shape[1]
    for i in range(n_rows):
        s = rows[i]
        for k in range(4):
            cs = q.csum[k, s]
            if cs != 0.0:
                scale = lr * cs
                for v in range(K):
                    q.dz[k, s, v] += scale * prob[s, v]
                q.csum[k, s] = 0.0


@njit(cache=True)
def quadrant_bandit(cp, lr, pol, ws, lo, hi, n_entries, rows, n_rows):
    """A bandit minibatch's tokens (groups lo..hi-1, ws's token table, their coefficients
    c in TF_COEF) into ws.quad, at the policy before the update; rows[:n_rows] are the
    minibatch's states."""
    if not has_quadrants(cp):
        return
    prob, logp, ent = pol.prob, pol.logp, pol.ent
    tok, q = ws.tok, ws.quad
    t = lo * n_entries
    for j in range(lo, hi):
        s = ws.bprompt[j]
        h = ent[s]
        spread = row_spread(prob, logp, h, s)
        for i in range(n_entries):
            a = ws.bans[j, i]
            k = quadrant_of(tok[TF_ADV, t], tok[TF_LOGP_OLD, t], tok[TF_ENT_OLD, t])
            add_token(q, lr, tok[TF_COEF, t], k, s, a, prob[s, a], logp[s, a], h, spread)
            t += 1
    spread_displacements(q, lr, prob, rows, n_rows)


@njit(cache=True)
def quadrant_sequence(cp, lr, pol, q, tf, trow, ttok, b0, N, rows, n_rows):
    """A sequence minibatch's N tokens (columns b0.. of the token table tf; their
    parameter rows trow and tokens ttok from column 0, their coefficients c in TF_COEF)
    into q, at the policy before the update; rows[:n_rows] are the minibatch's rows."""
    if not has_quadrants(cp):
        return
    prob, logp, ent = pol.prob, pol.logp, pol.ent
    for t in range(N):
        s, a = trow[t], ttok[t]
        h = ent[s]
        col = b0 + t
        k = quadrant_of(tf[TF_ADV, col], tf[TF_LOGP_OLD, col], tf[TF_ENT_OLD, col])
        spread = row_spread(prob, logp, h, s)
        add_token(q, lr, tf[TF_COEF, col], k, s, a, prob[s, a], logp[s, a], h, spread)
    spread_displacements(q, lr, prob, rows, n_rows)


@njit(cache=True)
def shifted_entropy(z0, i, dz, k, s):
    """H(softmax(z0[i] + dz[k, s])) (theory.entropy over p > 0)."""
    K = z0.shape[1]
    m = -np.inf
    for v in range(K):
        m = max(m, z0[i, v] + dz[k, s, v])
    tot = 0.0
    for v in range(K):
        tot += math.exp(z0[i, v] + dz[k, s, v] - m)
    lse = math.log(tot)
    h = 0.0
    for v in range(K):
        lv = z0[i, v] + dz[k, s, v] - m - lse
        p = math.exp(lv)
        if p > 0.0:
            h -= p * lv
    return h


@njit(cache=True)
def quadrants_end(cp, q, pol, old, rows, n_rows, upd, col):
    """QUADRANT_METRICS into upd[col : col + 9], means over the moved states among
    rows[:n_rows] (state rows[i] saved in slot i of old, a workspace.StepStart; NaN when
    none moved); then clear those states' sums for the next step."""
    if not has_quadrants(cp):
        return
    z, ent = pol.z, pol.ent
    z0, ent_old = old.z0, old.ent_old
    K = z.shape[1]
    sums = np.zeros(N_QUADRANT_METRICS)
    n = 0
    for i in range(n_rows):
        s = rows[i]
        if row_moved(z, z0, s, i):
            n += 1
            total = 0.0
            for k in range(4):
                f = q.first[k, s]
                sums[k] += f
                total += f
                sums[4 + k] += shifted_entropy(z0, i, q.dz, k, s) - ent_old[i]
            sums[8] += (ent[s] - ent_old[i]) - total
        for k in range(4):
            q.first[k, s] = 0.0
            for v in range(K):
                q.dz[k, s, v] = 0.0
    for j in range(N_QUADRANT_METRICS):
        upd[col + j] = sums[j] / n if n > 0 else np.nan
