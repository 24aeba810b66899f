"""simrl/bridge/overlap.py: the bridge model's gradient overlap in policy.overlap's units.

The shared formula is checked against theory.shared.policy_overlap (and its dense
reference) on linear policies; both measurements against a direct computation on a tiny
random Llama: explicit per-prompt Fisher matrices Sigma_s (P x P) built from gradients taken
along a different path (the model's own cross-entropy loss for the sequences, separate
backward passes of log p and log(1 - p) for the modes)."""

import argparse

import numpy as np
import pytest
import torch
from simrl.theory import log_softmax
from simrl.theory.shared import policy_overlap, policy_overlap_dense

from simrl.bridge import overlap as ov
from simrl.bridge.formats import TinyFormat
from simrl.bridge.task import split_problems
from simrl.bridge.tiny import tiny_model
from simrl.bridge.tokenizer import CharTokenizer


def _weighted_scores(phi, z, tabular):
    """The stacked G_s of a linear policy (rows sqrt(pi_s(a)) grad log pi_s(a)), as in
    theory.shared.policy_overlap_dense, and each row's state."""
    S, K, d = phi.shape
    pi = np.exp(log_softmax(z))
    rows, states = [], []
    for s in range(S):
        J = np.zeros((K, S * K + d))
        if tabular:
            J[:, s * K : (s + 1) * K] = np.eye(K)
        J[:, S * K :] = phi[s]
        rows.append(np.sqrt(pi[s])[:, None] * (J - pi[s] @ J))
        states += [s] * K
    return np.concatenate(rows), np.array(states)


@pytest.mark.parametrize("tabular", [True, False])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_normalised_overlap_is_policy_overlap(seed, tabular):
    rng = np.random.default_rng(seed)
    S, K, d = 5, 4, 3 + seed
    phi = rng.normal(size=(S, K, d))
    z = rng.normal(size=(S, K)) * 2
    G, states = _weighted_scores(phi, z, tabular)
    got, mat = ov.normalised_overlap(G @ G.T, states)
    assert got == pytest.approx(policy_overlap(phi, z, tabular=tabular), rel=1e-10, abs=1e-12)
    assert got == pytest.approx(policy_overlap_dense(phi, z, tabular=tabular), rel=1e-10)
    assert mat.shape == (S, S)
    assert np.allclose(np.diag(mat), 1.0)


def test_normalised_overlap_tabular_is_zero_and_one_habit_is_one():
    z = np.random.default_rng(0).normal(size=(4, 3))
    G, states = _weighted_scores(np.zeros((4, 3, 2)), z, tabular=True)
    assert ov.normalised_overlap(G @ G.T, states)[0] == 0.0
    # one shared feature block and no tabular part: every state has the same logits' map
    phi = np.broadcast_to(np.eye(3)[None], (4, 3, 3)).copy()
    zs = np.broadcast_to(z[:1], (4, 3)).copy()
    G, states = _weighted_scores(phi, zs, tabular=False)
    assert ov.normalised_overlap(G @ G.T, states)[0] == pytest.approx(1.0)


def test_unbiased_diag_drops_the_self_pairs():
    rng = np.random.default_rng(3)
    n, S, P = 4, 3, 7
    g = rng.normal(size=(S * n, P))
    states = np.repeat(np.arange(S), n)
    gram = g @ g.T / n
    got, _ = ov.normalised_overlap(gram, states, unbiased_diag=True)
    # direct: U-statistic of tr(Sigma_s^2) and the plug-in of tr(Sigma_s Sigma_t)
    blocks = [g[states == s] for s in range(S)]
    tr2 = [
        sum((a @ b) ** 2 for i, a in enumerate(x) for j, b in enumerate(x) if i != j)
        / (n * (n - 1))
        for x in blocks
    ]
    sig = [x.T @ x / n for x in blocks]
    want = np.mean(
        [
            np.sqrt(np.trace(sig[s] @ sig[t])) / np.sqrt(np.sqrt(tr2[s] * tr2[t]))
            for s in range(S)
            for t in range(S)
            if s != t
        ]
    )
    assert got == pytest.approx(want, rel=1e-10)


@pytest.fixture(scope="module")
def tiny():
    bridge = argparse.Namespace(d_model=8, layers=1, heads=2, pretrain_seed=3)
    tok = CharTokenizer()
    model = tiny_model(bridge, tok.vocab_size).double()
    with torch.no_grad():  # weights x 3: prompts differ, and both modes have mass
        for p in model.parameters():
            p.mul_(3.0)
    model.eval()
    problems = split_problems(6, 4, 4, 0).train
    return model, TinyFormat(tok), problems


