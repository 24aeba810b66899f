"""The bridge's token choice: temperature, top-k and top-p warping, inverse-CDF sampling,
the sampler's log-probabilities per token, and stale rollouts (the policy k updates old).

The rules are simrl/rollout_sampling.py's (the numpy reference's; docs/adding-an-algorithm.md,
"The rollout sampler"), on a language model's logits:

- the sampler q draws from softmax(z_b / T) truncated by top-k, then top-p, renormalised:
  transformers 5.25 `TemperatureLogitsWarper` (scores / T), `TopKLogitsWarper` (remove
  scores < the k-th largest: ties at it kept), `TopPLogitsWarper` (sort ascending, remove
  the tokens whose ascending cumulative probability is <= 1 - top_p, never the largest;
  min_tokens_to_keep 1), in that order (TRL's generate path, vLLM's sampler); top-p's
  removed set is computed without sorting the vocabulary (`top_p_drop`, bitwise the full
  sort's `top_p_drop_sorted`; theory/NOTES.md, "Fast top-p").
  tests/bridge/test_sampler.py holds `warp` against the installed warpers at 1e-10;
- a token is the first whose cumulative probability exceeds the row's uniform (the run's
  numpy Generator), never past the last token with positive probability (the sequence
  reference's `inverse_cdf`); the untruncated path is the bridge's sampler as it was,
  bitwise (clamped to the last token);
- log q(token) is recorded per (sequence, position) (`Record.logq`), and with `sum_sq`
  sum_v q(v)^2 at each position (`Record.sum_sq`): what TIS (rho = pi_T,old / q), the
  unlikeliness reward (exp of the mean log q of a response) and optimal_token_baseline
  (1 - 2 q(y) + sum_v q(v)^2 per token) read. Without top-p, top-k or staleness, q is the
  policy pi_old (softmax(logits / T) of the decoding forward: equal to the scoring
  forward's up to float rounding, ~1e-6 in float32), so those read pi_old as the
  reference engines do;
- staleness k: `StaleRing` keeps the parameters of the last k step starts and loads the
  oldest (the start of step max(t - k, 0)) into a copy of the policy that samples the
  step's rollouts (the reference's `RunState.history` ring of logits, per parameter).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Sampler:
    """How a token is chosen: q = softmax(z / temperature) truncated by top_k, top_p."""

    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    #: record sum_v q(v)^2 at each position (optimal_token_baseline's score norms)
    sum_sq: bool = False

    @property
    def warps(self) -> bool:
        """Does q truncate (top-k or top-p)?"""
        return self.top_p < 1.0 or self.top_k > 0

    @classmethod
    def of(cls, cfg) -> Sampler:
        """A bridge run's rollout sampler (bridge.temperature, algo.top_p, algo.top_k)."""
        from simrl.algorithms.advantage import ADVANTAGES

        a = cfg.algo
        return cls(
            cfg.bridge.temperature,
            a.top_p,
            a.top_k,
            sum_sq=ADVANTAGES[a.advantage].token_baseline,
        )


def as_sampler(s) -> Sampler:
    """A Sampler, or a temperature (the sampler of the plain policy)."""
    return s if isinstance(s, Sampler) else Sampler(float(s))


@dataclass
class Record:
    """What the sampler recorded per (sequence, position), 0 where nothing was generated."""

    logq: torch.Tensor  # (B, T) float64: log q of the chosen token
    sum_sq: torch.Tensor | None  # (B, T) float64: sum_v q(v)^2, or None (not asked)

    @classmethod
    def empty(cls, B: int, T: int, sum_sq: bool, device) -> Record:
        z = torch.zeros((B, T), dtype=torch.float64, device=device)
        return cls(z, z.clone() if sum_sq else None)

    def put(self, rows, t: int, logq, sum_sq) -> None:
        self.logq[rows, t] = logq
        if self.sum_sq is not None:
            self.sum_sq[rows, t] = sum_sq


def warp(z: torch.Tensor, top_p: float, top_k: int) -> torch.Tensor:
    """Tempered logits z (rows over the vocabulary) with top-k, then top-p applied, removed
    entries -inf (transformers TopKLogitsWarper, TopPLogitsWarper; min_tokens_to_keep 1).
    Top-p removes what `top_p_drop_sorted` removes (the sort is stable, as the reference's
    numpy argsort: ties are cut alike), computed by `top_p_drop` without sorting the whole
    vocabulary."""
    V = z.shape[-1]
    if 0 < top_k < V:  # keep the logits >= the k-th largest
        kth = torch.topk(z, top_k, dim=-1).values[..., -1:]
        z = z.masked_fill(z < kth, float("-inf"))
    if top_p < 1.0:
        z = z.masked_fill(top_p_drop(z, top_p), float("-inf"))
    return z


