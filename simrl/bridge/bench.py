"""Throughput of a bridge step, and one GRPO step against TRL's GRPOTrainer at equal work.

    simrl bridge bench [--model ''|smollm2|PATH] [--prompts 8] [--group 8] [--max-new 24]
                       [--epochs 1] [--device auto|cpu|cuda] [--threads N] [--repeats 3] [--trl]

The step: simrl/examples/bridge.toml's model and task (the shipped tiny model, prior_mix
0.8), `prompts` prompts x `group` completions of up to `max_new` tokens, GRPO advantages,
the PPO clip loss (0.2 / 0.2), token-mean aggregation, `epochs` passes of one minibatch,
Adam at lr 1e-6, no KL, no audit. Reported per step: wall seconds, rollout tokens/s
(generated tokens / sampling seconds) and update tokens/s (trained tokens x epochs /
update seconds), the median over `repeats` steps after one warm-up step; beside them the
same rates per CPU second of this process (rollout: sampling, verifying and rewards) and
the 1-minute load average, since on a shared machine wall-clock rates move with other
processes' load and CPU seconds much less.

--trl runs TRL's GRPOTrainer (the installed version; tested with trl 1.16.0) on the same
work: the same weights (a second copy), the same prompts (the same training problems,
the same token ids: the tiny model's character tokenizer as a transformers tokenizer,
SmolLM2's chat template), per_device_train_batch_size = prompts x group completions,
num_generations = group, max_completion_length = max_new, num_iterations = epochs (one
generation, then `epochs` optimiser steps: the bridge's epochs x 1 minibatch),
loss_type 'dapo' (= token-mean), epsilon 0.2, beta 0, learning_rate 1e-6, float32 on CPU
(bf16 autocast on CUDA, as the bridge), the same temperature, and no gradient
checkpointing (GRPOConfig's default turns it on: the backward recomputes each layer's
forward, about a third more arithmetic than the bridge's step; measurements before
2026-12-07 17:30 UTC, the 1.52x and 1.69x of docs/bridge.md, had it on). The two alternate in one
process (a TRL step, then a bridge step, from a trainer callback), so that both see the
same machine load; the ratio is TRL seconds / bridge seconds of each pair, and the
median of those paired ratios is printed, in wall seconds and in CPU seconds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
import torch

from simrl.bridge.config import BridgeRunConfig
from simrl.bridge.device import configure, resolve_device
from simrl.bridge.model import load_policy
from simrl.bridge.step import Context, rl_step
from simrl.bridge.task import split_problems
from simrl.bridge.update import make_optimizer
from simrl.examples_path import EXAMPLES

#: the TRL release this comparison was written and measured against
TRL_TESTED = "1.16.0"


def bench_config(
    model: str, prompts: int, group: int, max_new: int, epochs: int, device: str
) -> BridgeRunConfig:
    return BridgeRunConfig.from_toml(
        EXAMPLES / "bridge.toml",
        {
            "bridge.model": model,
            "bridge.max_new_tokens": max_new,
            "bridge.probe_prompts": 0,
            "bridge.device": device,
            "algo.group_size": group,
            "algo.prompts_per_step": prompts,
            "algo.epochs": epochs,
            "algo.minibatches": 1,
            "algo.loss": "vanilla",
            "algo.clip_low": 0.2,
            "algo.clip_high": 0.2,
            "algo.agg": "token-mean",
            "algo.kl_coef": 0.0,
            "optim.kind": "adam",
            "optim.lr": 1e-6,
            "run.audit": False,
        },
    )


class BridgeStepper:
    """One bridge RL step per call: (wall seconds, update metrics)."""

    def __init__(self, cfg: BridgeRunConfig):
        self.dev = resolve_device(cfg.bridge.device)
        configure(self.dev)
        base, fmt = load_policy(cfg)
        self.policy = base.to(self.dev)
        b = cfg.bridge
        split = split_problems(b.max_operand, b.train_prompts, b.eval_prompts, b.task_seed)
        self.ctx = Context(cfg, fmt, split.train, split.heldout, self.policy, self.dev, [])
        self.params = [p for p in self.policy.parameters() if p.requires_grad]
        self.opt = make_optimizer(cfg, self.params)
        self.labels = np.array([p.answer + 1 for p in split.train])
        self.rng, self.arng = np.random.default_rng(0), np.random.default_rng(1)
        self.t = 0

    def __call__(self) -> tuple[float, dict]:
        start, cpu0 = time.perf_counter(), time.process_time()
        out, _ = rl_step(
            self.ctx, self.policy, self.policy, self.opt, self.params, self.labels, self.t,
            self.rng, self.arng,
        )  # fmt: skip
        if self.dev.type == "cuda":
            torch.cuda.synchronize()
        self.t += 1
        out["step_cpu_seconds"] = time.process_time() - cpu0
        return time.perf_counter() - start, out


def bench_bridge(cfg: BridgeRunConfig, repeats: int) -> dict[str, float]:
    step = BridgeStepper(cfg)
    step()  # warm-up
    runs = [step() for _ in range(repeats)]
    return summarize([r for r in runs], "bridge") | {"parameters": n_params(step.policy)}


def summarize(runs: list[tuple[float, dict]], prefix: str) -> dict[str, float]:
    out = {f"{prefix}_step_seconds": statistics.median(s for s, _ in runs)}
    for k in ("rollout_tokens_per_s", "update_tokens_per_s", "tokens_per_response"):
        out[f"{prefix}_{k}"] = statistics.median(m[k] for _, m in runs)
    # per CPU second of this process (simrl/bridge/step.py rl_step): what the load of
    # other processes on a shared machine moves least
    out[f"{prefix}_step_cpu_seconds"] = statistics.median(m["step_cpu_seconds"] for _, m in runs)
    for k in ("rollout", "update"):
        out[f"{prefix}_{k}_tokens_per_cpu_s"] = statistics.median(
            m[f"{k}_tokens"] / m[f"{k}_cpu_seconds"] for _, m in runs
        )
    out["load_average_1min"] = os.getloadavg()[0]
    return out


def n_params(model) -> float:
    return float(sum(p.numel() for p in model.parameters()))


def trl_trainer(cfg: BridgeRunConfig, out_dir: str, steps: int):
    """A GRPOTrainer doing the bridge step's work (see the module doc)."""
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    from simrl.bridge.formats import TinyFormat
    from simrl.bridge.task import prompt_text

    model, fmt = load_policy(cfg)
    b, a = cfg.bridge, cfg.algo
    split = split_problems(b.max_operand, b.train_prompts, b.eval_prompts, b.task_seed)
    if isinstance(fmt, TinyFormat):
        tok = fmt.tok.to_hf()
        rows = [{"prompt": prompt_text(p), "answer": p.answer} for p in split.train]
        # the same token ids as the bridge's prompts
        assert tok(rows[0]["prompt"])["input_ids"] == fmt.prompt_ids(split.train[0])
    else:
        tok = fmt.tok
        rows = [
            {"prompt": [{"role": "user", "content": fmt.question(p)}], "answer": p.answer}
            for p in split.train
        ]

    def reward(completions, answer, **_):
        texts = [c if isinstance(c, str) else c[-1]["content"] for c in completions]
        return [float(fmt.answer(t, True) == y) for t, y in zip(texts, answer, strict=True)]

    cuda = resolve_device(b.device).type == "cuda"
    args = GRPOConfig(
        output_dir=out_dir,
        per_device_train_batch_size=cfg.prompts_per_step * a.group_size,
        num_generations=a.group_size,
        max_completion_length=b.max_new_tokens,
        num_iterations=a.epochs,
        loss_type="dapo",
        epsilon=a.clip_low,
        beta=0.0,
        learning_rate=cfg.optim.lr,
        temperature=b.temperature,
        max_steps=steps,
        logging_steps=10**6,
        report_to=[],
        save_strategy="no",
        use_cpu=not cuda,
        bf16=cuda,
        # GRPOConfig defaults to True (trl/trainer/grpo_config.py): the backward would
        # recompute every layer's forward, work the bridge does not do
        gradient_checkpointing=False,
        disable_tqdm=True,
        dataloader_num_workers=0,
        seed=0,
    )
    return GRPOTrainer(
        model=model,
        reward_funcs=reward,
        args=args,
        train_dataset=Dataset.from_list(rows),
        processing_class=tok,
    )


