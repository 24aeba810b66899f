"""The empirical gradient overlap of a bridge model, in the units of `policy.overlap`.

The simulator's linear policies report `policy.overlap` (theory/shared.py `policy_overlap`,
theory/NOTES.md "policy.overlap"): the mean over ordered pairs of states s != s' of the
normalised off-diagonal of the empirical NTK of the pi-weighted score functions,

    ov(s, s') = |Theta_ss'|_F / sqrt(|Theta_ss|_F |Theta_s's'|_F),   Theta_ss' = G_s G_s'^T,

G_s's rows sqrt(pi_s(a)) grad log pi_s(a) in all trained parameters, so that
|Theta_ss'|_F^2 = tr(Sigma_s Sigma_s') with Sigma_s = G_s^T G_s the per-state Fisher. On a
network every parameter is shared, so the same number is measured here with the gradient of
log pi(answer | prompt) with respect to all of the model's parameters (issue 18, study 3):

- `mode_overlap` (exact): the answer is the mode the first completion token opens, code
  (the code marker) or prose (anything else), K = 2 answers per prompt. With p = P(code | s)
  and u_s = log p - log(1 - p), grad log p = (1 - p) grad u_s and grad log(1 - p) = -p grad u_s,
  so G_s = c_s grad u_s^T is rank one and ov(s, s') = |cos(grad u_s, grad u_s')|: the
  normalised kernel of the prompts' mode log-odds. Also returned: the raw cosines (their
  mean, signed) between prompts.
- `answer_overlap` (Monte Carlo): the answer is the whole completion. The exact Fisher of a
  prompt sums over every completion, so Sigma_s is estimated by the plug-in
  (1 / n) sum_i g_i g_i^T over n sampled completions a_i ~ pi(. | s), g_i = grad log pi(a_i | s)
  (the sequence log-probability, end token included): G_s's rows are g_i / sqrt(n), the
  sampled weights 1/n standing for pi_s(a). An estimate, with a plug-in bias in the diagonal
  blocks (|g_i|^4 terms) that shrinks as n grows; its spread over draws is reported by the
  CLI (`--draws`). Also the raw gradient cosines grouped by same / different prompt and same /
  different answer mode (code or prose), the overlap "between answer modes".

`normalised_overlap(gram, states)` is the one formula both use: the Gram matrix of the
weighted score rows and the state of each row. tests/bridge/test_overlap.py checks it
against theory.shared.policy_overlap_dense on linear policies and both measurements against
a direct computation (explicit per-prompt Fisher matrices) on a tiny random Llama.
CLI: `python3 -m simrl.bridge.overlap --prior-mix 0.8` (writes JSON).
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np
import torch


def normalised_overlap(
    gram: np.ndarray, states: np.ndarray, unbiased_diag: bool = False
) -> tuple[float, np.ndarray]:
    """(mean over ordered pairs s != s' of ov(s, s'), the (S, S) matrix ov) from the Gram matrix
    of the weighted score rows (rows of the stacked G_s) and each row's state. A pair whose
    denominator is 0 counts 0, as in theory.shared.policy_overlap.

    `unbiased_diag` (Monte Carlo rows g_i / sqrt(n)): |Theta_ss|_F^2 from the pairs i != j
    only, times n / (n - 1), the U-statistic (1 / (n (n - 1))) sum_{i != j} (g_i . g_j)^2, which
    is unbiased for tr(Sigma_s^2) (independent draws); the plug-in sum over all i, j adds the
    |g_i|^4 / n^2 terms. Off the diagonal the plug-in is already unbiased for
    tr(Sigma_s Sigma_s')."""
    states = np.asarray(states)
    labels = np.unique(states)
    S = len(labels)
    idx = [np.flatnonzero(states == s) for s in labels]
    fro = np.zeros((S, S))
    for i in range(S):
        for j in range(S):
            block = gram[np.ix_(idx[i], idx[j])]
            sq = np.sum(block * block)
            if unbiased_diag and i == j:
                n = len(idx[i])
                sq = (sq - np.sum(np.diag(block) ** 2)) * n / (n - 1)
            fro[i, j] = np.sqrt(max(sq, 0.0))
    diag = np.diag(fro)
    denom = np.sqrt(np.outer(diag, diag))
    with np.errstate(invalid="ignore", divide="ignore"):
        ov = np.where(denom > 0, fro / np.where(denom > 0, denom, 1.0), 0.0)
    if S < 2:
        return 0.0, ov
    mask = ~np.eye(S, dtype=bool)
    return float(ov[mask].mean()), ov


def flat_grad(model, value: torch.Tensor) -> torch.Tensor:
    """d value / d theta over every parameter of `model` that requires grad, flattened
    (float64)."""
    params = [p for p in model.parameters() if p.requires_grad]
    grads = torch.autograd.grad(value, params, allow_unused=True)
    return torch.cat(
        [
            (g if g is not None else torch.zeros_like(p)).reshape(-1).double()
            for g, p in zip(grads, params, strict=True)
        ]
    )


def _cosines(gram: np.ndarray) -> np.ndarray:
    norm = np.sqrt(np.clip(np.diag(gram), 0.0, None))
    with np.errstate(invalid="ignore", divide="ignore"):
        return gram / np.outer(norm, norm)


def first_token_logprobs(model, prompt: list[int]) -> torch.Tensor:
    """log pi(. | prompt) of the first completion token (float64), with the graph."""
    ids = torch.tensor([prompt], dtype=torch.long)
    logits = model(input_ids=ids).logits[0, -1].double()
    return torch.log_softmax(logits, -1)


def mode_gradients(model, fmt, problems) -> tuple[np.ndarray, np.ndarray]:
    """(U (S, P): grad of each prompt's code-vs-prose log-odds u_s, p (S,): P(code | s))."""
    code = fmt.code_prefix()
    if not code:
        raise ValueError("the mode overlap needs a format with a code marker (the tiny model)")
    rows, probs = [], []
    for p in problems:
        lp = first_token_logprobs(model, fmt.prompt_ids(p))
        lcode = lp[code[0]]
        lrest = torch.log1p(-lcode.exp())
        rows.append(flat_grad(model, lcode - lrest).numpy())
        probs.append(float(lcode.detach().exp()))
    return np.stack(rows), np.array(probs)


def mode_overlap(model, fmt, problems) -> dict:
    """The exact mode overlap of `problems` (module docstring)."""
    U, p = mode_gradients(model, fmt, problems)
    gram = U @ U.T
    S = len(problems)
    ov, _ = normalised_overlap(gram, np.arange(S))
    cos = _cosines(gram)
    off = cos[~np.eye(S, dtype=bool)]
    return {
        "mode_overlap": ov,
        "mode_cos_mean": float(off.mean()),
        "mode_cos_abs_mean": float(np.abs(off).mean()),
        "mode_prob_code": float(p.mean()),
        "prompts": S,
    }


def sequence_logprob(model, prompt: list[int], completion: list[int]) -> torch.Tensor:
    """log pi(completion | prompt), the sum of its tokens' log-probabilities (float64)."""
    ids = torch.tensor([[*prompt, *completion]], dtype=torch.long)
    logits = model(input_ids=ids).logits[0].double()
    lp = torch.log_softmax(logits[len(prompt) - 1 : -1], -1)
    return lp.gather(1, torch.tensor(completion, dtype=torch.long)[:, None]).sum()


def answer_gradients(
    model,
    fmt,
    problems,
    n: int,
    rng: np.random.Generator,
    max_new_tokens: int,
    dtype=np.float64,
):
    """(g (S n, P) per-completion gradients, state (S n,), mode (S n,)) for n sampled
    completions of each problem (the bridge's sampler, temperature 1, inverse-CDF draws from
    `rng`)."""
    from simrl.bridge.metrics import rollout

    cfg = argparse.Namespace(
        bridge=argparse.Namespace(max_new_tokens=max_new_tokens, temperature=1.0)
    )
    uniforms = rng.random((len(problems) * n, max_new_tokens))
    v = rollout(model, fmt, problems, n, uniforms, cfg, torch.device("cpu"))
    c = v.completions
    rows = []
    for i in range(c.tokens.shape[0]):
        k = int(c.mask[i].sum())
        lp = sequence_logprob(model, c.prompts[i], c.tokens[i, :k].tolist())
        rows.append(flat_grad(model, lp).numpy().astype(dtype))
    states = np.repeat(np.arange(len(problems)), n)
    return np.stack(rows), states, np.asarray(v.modes)


def gram64(g: np.ndarray, block: int = 1 << 16) -> np.ndarray:
    """g g^T accumulated in float64 over column blocks (g may be stored as float32)."""
    out = np.zeros((g.shape[0], g.shape[0]))
    for lo in range(0, g.shape[1], block):
        x = g[:, lo : lo + block].astype(np.float64)
        out += x @ x.T
    return out


def answer_overlap(
    model,
    fmt,
    problems,
    n: int,
    rng: np.random.Generator,
    max_new_tokens: int,
    dtype=np.float64,
) -> dict:
    """The Monte Carlo answer overlap of `problems` and the raw cosines by prompt and mode
    (module docstring)."""
    g, states, modes = answer_gradients(model, fmt, problems, n, rng, max_new_tokens, dtype)
    gram = gram64(g) / n  # rows g_i / sqrt(n)
    ov, _ = normalised_overlap(gram, states)
    ov_u, _ = normalised_overlap(gram, states, unbiased_diag=True)
    cos = _cosines(gram)
    same_s = states[:, None] == states[None, :]
    same_m = modes[:, None] == modes[None, :]
    off = ~np.eye(len(states), dtype=bool)

    def mean(mask):
        return float(cos[mask].mean()) if mask.any() else float("nan")

    return {
        "answer_overlap": ov,
        "answer_overlap_u": ov_u,
        "cos_same_prompt_same_mode": mean(off & same_s & same_m),
        "cos_same_prompt_other_mode": mean(off & same_s & ~same_m),
        "cos_other_prompt_same_mode": mean(~same_s & same_m),
        "cos_other_prompt_other_mode": mean(~same_s & ~same_m),
        "code_share": float((modes == 0).mean()),
        "samples_per_prompt": n,
        "prompts": len(problems),
    }


def measure(prior_mix: float, n: int = 8, draws: int = 1, seed: int = 0, prompts: int = 0) -> dict:
    """Both overlaps of the shipped (or cached) tiny model of `prior_mix` on the bridge's
    RL training problems (the defaults of simrl/examples/bridge.toml)."""
    from simrl.bridge.config import BridgeRunConfig
    from simrl.bridge.pretrain import pretrained
    from simrl.bridge.task import split_problems

    cfg = BridgeRunConfig.from_dict({"bridge": {"prior_mix": prior_mix}})
    b = cfg.bridge
    model, fmt, _meta = pretrained(cfg)
    model.eval()
    train = split_problems(b.max_operand, b.train_prompts, b.eval_prompts, b.task_seed).train
    if prompts:
        train = train[:prompts]
    out = {"prior_mix": prior_mix, "model": f"tiny-{cfg.pretrain_key()}"}
    out["parameters"] = int(sum(p.numel() for p in model.parameters()))
    out.update(mode_overlap(model, fmt, train))
    runs = []
    for d in range(draws):
        rng = np.random.default_rng([seed, d])
        runs.append(answer_overlap(model, fmt, train, n, rng, b.max_new_tokens, np.float32))
    for key in runs[0]:
        vals = [r[key] for r in runs]
        out[key] = float(np.mean(vals))
        if draws > 1 and key in ("answer_overlap", "answer_overlap_u"):
            out[f"{key}_sd"] = float(np.std(vals, ddof=1))
            out[f"{key}_draws"] = [float(x) for x in vals]
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python3 -m simrl.bridge.overlap",
        description="The tiny Llama's empirical gradient overlap (policy.overlap's kernel).",
    )
    ap.add_argument("--prior-mix", type=float, nargs="+", default=[0.2, 0.8])
    ap.add_argument("--samples", type=int, default=8, help="completions per prompt")
    ap.add_argument("--draws", type=int, default=3, help="independent sample draws")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--prompts", type=int, default=0, help="first N training prompts (0 = all)")
    ap.add_argument("--out", default="", help="write the JSON here (atomically)")
    a = ap.parse_args(argv)
    from simrl.errors import ConfigError

    for name, val, ok in (
        ("--samples", a.samples, a.samples >= 2),
        ("--draws", a.draws, a.draws >= 1),
        ("--prompts", a.prompts, a.prompts == 0 or a.prompts >= 2),
    ):
        if not ok:
            print(
                f"error: {name} = {val}: must be >= {2 if name != '--draws' else 1}",
                file=sys.stderr,
            )
            return 2
    torch.set_num_threads(1)
    try:
        res = [measure(p, a.samples, a.draws, a.seed, a.prompts) for p in a.prior_mix]
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    text = json.dumps(res, indent=1)
    if a.out:
        from simrl.io import write_text

        write_text(a.out, text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