def top_p_drop_sorted(z: torch.Tensor, top_p: float) -> torch.Tensor:
    """The tokens top-p removes, by a full sort (transformers 5.25 TopPLogitsWarper, with a
    stable sort): sort each row ascending, remove the tokens whose ascending cumulative
    probability is <= 1 - top_p, never the largest. Bool, z's shape."""
    sorted_z, order = torch.sort(z, dim=-1, stable=True)  # ascending
    cum = torch.softmax(sorted_z, dim=-1).cumsum(dim=-1)
    remove = cum <= 1.0 - top_p
    remove[..., -1] = False  # the largest is always kept
    return remove.scatter(-1, order, remove)


#: the fast top-p's first candidate count per row
TOP_P_K0 = 64
#: a row whose kept set may hold more than this share of the vocabulary takes the full
#: sort (a partial selection of that many costs about as much)
TOP_P_SORT_SHARE = 1 / 8


def top_p_margin(V: int, dtype) -> float:
    """The rounding margin of `top_p_drop` (theory/NOTES.md, "Fast top-p"): a bound on the
    difference between the full sort's ascending cumulative probability of a token and 1
    minus the descending cumulative probability the fast path computes, both in float:
    each is a sum of at most V softmax terms, each term and each partial sum within
    (2.4 V + 3) u of the exact value (u = eps / 2); 8 (V + 2) eps is over twice the sum of
    the two."""
    return 8.0 * (V + 2) * torch.finfo(dtype).eps


def top_p_drop(z: torch.Tensor, top_p: float, k0: int = TOP_P_K0) -> torch.Tensor:
    """`top_p_drop_sorted` bitwise, without sorting the vocabulary (theory/NOTES.md,
    "Fast top-p").

    In exact arithmetic the full sort keeps, in descending order with ties by descending
    index (the ascending stable order reversed), the first n tokens, n = 1 + the number of
    positions j whose cumulative probability c_j (tokens 0..j) is < top_p. Per row: the k
    largest logits (torch.topk), their probabilities from the row's softmax, c by cumsum.
    Where no c_j lies within the rounding margin of top_p (`top_p_margin`), the full
    sort's float comparisons decide as the exact ones do, so n is the full sort's: keep
    the tokens above the n-th largest value t and, of those equal to t, the highest
    indices (the ties the ascending stable sort puts last). A row whose k largest hold
    less than top_p + margin tries again with k' = max(2 k, k + (top_p - c_{k-1}) / q_k)
    (q_k the k-th probability: every further token has at most q_k, so fewer cannot
    reach top_p). A row with a c_j within the margin, or whose k' exceeds
    TOP_P_SORT_SHARE of the vocabulary, takes the full sort; so does a vocabulary of at
    most 4 k0 tokens."""
    shape, V = z.shape, z.shape[-1]
    if V <= 4 * k0:  # a small vocabulary: its sort is cheaper than the selection
        return top_p_drop_sorted(z, top_p)
    z2 = z.reshape(-1, V)
    R = z2.shape[0]
    drop = torch.ones(z2.shape, dtype=torch.bool, device=z.device)
    margin = top_p_margin(V, z.dtype)
    lo, hi = top_p - margin, top_p + margin
    lse = torch.logsumexp(z2, dim=-1, keepdim=True)  # log of the softmax normaliser
    rows = torch.arange(R, device=z.device)
    slow = []
    most = max(1, int(V * TOP_P_SORT_SHARE))
    k = min(k0, V - 1)
    while rows.numel() and k > 0:
        zr = z2 if rows.numel() == R else z2[rows]
        vals, _ = torch.topk(zr, k, dim=-1)  # descending
        pk = torch.exp(vals - lse[rows])  # their probabilities
        cum = pk.cumsum(-1)
        n_lo = (cum < lo).sum(-1)  # positions surely below top_p
        n_hi = (cum < hi).sum(-1)  # positions not surely above it
        ambiguous = n_lo != n_hi
        done = ~ambiguous & (n_hi < k)
        slow.append(rows[ambiguous])
        if done.any():
            n = n_hi[done] + 1  # kept count
            vd = vals[done]
            t = vd.gather(-1, (n - 1)[:, None])  # the n-th largest value
            zd = zr[done]
            keep = zd >= t
            # ties at t beyond the n-th: the (n + 1)-th largest equals t (or n = k: unknown)
            nxt = vd.gather(-1, n.clamp(max=k - 1)[:, None])
            tied = ((n < k) & (nxt[:, 0] == t[:, 0])) | (n == k)
            if tied.any():  # of the ties, keep the highest indices only
                zt, tt = zd[tied], t[tied]
                eq = zt == tt
                need = n[tied, None] - (zt > tt).sum(-1, keepdim=True)
                from_end = eq.flip(-1).cumsum(-1).flip(-1)  # ties at index >= i
                keep[tied] = (zt > tt) | (eq & (from_end <= need))
            drop[rows[done]] = ~keep
        more = ~ambiguous & ~done
        if not more.any():
            break
        short = (hi - cum[more, -1]).clamp(min=0.0)
        tail = pk[more, -1].clamp(min=torch.finfo(z.dtype).tiny)
        need = (k + torch.ceil(short / tail)).clamp(max=float(V))  # tokens needed at least
        rows = rows[more]
        big = need > most
        slow.append(rows[big])
        rows, need = rows[~big], need[~big]
        if rows.numel():
            k = min(max(2 * k, int(need.max())), V - 1)
    slow.append(rows if k <= 0 else rows[:0])
    slow = torch.cat(slow)
    if slow.numel() == R:  # every row takes the sort: no copies
        return top_p_drop_sorted(z, top_p)
    if slow.numel():
        drop[slow] = top_p_drop_sorted(z2[slow], top_p)
    return drop.reshape(shape)


