"""Adding a KL estimator is one new file: here a toy sampled estimator, written to a file
at test time and imported (which registers it), runs on the numpy reference and, through
its torch form, on the bridge with parity to the reference step (1e-10).

The numba kernels inline the built-in estimators (an if-chain generated from the
registry when they compile: engine/kernels/dispatch.py), so one registered later is not
in them: the numba engine refuses it in one line, and a new estimator becomes a built-in
module (BUILTIN) to run there. The same holds for the aggregation modes.
"""

from __future__ import annotations

import textwrap

import pytest

from simrl.algorithms.kl_estimator import KL_ESTIMATORS, unregister
from simrl.config import Config
from simrl.engine.batch import RunSpec, run_batch
from simrl.errors import ConfigError
from tests.algorithms.plugin import plugin

TOY = "toy_k4"
TOY_MODULE = textwrap.dedent(
    '''
    """toy_k4: x + x^2 / 4 with x = logp - logp_ref at the sampled token (k1 plus half of
    k2; a test estimator, no paper); d / d logp = 1 + x / 2."""

    from simrl.algorithms.kl_estimator import KLEstimator, register


    def numpy_form(logp, logp_ref):
        x = logp - logp_ref
        return x + 0.25 * x * x, 1.0 + 0.5 * x


    def numba_form(x):
        return 1.0 + 0.5 * x


    def torch_form(logp, logp_ref):
        x = logp - logp_ref
        return x + 0.25 * x * x


    register(
        KLEstimator(
            name="toy_k4",
            doc="x + x^2 / 4 at the sampled token",
            source="a test estimator",
            numpy=numpy_form,
            numba=numba_form,
            torch=torch_form,
            sampled=True,
        )
    )
    '''
)


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    folder = tmp_path_factory.mktemp("plugin")
    with plugin(folder, "toy_k4", TOY_MODULE, lambda: unregister(TOY)):  # registers the estimator
        yield TOY


CASE = {
    "task.num_prompts": 6,
    "task.num_answers": 5,
    "algo.kl_kind": TOY,
    "algo.kl_coef": 0.5,
    "optim.lr": 2.0,
    "run.steps": 10,
}


def test_toy_kl_runs_on_the_reference_and_moves_towards_the_reference(toy):
    cfg = Config.from_dict({}, CASE)
    with_kl = run_batch([RunSpec(cfg, 0)], engine="reference")
    without = run_batch([RunSpec(cfg.replace(**{"algo.kl_coef": 0.0}), 0)], engine="reference")
    col = with_kl.names.index("kl_base")
    assert toy in KL_ESTIMATORS
    assert with_kl.metrics[0, -1, col] < without.metrics[0, -1, col]


def test_toy_kl_in_the_bridge(toy):
    pytest.importorskip("torch")
    from tests.bridge.test_parity import compare_with_tabular

    compare_with_tabular({"algo.kl_kind": TOY, "algo.kl_coef": 0.3})


def test_the_numba_engine_refuses_a_kl_estimator_registered_late(toy):
    cfg = Config.from_dict({}, CASE)
    with pytest.raises(ConfigError, match="built-in ones only"):
        run_batch([RunSpec(cfg, 0)], engine="fast")
