"""The sequence step's optimiser update (update.apply_gradient) with the moved states'
metrics (seq_step.moved_rows) fused into the step's last softmax refresh.

A sequence step touches a scattered third of its parameter rows (W2: ~1,650 of 4,609),
and its end-of-step pass over them (moved_rows: H, KL to the base, finiteness, exact dH,
first order, step KL) read each one back from memory after the last refresh had just
written it, ~9 scattered cache lines per row (~19% of a W2 step's cycles on main). Here
the last update of the step
(`last`: the last minibatch of the last epoch) computes those metrics for each row it
refreshes while the row is in cache, and stores them per slot (the row's place in
saves.old, update.save_rows); `moved_sums` then computes the rows the last update did
not refresh (a later minibatch that missed them) as moved_rows did, and sums every
slot's values in slot order: the same terms added in the same order as moved_rows, so
the metrics are bitwise those of moved_rows.

The saved starting values drop gh_old (each entry's metrics.entropy_grad): it is
computed from pi_old, log pi_old and H_old where the first-order term needs it, the same
arithmetic (one multiply-add more per entry against a stream of stores and loads).
The refresh's scratch is the workspace's (`SeqFuse.buf`), not an allocation per update.

Measured (docs/performance.md, "The sequence step toward the speed of light"): on the
2-core host of 2026-12-07 neither faster nor slower than the separate passes (paired in
one process, median 0.99, spread +-20%): the metrics' arithmetic, not the reads, bounds
the pass there.
"""

from __future__ import annotations

import math
from collections import namedtuple

import numpy as np
from numba import njit

from simrl.engine.kernels.codes import I_OPT_EVERY
from simrl.engine.kernels.fastmath import fast_exp_nonpos
from simrl.engine.kernels.metrics import (
    EXPONENT_BITS,
    entropy_change_means,
    entropy_grad,
)
from simrl.engine.kernels.softmax import row_entropy, row_sum, weighted
from simrl.engine.kernels.update import finish_gradient

#: the fused pass's state: slot_of (M,) each saved row's slot in saves.old; buf (M (V + 2),)
#: the refresh's scratch; mv (4, M) per slot: moved (1.0 / 0.0), H - H_old, first-order
#: term, step KL; done (M,) per slot: its metrics are in mv; top (1,) the largest exponent
#: field of the saved rows' logits (metrics.row_top_exponent); all_rows (M,) 0..M-1; and
#: two step buffers that were allocated every step: walk (5, G, max_len), the responses'
#: walks (seq_sampling.sample_group), and dist (S, A), the final answer's distribution
#: (seq_metrics.answer_entropy)
SeqFuse = namedtuple("SeqFuse", ["slot_of", "buf", "mv", "done", "top", "all_rows", "walk", "dist"])


@njit(cache=True)
def seq_fuse(M, V, G, max_len, S, A):
    """A run's SeqFuse (allocated once per run, reused by every step)."""
    return SeqFuse(
        np.zeros(M, dtype=np.int64),
        np.empty(M * (V + 2)),
        np.zeros((4, M)),
        np.zeros(M, dtype=np.bool_),
        np.zeros(1, dtype=np.int64),
        np.arange(M),
        np.empty((5, G, max_len), dtype=np.int64),
        np.zeros((S, A)),
    )


@njit(cache=True)
def seq_save_rows(z, logp, prob, ent, rows, n_rows, every, saves, slot_of):
    """update.save_rows without gh_old (row_metrics computes it), and slot_of[s] = the
    slot of each newly saved state s."""
    saved, saved_rows, n_saved = saves.saved, saves.saved_rows, saves.n_saved
    z0, logp_old, prob_old, ent_old = (
        saves.old.z0, saves.old.logp_old, saves.old.prob_old, saves.old.ent_old
    )  # fmt: skip
    S, K = z.shape
    n = n_saved[0]
    for i in range(S if every else n_rows):
        s = i if every else rows[i]
        if saved[s]:
            continue
        saved[s] = True
        saved_rows[n] = s
        slot_of[s] = n
        for k in range(K):
            z0[n, k] = z[s, k]
            logp_old[n, k] = logp[s, k]
            prob_old[n, k] = prob[s, k]
        ent_old[n] = ent[s]
        n += 1
    n_saved[0] = n


