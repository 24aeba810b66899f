"""Strategies that build valid objects: softmax policies given by bounded logits."""

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

LOGIT = st.floats(-8.0, 8.0, allow_nan=False, allow_infinity=False, width=64)


@st.composite
def logits(draw, min_k: int = 2, max_k: int = 12) -> np.ndarray:
    k = draw(st.integers(min_k, max_k))
    return draw(arrays(np.float64, k, elements=LOGIT))


@st.composite
def logits_and_direction(draw, max_k: int = 12) -> tuple[np.ndarray, np.ndarray]:
    z = draw(logits(max_k=max_k))
    d = draw(arrays(np.float64, z.shape, elements=st.floats(-1.0, 1.0, width=64)))
    return z, d
