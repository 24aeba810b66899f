"""The dH breakdown inside the kernels (`run.audit = true`; its numpy form is
engine/dh_breakdown.py): the step's entropy change set against its predictions
(docs/architecture.md, "Five things once called audit").

Per minibatch, per state: the total aggregation weight (Cui's Theorem 1 uses
eta = lr * weight), the one-token first-order changes of the sgd step of each token, and
STEER's two forms. Per step, over the states the step moved: the second-order
prediction and Theorem 1 from the exact expected advantage. Rows of `aud` (4, S): weight,
token, steer_code, steer_eq14.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from simrl.algorithms.tokens import TF_COEF, TF_COUNT, TF_ENT_OLD, TF_LOGP, TF_STEER
from simrl.engine.kernels.codes import F_EW, STEER_PROB_FLOOR
from simrl.engine.kernels.metrics import row_moved


@njit(inline="always", cache=True)
def row_spread(prob, logp, h, s):
    """sum_k pi_k^2 (l_k + H) of state s: the part of a one-token entropy change that does
    not depend on the token (theory.entropy.sampled_token_entropy_change)."""
    spread = 0.0
    for k in range(prob.shape[1]):
        spread += prob[s, k] * prob[s, k] * (logp[s, k] + h)
    return spread


@njit(inline="always", cache=True)
def token_terms(c, w, pa, la, h, spread, steer_adv, h_old):
    """One token evaluation's dH breakdown terms at the current policy, before the factor lr:
    its one-token first-order entropy change c (pi_a (l_a + H) - spread) (theory.entropy),
    STEER's public-code Omega (signed) times -w, and STEER Eq. 14's c (1 - pi_a)^2 (l_a + H).
    c is the token's loss coefficient, w its aggregation weight, pa and la its current
    probability and log-probability, steer_adv = A / pi_old(a) (pi_old clamped)."""
    # STEER clamps pi into [1e-8, 1 - 1e-8]; log of the clamped pi is l_a unless clamped
    pc = min(max(pa, STEER_PROB_FLOOR), 1.0 - STEER_PROB_FLOOR)
    lc = la if pc == pa else math.log(pc)
    return (
        c * (pa * (la + h) - spread),
        -(w * steer_adv * pc * (1.0 - pc) * (lc + h_old)),
        c * (1.0 - pa) * (1.0 - pa) * (la + h),
    )


@njit(cache=True)
def breakdown_minibatch(lr, pol, ws, lo, hi, n_entries, w_seq):
    """Add one minibatch's token terms at the current policy (before its update), from the
    bandit workspace ws's token table (columns lo * n_entries ..; TF_STEER holds
    A / pi_old(a) per token, gathered once per step) into ws.aud. A group's tokens share
    their state, so each group sums into locals and adds once."""
    prob, logp, ent = pol.prob, pol.logp, pol.ent
    bprompt, bans, tok, aud = ws.bprompt, ws.bans, ws.tok, ws.aud
    b0 = lo * n_entries
    tlogp, tsteer, tent_old = tok[TF_LOGP, b0:], tok[TF_STEER, b0:], tok[TF_ENT_OLD, b0:]
    tcount, coef = tok[TF_COUNT, b0:], tok[TF_COEF, b0:]
    t = 0
    for j in range(lo, hi):
        s = bprompt[j]
        h = ent[s]
        spread = row_spread(prob, logp, h, s)
        weight = token = steer_code = steer_eq14 = 0.0
        for i in range(n_entries):
            w = w_seq * tcount[t]
            weight += w
            d_token, d_code, d_eq14 = token_terms(
                coef[t], w, prob[s, bans[j, i]], tlogp[t], h, spread, tsteer[t], tent_old[t]
            )
            token += d_token
            steer_code += d_code
            steer_eq14 += d_eq14
            t += 1
        aud[0, s] += weight
        aud[1, s] += lr * token
        aud[2, s] += lr * steer_code
        aud[3, s] += lr * steer_eq14


@njit(cache=True)
def expected_rewards(fp, correct, fmt, label, out):
    """E[r | a] for every state and answer into out (S, K) (rewards.expected_reward: the
    reward's expectation weights fp[F_EW:F_EW + 5], the same terms in the same order); NaN
    where it is not a function of a alone."""
    S, K = out.shape
    wc, wnc, wl, wf, w1 = fp[F_EW], fp[F_EW + 1], fp[F_EW + 2], fp[F_EW + 3], fp[F_EW + 4]
    for s in range(S):
        for a in range(K):
            c = 1.0 if correct[s, a] else 0.0
            lab = 1.0 if a == label[s] else 0.0
            f = 1.0 if a == fmt[s] else 0.0
            out[s, a] = wc * c + wnc * (1.0 - c) + wl * lab + wf * f + w1


@njit(cache=True)
def breakdown_step(lr, pol, old, aud, rbar, rows, n_rows, out, pp, t, want_pp):
    """Means over moved states of: second order, Theorem 1, token sum, STEER code, Eq. 14;
    with want_pp, every moved state's record into pp[t, s] (AUDIT_PROMPT_COLUMNS).
    rows[:n_rows] are the states the step may have moved, state rows[i] saved in slot i
    of old (a workspace.StepStart; update.save_rows); a state moved when its logits
    changed (metrics.row_moved)."""
    no_mask = np.zeros(0, dtype=np.bool_)
    breakdown_over(lr, pol, old, aud, rbar, rows, n_rows, no_mask, out, pp, t, want_pp)


@njit(cache=True)
def breakdown_over(lr, pol, old, aud, rbar, rows, n_rows, moved, out, pp, t, want_pp):
    """breakdown_step with the moved states given: moved (S,) flags per state, or empty
    for metrics.row_moved's rule (a linear policy's moved states are those whose theta_tab
    moved, step_end.finish_step; kernels/linear_audit.py)."""
    z, ent = pol.z, pol.ent
    z0, prob_old, logp_old, ent_old = old.z0, old.prob_old, old.logp_old, old.ent_old
    K = z.shape[1]
    by_mask = moved.shape[0] > 0
    n = 0
    a0 = a1 = a2 = a3 = a4 = 0.0
    for i in range(n_rows):
        s = rows[i]
        if not (moved[s] if by_mask else row_moved(z, z0, s, i)):
            continue
        n += 1
        h = ent_old[i]
        # one pass of pi-weighted sums; with c = l + H, u = dz, r = E[r | a]:
        #   first  = -sum pi c u
        #   second = -1/2 sum pi (u - E u)^2 (c + 1)
        #          = -1/2 [sum pi u^2 (c+1) - 2 E[u] sum pi u (c+1) + E[u]^2 sum pi (c+1)]
        #   cui    = -eta sum pi c pi (r - E r) = -eta [sum pi^2 c r - E[r] sum pi^2 c]
        eu = er = puc = pu2c1 = puc1 = pc1 = p2cr = p2c = 0.0
        for k in range(K):
            pk = prob_old[i, k]
            if not pk > 0.0:  # theory.entropy's np.where(pi > 0, ...)
                continue
            u = z[s, k] - z0[i, k]
            c = logp_old[i, k] + h
            eu += pk * u
            er += pk * rbar[s, k]
            puc += pk * u * c
            pu2c1 += pk * u * u * (c + 1.0)
            puc1 += pk * u * (c + 1.0)
            pc1 += pk * (c + 1.0)
            p2cr += pk * pk * c * rbar[s, k]
            p2c += pk * pk * c
        first = -puc
        second = -0.5 * (pu2c1 - 2.0 * eu * puc1 + eu * eu * pc1)
        cui = -lr * aud[0, s] * (p2cr - er * p2c)
        a0 += first + second
        a1 += cui
        a2 += aud[1, s]
        a3 += aud[2, s]
        a4 += aud[3, s]
        if want_pp:
            pp[t, s, 0] = ent[s] - h
            pp[t, s, 1] = first
            pp[t, s, 2] = first + second
            pp[t, s, 3] = cui
            pp[t, s, 4] = aud[1, s]
            pp[t, s, 5] = aud[2, s]
            pp[t, s, 6] = aud[3, s]
    out[0] = a0 / n if n > 0 else np.nan
    out[1] = a1 / n if n > 0 else np.nan
    out[2] = a2 / n if n > 0 else np.nan
    out[3] = a3 / n if n > 0 else np.nan
    out[4] = a4 / n if n > 0 else np.nan


@njit(cache=True)
def sequence_terms(lr, pol, aud, trow, ttok, tw, work, tkeep, tlogp, tsteer, tent, N, forking):
    """A sequence minibatch's token terms at the current policy (before its update) into
    aud (4, M): per token t of the minibatch (its parameter row trow[t], token ttok[t],
    aggregation weight tw[t], loss coefficient work[t], forking keep tkeep[t] when forking,
    log pi tlogp[t], STEER's A / pi_old(a) tsteer[t] and H_old tent[t]), its weight and
    token_terms (seq_update.seq_minibatch_gradient gathers them; kernels/hooks.py calls
    this for a run with run.audit)."""
    prob, logp, ent = pol.prob, pol.logp, pol.ent
    for t in range(N):
        row, w = trow[t], tw[t]
        h = ent[row]
        d_token, d_code, d_eq14 = token_terms(
            work[t], w * (tkeep[t] if forking else 1.0), prob[row, ttok[t]], tlogp[t], h,
            row_spread(prob, logp, h, row), tsteer[t], tent[t],
        )  # fmt: skip
        aud[0, row] += w
        aud[1, row] += lr * d_token
        aud[2, row] += lr * d_code
        aud[3, row] += lr * d_eq14
