"""simrl's algorithms, one module per algorithm holding every engine's form of it.

    simrl/algorithms/policy_loss.py     what a policy loss is (PolicyLoss), its registry
    simrl/algorithms/losses/<name>.py   one policy loss: citation, fields, checks, flags,
                                        numpy, numba and torch forms
    simrl/algorithms/advantage.py       what an advantage estimator is, its registry
    simrl/algorithms/advantages/<name>.py  one estimator: citation, fields, checks, numpy
                                        and numba forms
    simrl/algorithms/tokens.py          the token batch every engine hands a loss

`Algorithms` is what the kernels receive: a run's compiled policy loss and advantage
estimator, as first-class functions (numba types a named tuple of them by their
signatures only, so one compiled kernel serves every combination).

See docs/adding-an-algorithm.md. Rewards, KL estimators, aggregations and optimisers
still live in simrl/rewards.py, kl.py, aggregation.py and optim.py, with their numba
forms in simrl/engine/kernels/.
"""

from collections import namedtuple

Algorithms = namedtuple("Algorithms", ["loss", "advantage", "optimiser"])


def compiled(loss: str, advantage: str, optimiser: str = "sgd") -> Algorithms:
    """The compiled numba forms of a run's policy loss, advantage estimator and optimiser."""
    from simrl.algorithms import advantage as adv
    from simrl.algorithms import optimiser as opt
    from simrl.algorithms import policy_loss

    return Algorithms(policy_loss.compiled(loss), adv.compiled(advantage), opt.compiled(optimiser))
