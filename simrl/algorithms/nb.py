"""The numba helpers a loss's numba form may call, reached as attributes of this module
(`nb.ppo_clip(...)`): numba resolves them when it compiles the form, so importing a loss
module (as simrl.config does) never imports numba. The helpers themselves are the
compiled functions of simrl/algorithms/losses/numba_helpers.py.
"""

from __future__ import annotations


def __getattr__(name: str):
    from simrl.algorithms.losses import numba_helpers

    try:
        return getattr(numba_helpers, name)
    except AttributeError:
        raise AttributeError(f"no numba helper {name!r} in numba_helpers.py") from None