@njit(inline="always", cache=True)
def entry_terms(z, z0, prob, logp, base_logp, prob_old, logp_old, h_old, s, i, k, acc, bits):
    """One entry's share of row_metrics' sums: acc = (H's, KL to the base's, the first
    order's and the step KL's partial sums, the largest exponent field, moved)."""
    e, b, f, q, top, moved = acc
    p, lp, zz, zo = prob[s, k], logp[s, k], z[s, k], z0[i, k]
    po, lo = prob_old[i, k], logp_old[i, k]
    e += weighted(p, lp)  # softmax.row_entropy
    b += weighted(p, lp - base_logp[s, k])  # softmax.row_dot_diff (seq_metrics.base_kl)
    top = max(top, bits[s, k] & EXPONENT_BITS)  # metrics.row_top_exponent
    moved |= zz != zo  # metrics.row_moved
    f += entropy_grad(po, lo, h_old) * (zz - zo)  # metrics.row_first_order_kl
    q += weighted(po, lo - lp)
    return e, b, f, q, top, moved


@njit(inline="always", cache=True)
def row_metrics(pol, old, base_logp, kl_row, s, i, set_ent, fuse, bits):
    """moved_rows' work on state s (slot i) in one loop over its entries, each sum with
    the partial sums of the function it replaces (H and the KL to the base: four, by k mod
    4 and a tail into the first; the first order and the step KL: two, by k mod 2): H into
    ent[s] with set_ent, KL(pi || base) into kl_row[s], the rest into fuse (per slot)."""
    z, prob, logp, ent = pol.z, pol.prob, pol.logp, pol.ent
    z0, prob_old, logp_old = old.z0, old.prob_old, old.logp_old
    h_old = old.ent_old[i]
    K = z.shape[1]
    top = fuse.top[0]
    a0 = (0.0, 0.0, 0.0, 0.0, top, False)
    a1 = a2 = a3 = (0.0, 0.0, 0.0, 0.0, top, False)
    k = 0
    while k + 4 <= K:
        a0 = entry_terms(z, z0, prob, logp, base_logp, prob_old, logp_old, h_old, s, i, k, a0, bits)
        a1 = entry_terms(
            z, z0, prob, logp, base_logp, prob_old, logp_old, h_old, s, i, k + 1, a1, bits
        )
        # the first order's and step KL's even entries go on in a0, odd ones in a1
        a2 = entry_terms(
            z, z0, prob, logp, base_logp, prob_old, logp_old, h_old, s, i, k + 2,
            (a2[0], a2[1], a0[2], a0[3], a2[4], a2[5]), bits,
        )  # fmt: skip
        a3 = entry_terms(
            z, z0, prob, logp, base_logp, prob_old, logp_old, h_old, s, i, k + 3,
            (a3[0], a3[1], a1[2], a1[3], a3[4], a3[5]), bits,
        )  # fmt: skip
        a0 = (a0[0], a0[1], a2[2], a2[3], a0[4], a0[5])
        a1 = (a1[0], a1[1], a3[2], a3[3], a1[4], a1[5])
        k += 4
    while k < K:  # the tail: H and the base KL into a0's, the rest by parity
        if k % 2 == 0:
            a0 = entry_terms(
                z, z0, prob, logp, base_logp, prob_old, logp_old, h_old, s, i, k, a0, bits
            )
        else:
            t = entry_terms(
                z, z0, prob, logp, base_logp, prob_old, logp_old, h_old, s, i, k,
                (a0[0], a0[1], a1[2], a1[3], a1[4], a1[5]), bits,
            )  # fmt: skip
            a0 = (t[0], t[1], a0[2], a0[3], a0[4], a0[5])
            a1 = (a1[0], a1[1], t[2], t[3], t[4], t[5])
        k += 1
    if set_ent:
        ent[s] = -((a0[0] + a1[0]) + (a2[0] + a3[0]))
    kl_row[s] = (a0[1] + a1[1]) + (a2[1] + a3[1])
    fuse.top[0] = max(max(a0[4], a1[4]), max(a2[4], a3[4]))
    moved = a0[5] or a1[5] or a2[5] or a3[5]
    mv = fuse.mv
    mv[0, i] = 1.0 if moved else 0.0
    mv[1, i] = ent[s] - h_old
    mv[2, i] = a0[2] + a1[2]
    mv[3, i] = a0[3] + a1[3]
    fuse.done[i] = True


