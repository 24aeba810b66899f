"""A user's prompt set and reward for the bridge:

    simrl bridge run simrl/examples/bridge.toml --task simrl/examples/bridge_task.py:build

`build(cfg)` returns a BridgeTask: the RL training problems (here the multiplications
among the built-in problems at bridge.max_operand, the first bridge.train_prompts of
them), the held-out problems (the next bridge.eval_prompts), and a reward
fn(problem, completion_text, answer) -> float, `answer` being the verifier's parsed
integer (None when the completion is not well-formed). Here: 1 for the right answer, 0.2
for a well-formed wrong one (a format bonus), 0 otherwise. The reward replaces the
config's reward.kind; the audit uses it as its own expectation.
"""

from simrl.bridge.task import BridgeTask, all_problems


def reward(problem, text: str, answer: int | None) -> float:
    if answer is None:
        return 0.0
    return 1.0 if answer == problem.answer else 0.2


def build(cfg) -> BridgeTask:
    b = cfg.bridge
    products = [p for p in all_problems(b.max_operand) if set(p.ops) == {"*"}]
    train = products[: b.train_prompts]
    heldout = products[b.train_prompts : b.train_prompts + b.eval_prompts]
    return BridgeTask(tuple(train), tuple(heldout), reward)
