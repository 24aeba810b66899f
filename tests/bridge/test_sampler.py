"""The bridge's token choice (simrl/bridge/sampler.py) against the installed transformers
warpers and the numpy reference's sampler (simrl/rollout_sampling.py,
simrl/engine/sequence_ref.py), max abs difference 1e-10 (float64 logits):

- `warp` (top-k, then top-p, after / T) against transformers 5.25's
  `TemperatureLogitsWarper`, `TopKLogitsWarper`, `TopPLogitsWarper` and the reference's
  `sampler_logp`;
- `choose`: the tokens the reference's inverse CDF picks from q with the same uniforms,
  the recorded log q and sum_v q^2; the untruncated path is the bridge's old rule, bitwise;
- `tis_weights` and `likelihoods` against the reference's `tis_weights` and `likelihood`;
- `StaleRing`: step t samples with the parameters of step max(t - k, 0)'s start.
"""

import numpy as np
import pytest
import torch

from simrl.bridge.sampler import (
    Sampler,
    StaleRing,
    choose,
    likelihoods,
    score_norms,
    tis_weights,
    warp,
)
from simrl.config import AlgoConfig
from simrl.rollout_sampling import sampler_logp
from simrl.rollout_sampling import tis_weights as ref_tis_weights

TOL = 1e-10
TRANSFORMERS_VERSION = "5.25.0"
SETTINGS = [
    (1.0, 0.7, 0),
    (0.8, 1.0, 3),
    (1.3, 0.8, 4),
    (1.7, 0.9, 0),
    (0.6, 0.5, 7),
    (1.0, 1.0, 1),
]


def logits(seed: int, shape=(40, 9)) -> np.ndarray:
    return np.random.default_rng(seed).normal(0.0, 2.0, size=shape)  # continuous: no ties


@pytest.mark.parametrize("T, top_p, top_k", SETTINGS)
def test_warp_matches_the_transformers_warpers_and_the_reference(T, top_p, top_k):
    transformers = pytest.importorskip("transformers")
    assert transformers.__version__ == TRANSFORMERS_VERSION
    from transformers.generation import logits_process as lp

    z = logits(17)
    scores = torch.tensor(z)
    if T != 1.0:
        scores = lp.TemperatureLogitsWarper(T)(None, scores)
    if top_k > 0:
        scores = lp.TopKLogitsWarper(top_k)(None, scores)
    if top_p < 1.0:
        scores = lp.TopPLogitsWarper(top_p)(None, scores)
    q_hf = torch.softmax(scores, -1).numpy()
    q = torch.softmax(warp(torch.tensor(z) / T, top_p, top_k), -1).numpy()
    np.testing.assert_array_equal(q == 0.0, q_hf == 0.0)  # the same tokens removed
    assert np.abs(q - q_hf).max() <= TOL
    assert (q == 0.0).any()  # the case truncates something
    q_ref = np.exp(sampler_logp(z, AlgoConfig(temperature=T, top_p=top_p, top_k=top_k)))
    np.testing.assert_array_equal(q == 0.0, q_ref == 0.0)
    assert np.abs(q - q_ref).max() <= TOL


def ref_inverse_cdf(p: np.ndarray, u: float) -> int:
    """simrl/engine/sequence_ref.py inverse_cdf."""
    from simrl.engine.sequence_ref import inverse_cdf

    return inverse_cdf(p, u)


@pytest.mark.parametrize("T, top_p, top_k", SETTINGS)
def test_choose_picks_the_reference_token_and_records_log_q(T, top_p, top_k):
    z = logits(5, (400, 9))
    u = np.random.default_rng(6).random(400)
    s = Sampler(T, top_p, top_k, sum_sq=True)
    tok, logq, sq = choose(torch.tensor(z), torch.tensor(u), s)
    lq_ref = sampler_logp(z, AlgoConfig(temperature=T, top_p=top_p, top_k=top_k))
    q_ref = np.exp(lq_ref)
    want = np.array([ref_inverse_cdf(q_ref[i], u[i]) for i in range(len(u))])
    np.testing.assert_array_equal(tok.numpy(), want)
    assert np.isfinite(lq_ref[np.arange(len(u)), want]).all()  # never a removed token
    assert np.abs(logq.numpy() - lq_ref[np.arange(len(u)), want]).max() <= TOL
    assert np.abs(sq.numpy() - (q_ref**2).sum(-1)).max() <= TOL


def test_the_untruncated_path_is_the_old_sampler_bitwise():
    """Without top-k / top-p the choice is the bridge's former inline rule (softmax of
    logits / T in float64, inverse CDF, clamped to the last token): runs are unchanged."""
    z = torch.tensor(logits(8, (300, 50)), dtype=torch.float32)
    u = torch.as_tensor(np.random.default_rng(9).random(300))
    for T in (1.0, 0.7):
        probs = torch.softmax(z.double() / T, dim=-1)
        old = torch.searchsorted(probs.cumsum(-1), u[:, None].contiguous(), right=True)[:, 0]
        old = old.clamp(max=probs.shape[-1] - 1)
        tok, logq, sq = choose(z, u, Sampler(T))
        assert torch.equal(tok, old)
        assert sq is None
        assert torch.equal(logq, torch.log(probs[torch.arange(300), old]))
    greedy, lq, _ = choose(z, None, Sampler(0.5, 0.3, 2))
    assert torch.equal(greedy, z.argmax(-1)) and lq is None