@njit(cache=True)
def refresh_fused(pol, rows, n_rows, with_ent, fuse, last, old, base_logp, kl_row):
    """softmax.refresh_rows of rows[:n_rows] (the same phases and arithmetic, its scratch
    fuse.buf); on the step's last update (`last`) each row's row_metrics right after its
    log pi, while the row is in cache."""
    z, logp, prob, ent = pol.z, pol.logp, pol.prob, pol.ent
    K = z.shape[1]
    buf = fuse.buf
    mx, lse, e = buf[:n_rows], buf[n_rows : 2 * n_rows], buf[2 * n_rows : n_rows * (K + 2)]
    for i in range(n_rows):
        s = rows[i]
        m = z[s, 0]
        for k in range(1, K):
            if z[s, k] > m:
                m = z[s, k]
        mx[i] = m
    for i in range(n_rows):
        s = rows[i]
        for k in range(K):
            e[i * K + k] = z[s, k] - mx[i]
    for j in range(n_rows * K):  # vectorised; z - max z <= 0
        e[j] = fast_exp_nonpos(e[j])
    e_rows = e.reshape(n_rows, K)
    for i in range(n_rows):
        s = rows[i]
        tot = row_sum(e_rows, i)
        lse[i] = math.log(tot)
        inv = 1.0 / tot
        for k in range(K):
            prob[s, k] = e_rows[i, k] * inv
    slot_of = fuse.slot_of
    bits = z.view(np.int64)
    for i in range(n_rows):
        s = rows[i]
        for k in range(K):
            logp[s, k] = z[s, k] - mx[i] - lse[i]
        if with_ent:
            ent[s] = row_entropy(prob, logp, s)
        if last:
            row_metrics(pol, old, base_logp, kl_row, s, slot_of[s], not with_ent, fuse, bits)


@njit(cache=True)
def seq_apply_gradient(run, opt_fn, pol, grad, n_rows, saves, with_ent, fuse, last, base_logp,
                       kl_row):  # fmt: skip
    """update.apply_gradient for the sequence step (always with saves), with
    seq_save_rows and refresh_fused (the moved rows' metrics on the step's last update)."""
    ip = run.ip
    z, logp, prob, ent = pol.z, pol.logp, pol.prob, pol.ent
    g, touched, rows = grad.g, grad.touched, grad.rows
    S = z.shape[0]
    every = ip[I_OPT_EVERY] == 1  # the optimiser may move every entry (adam)
    every_row = every or n_rows == S
    seq_save_rows(z, logp, prob, ent, rows, n_rows, every, saves, fuse.slot_of)
    finish_gradient(run, pol, grad, n_rows)
    opt_fn(run.op, z, g, prob, pol.m, pol.v, pol.adam_t, rows, n_rows)  # leaves g zero
    for i in range(n_rows):
        touched[rows[i]] = False
    if every_row:
        refresh_fused(pol, fuse.all_rows, S, with_ent, fuse, last, saves.old, base_logp, kl_row)
    else:
        refresh_fused(pol, rows, n_rows, with_ent, fuse, last, saves.old, base_logp, kl_row)


@njit(cache=True)
def moved_sums(pol, old, base_logp, rows, n_rows, with_ent, dh, kl_row, fuse):
    """seq_step.moved_rows from the fused pass: row_metrics for the saved states
    rows[:n_rows] the last update did not refresh (H too with with_ent), then the sums in
    slot order (exact dH, first order, step KL into dh). Returns whether every saved
    row's logits are finite. Leaves fuse ready for the next step."""
    mv, done = fuse.mv, fuse.done
    bits = pol.z.view(np.int64)
    for i in range(n_rows):
        if not done[i]:
            row_metrics(pol, old, base_logp, kl_row, rows[i], i, with_ent, fuse, bits)
    n, dh_sum, fo, kl = 0, 0.0, 0.0, 0.0
    for i in range(n_rows):
        done[i] = False
        if mv[0, i] != 0.0:
            n += 1
            dh_sum += mv[1, i]
            fo -= mv[2, i]
            kl += mv[3, i]
    entropy_change_means(n, dh_sum, fo, dh)
    dh[2] = kl / n if n > 0 else np.nan
    top = fuse.top[0]
    fuse.top[0] = 0
    return top != EXPONENT_BITS
