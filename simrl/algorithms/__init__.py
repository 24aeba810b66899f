"""simrl's algorithms, one module per algorithm holding every engine's form of it.

    simrl/algorithms/policy_loss.py     what a policy loss is (PolicyLoss), its registry
    simrl/algorithms/losses/<name>.py   one policy loss: citation, fields, checks, flags,
                                        numpy, numba and torch forms
    simrl/algorithms/advantage.py       what an advantage estimator is, its registry
    simrl/algorithms/advantages/<name>.py  one estimator: citation, fields, checks, numpy
                                        and numba forms
    simrl/algorithms/kl_estimator.py, kl_estimators/<name>.py    the KL penalties
    simrl/algorithms/aggregation.py, aggregations/<name>.py     verl's agg_loss modes
    simrl/algorithms/optimiser.py, optimisers/<name>.py         the optimisers
    simrl/algorithms/reward.py, rewards/<name>.py               the rewards
    simrl/algorithms/tokens.py          the token batch every engine hands a loss

`Algorithms` is what the kernels receive: a run's compiled policy loss, advantage
estimator and optimiser, as first-class functions (numba types a named tuple of them by
their signatures only, so one compiled kernel serves every combination). The KL
estimators, aggregation modes and rewards, called per token, state or group, are
inlined through an if-chain generated from their registries instead
(simrl/engine/kernels/dispatch.py). Its `hooks` are the engine's optional features
(the exact batch, the dH breakdown, the controllers, ...: simrl/engine/kernels/hooks.py),
first-class functions too, which the engine's driver sets per kernel call (None here).

See docs/adding-an-algorithm.md.
"""

from collections import namedtuple

Algorithms = namedtuple("Algorithms", ["loss", "advantage", "optimiser", "hooks"], defaults=(None,))


def compiled(loss: str, advantage: str, optimiser: str = "sgd") -> Algorithms:
    """The compiled numba forms of a run's policy loss, advantage estimator and optimiser."""
    from simrl.algorithms import advantage as adv
    from simrl.algorithms import optimiser as opt
    from simrl.algorithms import policy_loss

    return Algorithms(policy_loss.compiled(loss), adv.compiled(advantage), opt.compiled(optimiser))
