"""simrl's algorithms, one module per algorithm holding every engine's form of it.

    simrl/algorithms/policy_loss.py   what a policy loss is (PolicyLoss), its registry
    simrl/algorithms/tokens.py        the token batch every engine hands a loss
    simrl/algorithms/losses/<name>.py one policy loss: citation, fields, flags, numpy,
                                      numba and torch forms

See docs/adding-an-algorithm.md. Advantage estimators, rewards, KL estimators,
aggregations and optimisers still live in simrl/advantages.py, rewards.py, kl.py,
aggregation.py and optim.py, with their numba forms in simrl/engine/kernels/.
"""