@pytest.mark.parametrize(
    "mode, lo, hi",
    [
        ("token_truncate", 0.0, 1.2),
        ("token_mask", 0.6, 1.5),
        ("sequence_truncate", 0.3, 1.4),
        ("sequence_mask", 0.5, 2.0),
    ],
)
def test_tis_weights_match_the_reference(mode, lo, hi):
    rng = np.random.default_rng(3)
    B, T = 12, 6
    lengths = rng.integers(1, T + 1, size=B)
    mask = (np.arange(T)[None, :] < lengths[:, None]).astype(float)
    logp_old = rng.normal(-1.5, 0.5, size=(B, T))
    logq = logp_old + rng.normal(0.0, 0.25, size=(B, T))
    w = tis_weights(
        torch.tensor(logp_old), torch.tensor(logq), torch.tensor(mask), mode, lo, hi
    ).numpy()
    b, t = np.nonzero(mask)  # the reference's token table, in (sequence, position) order
    want = ref_tis_weights(logp_old[b, t] - logq[b, t], b, mode, lo, hi)
    assert np.abs(w[b, t] - want).max() <= TOL
    assert (w[mask == 0] == 0).all()
    assert (want != 1.0).any() and (want != want[0]).any()  # the weights act


def test_likelihoods_and_score_norms():
    """exp of the mean log q over a response's tokens (the reference's `likelihood`, one
    token: the token's q), and 1 - 2 q(y) + sum q^2 per token, 0 at padding."""
    rng = np.random.default_rng(4)
    logq = np.log(rng.random((5, 4)))
    mask = np.array([[1, 1, 1, 0], [1, 0, 0, 0], [1, 1, 1, 1], [0, 0, 0, 0], [1, 1, 0, 0.0]])
    lik = likelihoods(torch.tensor(logq), torch.tensor(mask))
    for i in range(5):
        n = int(mask[i].sum())
        want = np.exp(logq[i, :n].sum() / n) if n else 1.0
        assert abs(lik[i] - want) <= 1e-14
    sq = rng.random((5, 4))
    norms = score_norms(torch.tensor(logq), torch.tensor(sq), torch.tensor(mask))
    np.testing.assert_allclose(norms, (1 - 2 * np.exp(logq) + sq) * mask, rtol=0, atol=1e-14)


def test_stale_ring_samples_with_the_parameters_k_steps_old():
    policy = torch.nn.Linear(3, 2)
    k = 2
    ring = StaleRing(k)
    starts = []
    for t in range(6):
        starts.append(policy.weight.detach().clone())
        model = ring.begin(policy)
        if t == 0:
            assert model is policy  # nothing older yet: the policy itself
        else:
            assert model is not policy
            assert torch.equal(model.weight, starts[max(t - k, 0)])
            assert not model.weight.requires_grad
        with torch.no_grad():  # the step's update
            policy.weight.add_(float(t + 1))
        ring.end()
        assert len(ring.ring) == min(t + 1, k)


def test_both_decoders_record_log_q_of_the_tokens_they_sample():
    """The fast decoder (finished rows dropped) and the HF reference loop draw the same
    tokens with top-k / top-p and record the same log q and sum q^2 (1e-5: their float32
    logits differ by rounding), 0 at padding; log q is the warped softmax of a
    teacher-forced forward at each token (rollout.score, 1e-5)."""
    from simrl.bridge import rollout as R
    from simrl.bridge.decode import sample_llama
    from simrl.bridge.device import autocast
    from simrl.bridge.sampler import Record
    from tests.bridge.test_decode import llama, prompts

    cpu = torch.device("cpu")
    model = llama(2, seed=5)
    ps = prompts(G=4)
    T = 10
    with torch.inference_mode():
        eos = int(model(input_ids=torch.tensor([ps[0]])).logits[0, -1].argsort()[-2])
    u = torch.as_tensor(np.random.default_rng(7).random((len(ps), T)))
    s = Sampler(0.9, 0.8, 12, sum_sq=True)
    ids, attn = R.left_pad(ps, 0, cpu)
    recs = [Record.empty(len(ps), T, True, cpu) for _ in range(2)]
    with torch.inference_mode():
        ref = R.sample_hf(model, ids, attn, T, s, eos, 0, u, recs[0])
        fast = sample_llama(model, ids, attn, torch.arange(len(ps)), T, s, eos, 0, u,
                            autocast(cpu), recs[1])  # fmt: skip
    for a, b in zip(ref, fast, strict=True):
        assert torch.equal(a, b)
    tok, mask, done = ref
    assert done.any() and not done.all()  # some rows finished early
    for rec in recs:
        assert (rec.logq[mask == 0] == 0).all() and (rec.logq[mask == 1] < 0).all()
    assert (recs[0].logq - recs[1].logq).abs().max() <= 1e-5
    assert (recs[0].sum_sq - recs[1].sum_sq).abs().max() <= 1e-5
    c = R.sample(model, ps, T, s, eos, 0, u.numpy(), cpu)
    assert torch.equal(c.tokens, tok)  # rollout.sample: shared prefill, same tokens
    assert (c.logq - recs[1].logq).abs().max() <= 1e-5
    sb = R.scoring_batch(c, 0, cpu)
    with torch.no_grad():
        z = R.score(model, sb, None, 1.0, cpu).double() / s.temperature  # (B, T', V)
    lq = torch.log_softmax(warp(z, s.top_p, s.top_k), -1)
    got = lq.gather(-1, c.tokens[:, : sb.T, None])[..., 0]
    m = c.mask[:, : sb.T].bool()
    assert (got[m] - c.logq[:, : sb.T][m]).abs().max() <= 1e-5
    assert (got[m] > -np.inf).all()