def choose(logits: torch.Tensor, u: torch.Tensor | None, s: Sampler):
    """(tokens (b,), log q of them (b,) float64, sum_v q^2 (b,) or None) for logits (b, V)
    and uniforms u (b,) float64; u None: greedy (argmax, nothing recorded)."""
    if u is None:
        return logits.argmax(-1), None, None
    z = logits.double() / s.temperature
    if s.warps:
        z = warp(z, s.top_p, s.top_k)
    probs = torch.softmax(z, dim=-1)
    cdf = probs.cumsum(-1)
    tok = torch.searchsorted(cdf, u[:, None].contiguous(), right=True)[:, 0]
    V = probs.shape[-1]
    if s.warps:  # never past the last token with positive probability
        last = (V - 1) - (probs > 0).flip(-1).to(torch.int8).argmax(-1)
        tok = torch.minimum(tok, last)
    else:
        tok = tok.clamp(max=V - 1)
    logq = torch.log(probs.gather(-1, tok[:, None])[:, 0])
    sq = (probs * probs).sum(-1) if s.sum_sq else None
    return tok, logq, sq


class StaleRing:
    """Rollouts from the policy k updates old (algo.staleness = k): the parameters at the
    start of the last k steps, oldest first (the reference's `next_history` ring), and a
    copy of the policy that holds the oldest for sampling. Step t samples with the
    parameters of step max(t - k, 0)'s start: the policy itself while the ring is empty
    (step 0)."""

    def __init__(self, k: int):
        self.k = k
        self.ring: list[list[torch.Tensor]] = []
        self.pending: list[torch.Tensor] | None = None
        self.model = None

    @torch.no_grad()
    def begin(self, policy):
        """The model that samples this step's rollouts; records the step's start."""
        self.pending = [p.detach().clone() for p in policy.parameters()]
        if not self.ring:
            return policy
        if self.model is None:
            self.model = copy.deepcopy(policy)
            for p in self.model.parameters():
                p.requires_grad_(False)
        for p, q in zip(self.model.parameters(), self.ring[0], strict=True):
            p.copy_(q)
        return self.model

    def end(self) -> None:
        """After the step: its start joins the ring (the last k kept)."""
        if self.pending is not None:
            self.ring = [*self.ring, self.pending][-self.k :]
            self.pending = None


def tis_weights(
    logp_old: torch.Tensor, logq: torch.Tensor, mask: torch.Tensor, mode: str, lo: float, hi: float
) -> torch.Tensor:
    """(B, T) detached TIS weights rho from log pi_T,old (B, T) and the recorded log q
    (B, T) of the tokens, mask (B, T): simrl/rollout_sampling.py `tis_weights` (TRL 1.16.0
    vllm_importance_sampling_mode: sequence modes exp(the response's summed log ratio),
    token modes exp(the token's); `*_truncate` clamps to [lo, hi], `*_mask` zeroes
    outside), in float64, returned in logp_old's dtype; 0 at padding."""
    m = mask.to(torch.float64)
    lr = (logp_old.to(torch.float64) - logq.to(torch.float64)) * m
    level, _, rule = mode.partition("_")
    if level == "sequence":
        lr = lr.sum(-1, keepdim=True).expand_as(lr)
    w = torch.exp(lr)
    if rule == "truncate":
        w = w.clamp(min=lo, max=hi)
    else:
        w = torch.where((w < lo) | (w > hi), torch.zeros_like(w), w)
    return (w * m).to(logp_old.dtype).detach()


def likelihoods(logq: torch.Tensor, mask: torch.Tensor):
    """Each response's per-token likelihood under the sampler, exp of the mean of its
    tokens' log q (1 for an empty response): what the unlikeliness reward ranks by (the
    authors' `masked_mean(old_log_probs, eos_mask)`; simrl/engine/sequence_ref.py
    `likelihood`). A numpy array (B,)."""
    m = mask.to(torch.float64)
    n = m.sum(-1)
    ll = (logq.to(torch.float64) * m).sum(-1)
    return torch.where(n > 0, torch.exp(ll / n.clamp(min=1.0)), torch.ones_like(n)).cpu().numpy()


def score_norms(logq: torch.Tensor, sum_sq: torch.Tensor, mask: torch.Tensor):
    """(B, T) numpy: each token's 1 - 2 q(y) + sum_v q(v)^2 (0 past a response's end): the
    squared score norm optimal_token_baseline weighs by (verl `old_log_probs`,
    `sum_pi_squared`; the sampler's, which is pi_old's unless top-p, top-k or staleness
    change it, as in the reference engines)."""
    m = mask.to(torch.float64)
    return ((1.0 - 2.0 * torch.exp(logq) + sum_sq) * m).cpu().numpy()
