"""Throughput of the bridge, and one GRPO step against TRL's GRPOTrainer.

    python -m simrl.bridge.bench [--model ''|smollm2|PATH] [--trl] [--threads N]

Reports rollout tokens/s (KV-cache sampling of prompts x G completions) and update
tokens/s (one epoch, one minibatch: forward + backward + optimiser step over the batch's
completion tokens), each the best of `repeats` timed steps after one warm-up step. With
--trl (a model with a HuggingFace tokenizer and `trl` installed), one GRPOTrainer step on
the same prompts, G and max_completion_length (generation + loss + AdamW step, TRL's
defaults otherwise: loss_type per its version, beta 0) against one bridge step (rollout +
update), wall-clock, and their ratio. Both run in this process on the same device.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from simrl.bridge.config import BridgeRunConfig
from simrl.bridge.model import load_policy, resolve_device
from simrl.bridge.run import Context, make_optimizer, rl_step
from simrl.bridge.task import split_problems


def bridge_config(model: str, prompts: int, group: int, max_new: int) -> BridgeRunConfig:
    return BridgeRunConfig.from_dict(
        {
            "bridge": {
                "model": model,
                "train_prompts": prompts,
                "max_new_tokens": max_new,
                "probe_prompts": 0,
                "eval_prompts": 8,
            },
            "algo": {"group_size": group, "epochs": 1, "minibatches": 1},
            "optim": {"kind": "adam", "lr": 1e-6},
            "run": {"steps": 1, "seeds": 1, "passk": [1]},
        }
    )


def bench_bridge(cfg: BridgeRunConfig, device: str, repeats: int = 3) -> dict[str, float]:
    dev = resolve_device(device)
    base, fmt = load_policy(cfg)
    policy = base.to(dev)
    b = cfg.bridge
    split = split_problems(b.max_operand, b.train_prompts, b.eval_prompts, b.task_seed)
    ctx = Context(cfg, fmt, split.train, split.heldout, policy, dev, [])
    params = [p for p in policy.parameters() if p.requires_grad]
    opt = make_optimizer(cfg, params)
    labels = np.array([p.answer + 1 for p in split.train])
    rng, arng = np.random.default_rng(0), np.random.default_rng(1)
    best: dict[str, float] = {}
    for i in range(repeats + 1):
        start = time.perf_counter()
        out, _ = rl_step(ctx, policy, base, opt, params, labels, i, rng, arng)
        wall = time.perf_counter() - start
        if i == 0:
            continue  # warm-up
        for k, v in (
            ("rollout_tokens_per_s", out["rollout_tokens_per_s"]),
            ("update_tokens_per_s", out["update_tokens_per_s"]),
            ("tokens_per_response", out["tokens_per_response"]),
        ):
            best[k] = max(best.get(k, 0.0), v)
        best["step_seconds"] = min(best.get("step_seconds", np.inf), wall)
    best["parameters"] = float(sum(p.numel() for p in policy.parameters()))
    return best


def bench_trl(cfg: BridgeRunConfig, repeats: int = 2) -> dict[str, float]:
    """Seconds per GRPOTrainer step on the same prompts, G and completion length (CPU)."""
    import tempfile

    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    base, fmt = load_policy(cfg)
    b, a = cfg.bridge, cfg.algo
    split = split_problems(b.max_operand, b.train_prompts, b.eval_prompts, b.task_seed)
    truths = {fmt.tok.decode(fmt.prompt_ids(p)): p.answer for p in split.train}
    data = Dataset.from_list([{"prompt": fmt.tok.decode(fmt.prompt_ids(p))} for p in split.train])

    def reward(prompts, completions, **_):
        return [
            float(fmt.answer(c, True) == truths[p])
            for p, c in zip(prompts, completions, strict=True)
        ]

    with tempfile.TemporaryDirectory() as tmp:
        args = GRPOConfig(
            output_dir=tmp,
            per_device_train_batch_size=b.train_prompts * a.group_size,
            num_generations=a.group_size,
            max_completion_length=b.max_new_tokens,
            learning_rate=1e-6,
            max_steps=repeats + 1,
            logging_steps=1,
            report_to=[],
            use_cpu=True,
            save_strategy="no",
            beta=0.0,
            temperature=b.temperature,
        )
        trainer = GRPOTrainer(
            model=base, reward_funcs=reward, args=args, train_dataset=data, processing_class=fmt.tok
        )
        times: list[float] = []

        from transformers import TrainerCallback

        class Timer(TrainerCallback):
            def on_step_begin(self, *_, **__):
                self.t = time.perf_counter()

            def on_step_end(self, *_, **__):
                times.append(time.perf_counter() - self.t)

        trainer.add_callback(Timer())
        trainer.train()
    return {"trl_step_seconds": float(min(times[1:] or times)), "trl_version": _trl_version()}


def _trl_version() -> str:
    import trl

    return trl.__version__


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="", help="'' (tiny), 'smollm2' or a folder")
    parser.add_argument("--prompts", type=int, default=8)
    parser.add_argument("--group", type=int, default=8)
    parser.add_argument("--max-new", type=int, default=24)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--trl", action="store_true")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = bridge_config(args.model, args.prompts, args.group, args.max_new)
    out = bench_bridge(cfg, args.device, args.repeats)
    if args.trl:
        out.update(bench_trl(cfg, args.repeats))
        out["trl_over_bridge"] = out["trl_step_seconds"] / out["step_seconds"]
    for k, v in out.items():
        print(f"{k}: {v:.4g}" if isinstance(v, float) else f"{k}: {v}")


if __name__ == "__main__":
    main()