def bench_paired(cfg: BridgeRunConfig, repeats: int) -> dict[str, float]:
    """TRL steps and bridge steps alternating in this process (see the module doc)."""
    import tempfile

    from transformers import TrainerCallback

    stepper = BridgeStepper(cfg)
    E = cfg.algo.epochs  # TRL optimiser steps per generation = one bridge step
    pairs: list[tuple[float, float]] = []
    cpu_pairs: list[tuple[float, float]] = []  # the same steps' CPU seconds
    bridge_runs: list[tuple[float, dict]] = []

    class Alternate(TrainerCallback):
        def __init__(self):
            self.trl = self.trl_cpu = 0.0

        def on_step_begin(self, args, state, control, **kw):
            self.t0, self.c0 = time.perf_counter(), time.process_time()

        def on_step_end(self, args, state, control, **kw):
            if resolve_device(cfg.bridge.device).type == "cuda":
                torch.cuda.synchronize()
            self.trl += time.perf_counter() - self.t0
            self.trl_cpu += time.process_time() - self.c0
            if state.global_step % E:
                return
            run = stepper()
            if state.global_step > E:  # the first pair is the warm-up
                pairs.append((self.trl, run[0]))
                cpu_pairs.append((self.trl_cpu, run[1]["step_cpu_seconds"]))
                bridge_runs.append(run)
            self.trl = self.trl_cpu = 0.0

    with tempfile.TemporaryDirectory() as tmp:
        trainer = trl_trainer(cfg, tmp, E * (repeats + 1))
        trainer.add_callback(Alternate())
        trainer.train()
    ratios = [t / s for t, s in pairs]
    out = summarize(bridge_runs, "bridge")
    out["trl_step_seconds"] = statistics.median(t for t, _ in pairs)
    out["trl_over_bridge_paired"] = statistics.median(ratios)
    out["trl_over_bridge_min"], out["trl_over_bridge_max"] = min(ratios), max(ratios)
    out["parameters"] = n_params(stepper.policy)
    out["pairs_trl_bridge_seconds"] = " ".join(f"{t:.3g}/{b:.3g}" for t, b in pairs)
    cpu_ratios = [t / s for t, s in cpu_pairs]
    out["trl_step_cpu_seconds"] = statistics.median(t for t, _ in cpu_pairs)
    out["trl_over_bridge_cpu_paired"] = statistics.median(cpu_ratios)
    out["trl_over_bridge_cpu_min"] = min(cpu_ratios)
    out["trl_over_bridge_cpu_max"] = max(cpu_ratios)
    return out


