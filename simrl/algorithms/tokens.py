"""The token batch every engine hands a policy loss: one layout, three forms.

A minibatch is N tokens. Per token it carries what the losses of the field read: the
current and sampling log-probabilities of the token, its advantage (the sequence's,
broadcast), the sampling policy's entropy at the token's state, Clip-Cov's uniform key,
and, so that a sequence-level rule (one ratio per response, a per-response mask) is one
function per engine, the token's response index in the step's batch, its position in
that response and the response's length. A bandit answer is the length-1 case: response
index = the answer's entry in the batch, position 0, length 1. In `algo.exact` mode on a
sequence task an entry is a state of the task's graph, not a response: response 0,
position = the state's depth, length 0 (a sequence-level rule has no exact form there).

- numpy (the reference): `TokenBatch`, arrays of shape (N,); a loss returns `LossOut`.
- numba (the kernels): two tables, float `tf` (N_TF, capacity) and int32 `ti` (N_TI,
  capacity); a minibatch is columns b0 .. b0 + N - 1, rows named by the constants below.
  A loss writes d loss / d logp into row TF_DLOGP and its token flags into `flags`
  (capacity, 4): clip low, clip high, dual clip, selected.
- torch (the bridge): `TorchTokens`, tensors of shape (N,); `logp` carries gradient; a
  loss returns `TorchLossOut`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import numpy as np

if TYPE_CHECKING:
    import torch

# ---- numpy ----------------------------------------------------------------------------


class TokenBatch(NamedTuple):
    logp: np.ndarray  # (N,) log pi(a_t) under the current policy
    logp_old: np.ndarray  # (N,) log pi_old(a_t) under the policy that sampled the batch
    adv: np.ndarray  # (N,) advantage broadcast to the token
    entropy_old: np.ndarray  # (N,) full entropy of the sampling policy at the token's state
    keys: np.ndarray | None  # (N,) uniforms for random token selection (Clip-Cov)
    seq: np.ndarray  # (N,) int: the token's response in the step's batch (0-based)
    pos: np.ndarray  # (N,) int: the token's position in its response (0-based)
    length: np.ndarray  # (N,) int: its response's length in tokens


class LossOut(NamedTuple):
    loss: np.ndarray  # (N,)
    dlogp: np.ndarray  # (N,) d loss / d logp
    clip_low: np.ndarray  # (N,) bool: the lower clip acted on the token
    clip_high: np.ndarray  # (N,) bool: the upper clip acted on the token
    clip_dual: np.ndarray  # (N,) bool: A < 0 and ratio > dual_clip
    selected: np.ndarray  # (N,) bool: chosen by a token-selection rule (Clip-Cov / KL-Cov)


def bandit_positions(first: int, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(seq, pos, length) of n one-token responses, the first the batch's entry `first`:
    each token its own response."""
    return first + np.arange(n), np.zeros(n, dtype=np.int64), np.ones(n, dtype=np.int64)


# ---- numba: rows of the token tables --------------------------------------------------
# float rows; rows only some configs read are filled only then: H_old (STEER, the
# audit), the count (exact mode; a sampled token counts 1), the weight and coefficient
# (the audit), the keep mask (the forking rule)
TF_LOGP_OLD, TF_ADV, TF_ENT_OLD, TF_COUNT, TF_LOGP, TF_KEYS, TF_DLOGP = 0, 1, 2, 3, 4, 5, 6
TF_COEF, TF_RATIO, TF_STEER, TF_WEIGHT, TF_KEEP, TF_SORT = 7, 8, 9, 10, 11, 12
# the rollout sampler's TIS weight of the token (kernels/rollout_sampler.py; filled only
# with algo.tis, which multiplies TF_DLOGP by it: kernels/tis.py)
TF_IS = 13
N_TF = 14
# int rows: parameter row, token, response in the batch, position, forking state (0/1),
# length of the token's response
TI_ROW, TI_TOK, TI_SEQ, TI_POS, TI_FORK, TI_LEN = 0, 1, 2, 3, 4, 5
N_TI = 6
# columns of the flags table
FL_LOW, FL_HIGH, FL_DUAL, FL_SELECTED = 0, 1, 2, 3

# ---- torch ----------------------------------------------------------------------------


class TorchTokens(NamedTuple):
    logp: torch.Tensor  # (N,) log pi(a_t), with gradient
    logp_old: torch.Tensor  # (N,) under the sampling policy
    adv: torch.Tensor  # (N,) sequence advantage broadcast to the token
    entropy_old: torch.Tensor  # (N,) sampling policy's full-vocabulary entropy at the prefix
    keys: np.ndarray | None  # (N,) uniforms for Clip-Cov's random choice
    seq: torch.Tensor | None = None  # (N,) the token's response in the step's batch
    pos: torch.Tensor | None = None  # (N,) its position in the response
    length: torch.Tensor | None = None  # (N,) its response's length


class TorchLossOut(NamedTuple):
    loss: torch.Tensor  # (N,)
    clip_low: torch.Tensor  # (N,) bool
    clip_high: torch.Tensor  # (N,) bool
    clip_dual: torch.Tensor  # (N,) bool
    selected: torch.Tensor  # (N,) bool
