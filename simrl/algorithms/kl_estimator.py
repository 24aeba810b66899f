"""What a KL estimator is: one registry entry holding every engine's form of the KL
penalty to the reference policy (the shape of policy_loss.py).

A module in simrl/algorithms/kl_estimators/ calls `register(KLEstimator(...))` with its
name, citation, kind and three forms. The kind (`sampled`) says where the penalty lives:

- sampled (k1, k2, k3, abs, k1+, k3+, k3_ratio): a function of x = logp - logp_ref at
  each sampled token; `numpy(logp, logp_ref) -> (k, d k / d logp)` per token;
  `numba(x) -> d k / d logp`, a scalar function the kernels inline at every token;
  `torch(logp, logp_ref) -> k` per token (the bridge differentiates it). An estimator
  that also reads the token's ratio r = pi / pi_old (`reads_ratio`: TRL's bias-corrected
  k3 times r) takes one more argument in each form: `numpy(logp, logp_ref, logp_old)`,
  `numba(x, r)`, `torch(logp, logp_ref, logp_old)`;
- exact (exact_reverse, exact_forward): a function of the whole state's distribution;
  `numpy(logp, logp_ref) -> (KL, d KL / d z)` for rows of log-probs (n, K);
  `numba(scale, logp, prob, ref_logp, ref_prob, s, g)` adds scale * d KL / d z of state
  s into g[s]; `torch(logp_all, logp_ref_all) -> KL` per prefix (full vocabulary).

The kernels dispatch on the entry's code with an if-chain generated from the registry
when they are compiled (engine/kernels/dispatch.py): the numba form is inlined per token,
with no indirect call. So a KL estimator must be built in (BUILTIN) to run on the numba
engine; one registered later runs on the numpy reference and the bridge, and the numba
engine refuses it in one line (engine/packing.py). An estimator reads no parameter but
algo.kl_coef, which scales every penalty.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from simrl.registry import Registry


@dataclass(frozen=True)
class KLEstimator:
    name: str
    doc: str  # one line: what the estimator is
    source: str  # paper and equation, or the library file and function it follows
    numpy: Callable[..., Any]
    numba: Callable[..., Any]
    torch: Callable[..., Any]
    #: True: per sampled token, gradient in logp; False: exact over the state, gradient in z
    sampled: bool
    #: the sampled forms also read the token's old log-prob (numpy, torch) or ratio (numba)
    reads_ratio: bool = False
    code: int = -1  # the registration index (set by register)

    @property
    def fn(self) -> Callable[..., Any]:
        """The numpy reference form (the registries' common `fn`)."""
        return self.numpy


KL_ESTIMATORS = Registry("KL estimator")


def register(entry: KLEstimator) -> KLEstimator:
    """Add an estimator to KL_ESTIMATORS (its code is its registration index)."""
    return KL_ESTIMATORS.put(dataclasses.replace(entry, code=len(KL_ESTIMATORS)))


def unregister(name: str) -> None:
    """Remove the last-registered estimator (tests register a toy one and remove it)."""
    KL_ESTIMATORS.remove(name)


def sampled_names() -> tuple[str, ...]:
    return tuple(e.name for e in KL_ESTIMATORS if e.sampled)


def sampled_kl(e: KLEstimator, logp: Any, logp_ref: Any, logp_old: Any) -> tuple[Any, Any]:
    """A sampled estimator's numpy form per token -> (k, d k / d logp); logp_old is passed
    only to an estimator that reads the ratio (`reads_ratio`)."""
    return e.numpy(logp, logp_ref, logp_old) if e.reads_ratio else e.numpy(logp, logp_ref)


def sampled_kl_torch(e: KLEstimator, logp: Any, logp_ref: Any, logp_old: Any) -> Any:
    """A sampled estimator's torch form per token; logp_old only where it reads the ratio."""
    return e.torch(logp, logp_ref, logp_old) if e.reads_ratio else e.torch(logp, logp_ref)
