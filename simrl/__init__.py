"""simrl: an exact, batched tabular simulator of RL from verifiable rewards (GRPO and kin)."""

from simrl._version import __version__
from simrl.config import AlgoConfig, Config, OptimConfig, RewardConfig, RunConfig, TaskConfig
from simrl.engine.batch import BatchResult, RunSpec, run_batch
from simrl.errors import ConfigError, NonFiniteError
from simrl.simulate import Result, simulate

__all__ = [
    "AlgoConfig",
    "BatchResult",
    "Config",
    "ConfigError",
    "NonFiniteError",
    "OptimConfig",
    "Result",
    "RewardConfig",
    "RunConfig",
    "RunSpec",
    "TaskConfig",
    "__version__",
    "run_batch",
    "simulate",
]
