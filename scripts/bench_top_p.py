"""The bridge's top-p: the fast path (simrl/bridge/sampler.py `top_p_drop`) against the
full sort (`top_p_drop_sorted`), paired in one process (alternating calls, one torch
thread), on random logits of SmolLM2's vocabulary size and in the tiny model's rollouts.

    PYTHONPATH=. python3 scripts/bench_top_p.py [--reps 5] [--only logits|tiny|smollm2]

Prints the median seconds per call of each path and their ratio; checks that both paths
give the same result (the removed tokens; the rollouts' tokens and log q) bitwise.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from simrl.bridge import sampler as S


def paired(fast, full, reps: int) -> tuple[float, float]:
    tf, ts = [], []
    for _ in range(reps):
        for f, out in ((fast, tf), (full, ts)):
            t = time.perf_counter()
            f()
            out.append(time.perf_counter() - t)
    return statistics.median(tf), statistics.median(ts)


def logits_case(reps: int) -> None:
    print("32 x 49152 float64 logits ~ N(0, sd^2): kept tokens (mean), full sort s, fast s, ratio")
    gen = torch.Generator().manual_seed(0)
    for sd in (1.0, 3.0, 6.0, 10.0):
        z = torch.randn(32, 49152, dtype=torch.float64, generator=gen) * sd
        for top_p in (0.9, 0.95):
            want = S.top_p_drop_sorted(z, top_p)
            assert torch.equal(S.top_p_drop(z, top_p), want)
            f, s = paired(
                lambda z=z, p=top_p: S.top_p_drop(z, p),
                lambda z=z, p=top_p: S.top_p_drop_sorted(z, p),
                reps,
            )
            kept = float((~want).sum(-1).double().mean())
            print(
                f"  sd {sd:4.1f} top_p {top_p}: kept {kept:8.1f}  sort {s:.4f}  fast {f:.4f}  {s / f:5.1f}x"
            )


def tiny_case(reps: int) -> None:
    from simrl.bridge.config import BridgeRunConfig
    from simrl.bridge.model import load_policy
    from simrl.bridge.rollout import sample
    from simrl.bridge.run import problem_sets

    # the shipped tiny checkpoint (simrl/bridge/checkpoints/manifest.json: prior_mix 0.2)
    cfg = BridgeRunConfig.from_dict({"bridge": {"device": "cpu", "prior_mix": 0.2}}, {})
    model, fmt = load_policy(cfg)
    train, _ = problem_sets(cfg)
    prompts = [fmt.prompt_ids(p) for p in train[:8] for _ in range(8)]  # 64 sequences
    T = cfg.bridge.max_new_tokens
    u = np.random.default_rng(0).random((len(prompts), T))
    s = S.Sampler(1.0, 0.9, 0)
    cpu = torch.device("cpu")
    fast_drop = S.top_p_drop

    def run(drop):
        S.top_p_drop = drop
        try:
            with torch.inference_mode():
                return sample(model, prompts, T, s, fmt.eos_id, fmt.pad_id, u, cpu)
        finally:
            S.top_p_drop = fast_drop

    a, b = run(fast_drop), run(lambda z, p: S.top_p_drop_sorted(z, p))
    assert torch.equal(a.tokens, b.tokens) and torch.equal(a.logq, b.logq)
    f, so = paired(
        lambda: run(fast_drop), lambda: run(lambda z, p: S.top_p_drop_sorted(z, p)), reps
    )
    V = model.config.vocab_size
    print(f"tiny model (vocab {V}), 64 rollouts x {T} tokens, top_p 0.9: "
          f"full sort {so:.3f} s, fast {f:.3f} s, {so / f:.2f}x")  # fmt: skip


def smollm2_case(reps: int) -> None:
    """Logits of SmolLM2-135M-Instruct (bridge.model = "smollm2", its cached folder): the
    next-token logits at the last 8 positions of 32 task prompts, 8 batches of 32 rows."""
    from simrl.bridge.config import BridgeRunConfig
    from simrl.bridge.model import load_policy
    from simrl.bridge.rollout import left_pad
    from simrl.bridge.run import problem_sets

    cfg = BridgeRunConfig.from_dict({"bridge": {"device": "cpu", "model": "smollm2"}}, {})
    model, fmt = load_policy(cfg)
    train, _ = problem_sets(cfg)
    ids, attn = left_pad([fmt.prompt_ids(p) for p in train[:32]], fmt.pad_id, torch.device("cpu"))
    pos = (attn.cumsum(-1) - 1).clamp(min=0)
    with torch.inference_mode():
        z = model(input_ids=ids, attention_mask=attn, position_ids=pos).logits[:, -8:]
    z = z.double().transpose(0, 1) / cfg.bridge.temperature  # (8, 32, V)
    for top_p in (0.9, 0.95):
        f = s = 0.0
        kept = []
        for batch in z:
            want = S.top_p_drop_sorted(batch, top_p)
            assert torch.equal(S.top_p_drop(batch, top_p), want)
            kept.append(float((~want).sum(-1).double().mean()))
            bf, bs = paired(
                lambda b=batch, p=top_p: S.top_p_drop(b, p),
                lambda b=batch, p=top_p: S.top_p_drop_sorted(b, p),
                reps,
            )
            f, s = f + bf, s + bs
        print(f"SmolLM2 logits (8 batches of 32 x {z.shape[-1]}), top_p {top_p}: kept "
              f"{np.mean(kept):.1f} (batch means {min(kept):.1f}-{max(kept):.1f}); "
              f"sort {s / 8:.4f} s, fast {f / 8:.4f} s per batch, {s / f:.1f}x")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--only", choices=("logits", "tiny", "smollm2"), default=None)
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.only in (None, "logits"):
        logits_case(args.reps)
    if args.only in (None, "tiny"):
        tiny_case(args.reps)
    if args.only == "smollm2":  # needs the SmolLM2 install (docs/bridge.md)
        smollm2_case(args.reps)


if __name__ == "__main__":
    main()
