"""The [policy] section of a config: the policy class (simrl/policy.py; theory/NOTES.md,
"Shared parameters")."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from simrl.validate import NONNEG, POS_INT, Range, Section, Text, one_of, param

POLICY_KINDS = ("tabular", "linear")
#: the feature families of a linear policy (simrl/policy.py; theory/NOTES.md "Shared parameters")
FEATURE_FAMILIES = ("random_features", "shared_answer_features", "low_rank", "file")


@dataclass(frozen=True)
class PolicyConfig(Section):
    """The policy class (simrl/policy.py): tabular logits, or a log-linear softmax
    z(s, .) = theta_tab(s, .) + Phi(s, ., :) w with w shared by every state. Every field's
    default means "as before", so a config that leaves this section out keeps its identity
    (simrl/prereg/identity.py)."""

    section: ClassVar[str] = "policy"
    kind: str = param(
        "tabular",
        "'tabular' (one free logit per state and answer) or 'linear' (z = theta_tab + Phi w, w shared by all states; bandit tasks, both engines; the numba engine without run.audit)",
        one_of(POLICY_KINDS),
    )
    features: str = param(
        "random_features",
        "linear: the feature family Phi (S, K, d): 'random_features' (cosine rho between states' feature rows), 'shared_answer_features' (the base's plurality answer and the format answer share a feature across prompts), 'low_rank' (z = theta_tab + U V^T, U a fixed random embedding, V trained), 'file' (policy.features_file)",
        one_of(FEATURE_FAMILIES),
    )
    strength: float = param(
        1.0,
        "linear: feature scale: the norm of each feature row (random_features; in expectation when Gaussian), the feature value (shared_answer_features), the embedding norm (low_rank)",
        NONNEG,
    )
    rho: float = param(
        0.0,
        "random_features: cosine between the feature rows of the same answer in different states (0 = no spill; -> 1 = one habit); exact with dim >= (num_prompts + 1) * num_answers, in expectation below",
        Range(0.0, 1.0, hi_open=True),
    )
    dim: int = param(16, "random_features: number of shared features d", POS_INT)
    rank: int = param(
        2, "low_rank: rank r of U V^T (U: S x r fixed, V: K x r trained; r <= num_prompts)", POS_INT
    )
    features_file: str = param(
        "",
        "features = 'file': an .npy array (S, K, d), or FILE.py:FUNCTION, FUNCTION(config) returning one (loaded like `simrl run --task`; a relative path is taken from the working directory)",
        Text(),
    )