def bench_cmd(args: argparse.Namespace) -> int:
    from simrl.errors import ConfigError

    if args.threads is not None:  # `simrl bridge` sets its default (cli.DEFAULT_THREADS)
        torch.set_num_threads(args.threads)
    cfg = bench_config(args.model, args.prompts, args.group, args.max_new, args.epochs, args.device)
    resolve_device(cfg.bridge.device)  # --device cuda without CUDA: one line, exit 2
    if args.trl:
        import importlib.util

        for name in ("trl", "datasets"):
            if importlib.util.find_spec(name) is None:
                raise ConfigError("--trl", True, f"needs {name}: pip install trl=={TRL_TESTED}")
        import trl

        out = bench_paired(cfg, args.repeats)
        out["trl_version"] = trl.__version__
    else:
        out = bench_bridge(cfg, args.repeats)
    print(
        f"model {args.model or 'tiny'}, {args.prompts} prompts x {args.group}, max_new "
        f"{args.max_new}, epochs {args.epochs}, device {cfg.bridge.device}, threads "
        f"{torch.get_num_threads()}, {args.repeats} timed steps (median)"
    )
    for k, v in out.items():
        print(f"{k}: {v:.4g}" if isinstance(v, float) else f"{k}: {v}")
    if args.trl:
        print(
            f"one GRPO step: TRL / bridge = {out['trl_over_bridge_paired']:.2f}x wall, "
            f"{out['trl_over_bridge_cpu_paired']:.2f}x CPU seconds (paired medians)"
        )
    return 0


def main() -> None:
    from simrl.bridge.cli import add_bench_arguments

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_bench_arguments(parser)
    raise SystemExit(bench_cmd(parser.parse_args()))


if __name__ == "__main__":
    main()