def fast_cases():
    """(logits, top_p, k0) rows: continuous logits of several spreads, logits rounded to
    halves (ties, at the cut too), top-k's -inf entries, and first candidate counts small
    enough that the fast path grows k several times."""
    rng = np.random.default_rng(21)
    for trial in range(240):
        R, V = int(rng.integers(1, 24)), int(rng.integers(2, 600))
        z = torch.tensor(rng.normal(0.0, float(rng.choice([0.3, 1.0, 3.0, 8.0])), size=(R, V)))
        if trial % 3 == 0:
            z = torch.round(z * 2) / 2
        if trial % 4 == 0:  # top-k then top-p, as warp applies them
            kth = torch.topk(z, min(V, int(rng.integers(1, 40))), -1).values[..., -1:]
            z = z.masked_fill(z < kth, float("-inf"))
        top_p = float(rng.choice([0.05, 0.5, 0.9, 0.95, 0.999, rng.random()]))
        yield z, top_p, int(rng.choice([1, 2, 5, 64]))


def test_fast_top_p_equals_the_full_sort_bitwise(monkeypatch):
    """top_p_drop (partial selection, a rounding margin, the full sort for the rows inside
    it) removes exactly the tokens the full sort removes; warp with top_k and top_p
    returns the full-sort warp's logits bitwise. Both branches are taken."""
    from simrl.bridge import sampler as S

    sorted_rows = []
    full_sort = S.top_p_drop_sorted

    def spy(z, top_p):
        sorted_rows.append(z.shape[0])
        return full_sort(z, top_p)

    total = 0
    for z, top_p, k0 in fast_cases():
        want = S.top_p_drop_sorted(z, top_p)
        monkeypatch.setattr(S, "top_p_drop_sorted", spy)
        got = S.top_p_drop(z, top_p, k0)
        monkeypatch.undo()
        assert torch.equal(got, want)
        total += z.shape[0]
    assert 0 < sum(sorted_rows) < total / 2  # most rows never sort
    rng = np.random.default_rng(22)
    z = torch.tensor(np.round(rng.normal(0.0, 2.0, size=(64, 3000)) * 4) / 4)  # many ties
    for top_p, top_k in ((0.9, 0), (0.7, 50), (0.95, 2999), (0.3, 1)):
        full = z
        if top_k:
            full = z.masked_fill(z < torch.topk(z, top_k, -1).values[..., -1:], float("-inf"))
        full = full.masked_fill(S.top_p_drop_sorted(full, top_p), float("-inf"))
        assert torch.equal(warp(z, top_p, top_k), full)


def test_fast_top_p_sorts_the_rows_within_its_rounding_margin(monkeypatch):
    """Four equal logits (the other 60 -inf) put a cumulative probability exactly at
    top_p 0.5 (the full sort removes the two lowest indices of the four): such a row takes
    the full sort; a peaked row far from the margin does not; a vocabulary of at most
    4 k0 tokens is sorted whole."""
    from simrl.bridge import sampler as S

    calls, full_sort = [], S.top_p_drop_sorted
    monkeypatch.setattr(
        S, "top_p_drop_sorted", lambda z, p: calls.append(z.shape[0]) or full_sort(z, p)
    )
    z = torch.full((3, 64), float("-inf"), dtype=torch.float64)
    z[:, :4] = 0.0
    z[1, :3] = torch.tensor([10.0, 9.0, 0.0])
    got = S.top_p_drop(z, 0.5, k0=4)
    assert calls == [2]
    kept = (torch.arange(64) == 2) | (torch.arange(64) == 3)
    assert torch.equal(got[[0, 2]], (~kept).expand(2, -1))
    assert torch.equal(got[1], torch.arange(64) != 0)
    calls.clear()
    S.top_p_drop(z, 0.5, k0=16)
    assert calls == [3]
    monkeypatch.undo()
    assert torch.equal(got, S.top_p_drop_sorted(z, 0.5))