def _params(model):
    return [p for p in model.parameters() if p.requires_grad]


def _direct_grad(model, value):
    model.zero_grad()
    value.backward()
    return torch.cat([p.grad.reshape(-1) for p in _params(model)]).numpy().copy()


def _direct_overlap(sigmas):
    S = len(sigmas)
    tr = lambda a, b: float(np.sum(a * b))  # noqa: E731  tr(A B) of symmetric A, B
    vals = [
        np.sqrt(tr(sigmas[s], sigmas[t]))
        / np.sqrt(np.sqrt(tr(sigmas[s], sigmas[s]) * tr(sigmas[t], sigmas[t])))
        for s in range(S)
        for t in range(S)
        if s != t
    ]
    return float(np.mean(vals))


def test_mode_overlap_matches_explicit_fisher(tiny):
    model, fmt, problems = tiny
    code = fmt.code_prefix()[0]
    sigmas, ps = [], []
    for p in problems:
        rows = []
        for which in ("code", "prose"):
            ids = torch.tensor([fmt.prompt_ids(p)])
            logits = model(input_ids=ids).logits[0, -1]
            pc = torch.softmax(logits, -1)[code]
            prob = pc if which == "code" else 1 - pc
            g = _direct_grad(model, torch.log(prob))
            rows.append(np.sqrt(float(prob.detach())) * g)
        G = np.stack(rows)
        sigmas.append(G.T @ G)
        ps.append(float(pc.detach()))
    got = ov.mode_overlap(model, fmt, problems)
    assert (
        0.05 < min(ps) and max(ps) < 0.95 and np.ptp(ps) > 1e-3
    )  # both modes carry mass: a real check
    assert got["mode_overlap"] == pytest.approx(_direct_overlap(sigmas), rel=1e-8)
    assert got["mode_cos_abs_mean"] == pytest.approx(got["mode_overlap"], rel=1e-10)
    assert got["mode_prob_code"] == pytest.approx(np.mean(ps), rel=1e-12)
    assert 0.0 < got["mode_overlap"] < 1.0


def test_answer_overlap_matches_explicit_fisher(tiny):
    model, fmt, problems = tiny
    n, T = 3, 6
    g, states, _modes = ov.answer_gradients(model, fmt, problems, n, np.random.default_rng(7), T)
    assert g.shape[0] == len(problems) * n
    # the same completions again, each gradient through the model's own loss (labels)
    from simrl.bridge.metrics import rollout

    cfg = argparse.Namespace(bridge=argparse.Namespace(max_new_tokens=T, temperature=1.0))
    u = np.random.default_rng(7).random((len(problems) * n, T))
    c = rollout(model, fmt, problems, n, u, cfg, torch.device("cpu")).completions
    direct = []
    for i in range(c.tokens.shape[0]):
        k = int(c.mask[i].sum())
        ids = torch.tensor([[*c.prompts[i], *c.tokens[i, :k].tolist()]])
        labels = ids.clone()
        labels[0, : len(c.prompts[i])] = -100
        loss = model(input_ids=ids, labels=labels).loss  # mean NLL over the k tokens
        direct.append(_direct_grad(model, -loss * k))
    direct = np.stack(direct)
    # transformers' causal-LM loss upcasts the logits to float32 (loss_utils.ForCausalLMLoss):
    # the two paths agree to float32 precision
    np.testing.assert_allclose(g, direct, rtol=1e-4, atol=1e-5)
    sigmas = [direct[states == s].T @ direct[states == s] / n for s in range(len(problems))]
    got = ov.answer_overlap(model, fmt, problems, n, np.random.default_rng(7), T)
    assert got["answer_overlap"] == pytest.approx(_direct_overlap(sigmas), rel=1e-5)
    assert 0.0 < got["answer_overlap"] < 1.0
    assert 0.0 < got["answer_overlap_u"]
    # float32 storage gives the same overlap to float32 precision
    got32 = ov.answer_overlap(model, fmt, problems, n, np.random.default_rng(7), T, np.float32)
    assert got32["answer_overlap"] == pytest.approx(got["answer_overlap"], rel=1e-4)


def test_cli_bad_input_one_line(capsys):
    assert ov.main(["--samples", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--samples" in err[0]
