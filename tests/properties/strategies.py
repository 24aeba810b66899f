"""Strategies that build valid objects: softmax policies given by bounded logits.

Logits range over [-50, 50] and K over 2..64, so near-deterministic policies (a gap of
100 nats) are included; `wide=False` keeps to [-8, 8] where finite differences are tame.
"""

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays


def _logit(bound: float):
    return st.floats(-bound, bound, allow_nan=False, allow_infinity=False, width=64)


@st.composite
def logits(draw, min_k: int = 2, max_k: int = 64, wide: bool = True) -> np.ndarray:
    k = draw(st.integers(min_k, max_k))
    bound = 50.0 if wide else 8.0
    z = draw(arrays(np.float64, k, elements=_logit(bound)))
    if wide and draw(st.booleans()):  # a near-deterministic policy: one dominant answer
        z[draw(st.integers(0, k - 1))] = bound
    return z


@st.composite
def logits_and_direction(draw, max_k: int = 64, wide: bool = True) -> tuple[np.ndarray, np.ndarray]:
    z = draw(logits(max_k=max_k, wide=wide))
    d = draw(arrays(np.float64, z.shape, elements=st.floats(-1.0, 1.0, width=64)))
    return z, d
