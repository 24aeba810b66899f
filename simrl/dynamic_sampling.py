"""DAPO's dynamic sampling (Yu et al. 2025, arXiv 2503.14476, Sec. 3.2; verl's
`filter_groups`), one rule for the bandit reference, the sequence reference and the bridge.

Groups whose rewards are all equal carry no GRPO signal (their advantages are 0). With
mode 'off' the first round's groups are kept as they are; 'drop' keeps the informative
ones of the first round only; 'resample' draws further rounds, up to `rounds`, and keeps
informative groups in the order drawn until `prompts_per_step` are kept (the numba
kernels, kernels/sampling.py and seq_sampling.py, implement the same rule).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np


def informative(group: Sequence[Any]) -> bool:
    """A group is a tuple whose last element is its rewards (G,): are they not all equal?"""
    rewards = group[-1]
    return bool(rewards.min() != rewards.max())


def dynamic_sampling(
    draw_round: Callable[[int], list], mode: str, rounds: int, prompts_per_step: int
) -> tuple[list, list, float]:
    """(kept groups, the first round's groups, the first round's zero-variance share).

    draw_round(rnd) returns round rnd's groups, each a tuple ending with its rewards."""
    kept: list = []
    first: list = []
    zero_var_frac = np.nan
    for rnd in range(rounds):
        groups = draw_round(rnd)
        useful = [g for g in groups if informative(g)]
        if rnd == 0:
            first = groups
            zero_var_frac = 1.0 - len(useful) / len(groups)
        if mode == "off":
            return groups, first, zero_var_frac
        kept += useful[: prompts_per_step - len(kept)]
        if mode == "drop" or len(kept) == prompts_per_step:
            break
    return kept, first, zero_var_frac
