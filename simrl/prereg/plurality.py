"""Is the base policy's plurality answer correct? A fact of the task, computed exactly.

For a prompt, the plurality answer is the final answer the base policy gives most often:
the bandit's most likely answer; for a sequence task the most likely value of the exact
final-answer distribution (SequenceTask.answer_dist over the leaves the base policy
reaches). It is correct when the largest probability of a correct answer exceeds that of
every wrong one (a tie is not a correct plurality). Self-consistency rewards the group's
plurality, so its pull points toward the correct answer exactly when this holds
(theory/NOTES.md, "Plurality and the sign of elicitation").
"""

from __future__ import annotations

import numpy as np

from simrl.config import Config
from simrl.tasks import build_task
from simrl.tasks.family import family


def answer_distribution(cfg: Config) -> tuple[np.ndarray, np.ndarray]:
    """(S, A) base distribution of each training prompt's final answer, and (S, A) correct."""
    return family(cfg.task.kind).answer_distribution(build_task(cfg.task), cfg.train_prompts)


def plurality_correct_share(cfg: Config) -> float:
    """Share of training prompts whose base plurality answer is correct."""
    dist, correct = answer_distribution(cfg)
    best_right = np.where(correct, dist, -np.inf).max(axis=1)
    best_wrong = np.where(correct, -np.inf, dist).max(axis=1)
    return float(np.mean(best_right > best_wrong))
