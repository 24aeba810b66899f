"""Named workspaces: a run's scratch arrays, allocated once per run and read by name in
the step kernels (numba types a named tuple by its fields, and an attribute is resolved
at compile time: no cost over a plain tuple)."""

from __future__ import annotations

from collections import namedtuple

#: the bandit step's scratch (step.workspace, step.step_run)
BanditWorkspace = namedtuple(
    "BanditWorkspace",
    [
        "z0",  # (S, K) the logits at the step's start
        "logp_old",  # (S, K) log pi_old
        "prob_old",  # (S, K) pi_old
        "ent_old",  # (S,) H_old
        "gh_old",  # (S, K) each entry's entropy gradient pi (log pi + H) at the start
        "g",  # (S, K) the minibatch gradient
        "csum",  # (S,) sum of the token coefficients per state
        "wsum",  # (S,) sum of the token weights per state
        "touched",  # (S,) bool
        "rows",  # (S,) the touched states of a minibatch, in order
        "all_rows",  # (S,) the states a step may move (the bandit saves them all)
        "bprompt",  # (P + 1,) the batch's prompts
        "bans",  # (P + 1, n) answers
        "brew",  # (P + 1, n) rewards
        "bcount",  # (P + 1, n) 1 per sampled token; G pi_old(a) in exact mode
        "badv",  # (P + 1, n) advantages
        "order",  # (max(P, S),) prompt order
        "cdf",  # (K,)
        "counts",  # (K,)
        "tok",  # (N_TF, N) the float token table (simrl/algorithms/tokens.py)
        "ti",  # (N_TI, N) the int token table
        "flags",  # (N, 4) int8: clip low, high, dual, selected
        "stats",  # (2,) reward mean, zero-variance share
        "tally",  # (7,) counted, low, high, dual, selected, ppo_kl sum, minibatch updates
        "dh",  # (2,) exact dH, first order
        "aud",  # (4, S) the audit's sums (kernels/audit.py)
        "rbar",  # (S, K) E[r | a], filled by run_chunk when auditing or for ReMax
        "bgreedy",  # (P + 1,) each group's greedy response's reward (ReMax's baseline)
    ],
)

#: the sequence step's scratch (seq_step.seq_workspace): groups of arrays by role
SeqWorkspace = namedtuple(
    "SeqWorkspace", ["old", "grad", "tf", "ti", "flags", "batch", "dp", "ev", "misc"]
)

#: the sequence step's per-step odds and ends (SeqWorkspace.misc)
SeqMisc = namedtuple(
    "SeqMisc",
    [
        "stats",  # (3,) reward mean, zero-variance share, mean length
        "tally",  # (10,): seq_update's 8, then the ppo_kl sum and the minibatch updates
        "dh",  # (2,)
        "aud",  # (4, M) (kernels/audit.py)
        "qrow",  # (M, V)
        "wrow",  # (M,)
        "saved",  # (M,) bool: rows saved in old this step
        "saved_rows",  # (M,)
        "n_saved",  # (1,)
        "kl_row",  # (M,) KL(pi_row || base_row), kept with the cache
    ],
)
