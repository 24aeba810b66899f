"""simrl: an exact, batched tabular simulator of RL from verifiable rewards (GRPO and kin)."""

from simrl._lazy import make_lazy
from simrl._version import __version__

_EXPORTS = {
    **dict.fromkeys(
        (
            "AlgoConfig",
            "Config",
            "OptimConfig",
            "PolicyConfig",
            "RewardConfig",
            "RunConfig",
            "TaskConfig",
        ),
        "simrl.config",
    ),
    **dict.fromkeys(("BatchResult", "RunSpec", "run_batch"), "simrl.engine.batch"),
    **dict.fromkeys(("ConfigError", "NonFiniteError"), "simrl.errors"),
    **dict.fromkeys(("Result", "simulate"), "simrl.simulate"),
}
make_lazy(__name__)

__all__ = [
    "AlgoConfig",
    "BatchResult",
    "Config",
    "ConfigError",
    "NonFiniteError",
    "OptimConfig",
    "PolicyConfig",
    "Result",
    "RewardConfig",
    "RunConfig",
    "RunSpec",
    "TaskConfig",
    "__version__",
    "run_batch",
    "simulate",
]
