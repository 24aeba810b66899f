"""SmolLM2-135M-Instruct's base pass@1 on simrl/examples/bridge_arith.py (issue 21, item 2).

    PYTHONPATH=. HF_HUB_OFFLINE=1 python3 experiments/smollm2_entropy_audit/base_pass1.py > base_pass1.json

The study config's task (config.toml: max_operand 9, 32 training + 32 held-out problems,
max_new_tokens 16, temperature 1): eval_samples = 4 sampled replies per problem (seeded)
and one greedy reply, each scored by the task's exact verifier (`reward`) and by the chat
format's own verifier (the bridge's acc). pass@1 = the mean of the sampled scores
(Chen et al.'s unbiased estimator at k = 1).
"""

import json
import sys
from pathlib import Path

import numpy as np
import torch

from simrl.bridge.config import BridgeRunConfig
from simrl.bridge.metrics import rollout
from simrl.bridge.model import load_policy
from simrl.bridge.task import BridgeTask
from simrl.cli import call_task_function

HERE = Path(__file__).parent


def main() -> None:
    torch.set_num_threads(1)
    cfg = BridgeRunConfig.from_toml(HERE / "config.toml")
    task = call_task_function("simrl/examples/bridge_arith.py:build", cfg, BridgeTask)
    model, fmt = load_policy(cfg)
    dev = torch.device("cpu")
    n, T = cfg.bridge.eval_samples, cfg.bridge.max_new_tokens
    rng = np.random.default_rng(20261207)
    out = {"n_samples": n, "max_new_tokens": T}
    for name, probs in (("train", task.train), ("heldout", task.heldout)):
        v = rollout(model, fmt, list(probs), n, rng.random((len(probs) * n, T)), cfg, dev)
        g = rollout(model, fmt, list(probs), 1, None, cfg, dev)
        truth = [p for p in probs for _ in range(n)]
        r = np.array(
            [task.reward(p, t, a) for p, t, a in zip(truth, v.texts, v.answers, strict=True)]
        )
        rg = np.array(
            [task.reward(p, t, a) for p, t, a in zip(probs, g.texts, g.answers, strict=True)]
        )
        ops = np.array([p.ops[0] for p in truth])
        out[name] = {
            "problems": len(probs),
            "pass1_verifier": float(r.mean()),
            "pass1_sums": float(r[ops == "+"].mean()),
            "pass1_products": float(r[ops == "*"].mean()),
            "pass1_format_verifier": float(v.correct.mean()),
            "greedy_verifier": float(rg.mean()),
            "greedy_format_verifier": float(g.correct.mean()),
            "examples": [
                [p.text, t] for p, t in zip(truth[::n][:6], v.texts[::n][:6], strict=True)
            ],
        }
        print(name, out[name], file=sys.stderr, flush=True)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
