"""The bridge as a study backend: a config in, one row of outcomes per seed out.

    from simrl.bridge import bridge_outcomes
    df = bridge_outcomes(sim_config, bridge={"prior_mix": 0.8}, optim={"lr": 3e-4})

`bridge_outcomes` is what a pre-registered study with `backend = "bridge"` calls for each
cell (simrl/prereg runs the simulator otherwise). It takes the cell's simulator Config
(its reward, algo, optim and run sections; the task section is not used, because the
bridge's task is the arithmetic task of simrl/bridge/task.py) or a BridgeRunConfig, and
returns `BridgeResult.final`: columns seed, failed_step and every metric under the
simulator's names (acc, acc_heldout, pass_at_k, entropy_mean, kl_base, mode_usage_m,
clip_low_frac, ..., dH_exact, dH_first_order), plus the bridge's own (acc_greedy,
acc_heldout_greedy, mode_prob_code, kl_ref, throughput). A study's grid names the
bridge's knobs as `bridge.<field>` (e.g. bridge.prior_mix = [0.2, 0.8]); a tabular step
size means nothing to a transformer, so a study sets optim.lr for the bridge explicitly.
With `trajectory=True` it returns every recorded step instead (the layout of a prereg cell
file), which is what the prereg runner stores (simrl/prereg/executors.py).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from simrl.bridge.config import BridgeRunConfig
from simrl.config import Config


def bridge_config(
    config: Config | BridgeRunConfig, bridge: dict[str, Any] | None = None, **sections: dict
) -> BridgeRunConfig:
    """The BridgeRunConfig of a study cell (see module doc)."""
    if isinstance(config, BridgeRunConfig):
        data = config.to_dict()
        data["bridge"].update(bridge or {})
        for name, values in sections.items():
            data[name].update(values)
        return BridgeRunConfig.from_dict(data)
    return BridgeRunConfig.from_sim(config, bridge, **sections)


def bridge_outcomes(
    config: Config | BridgeRunConfig,
    bridge: dict[str, Any] | None = None,
    device: str | None = None,
    progress=None,
    trajectory: bool = False,
    seed_store=None,
    **sections: dict,
) -> pd.DataFrame:
    """Run every seed of the cell on the bridge; one row per seed (BridgeResult.final), or
    with `trajectory` the rows of a prereg cell file (see `trajectory_rows`). `seed_store`:
    run_bridge's seed checkpoints (simrl/prereg/seed_store.py)."""
    from simrl.bridge.run import run_bridge

    res = run_bridge(
        bridge_config(config, bridge, **sections), device, progress, seed_store=seed_store
    )
    return trajectory_rows(res) if trajectory else res.final


def trajectory_rows(res) -> pd.DataFrame:
    """A BridgeResult as simrl/prereg/store.py stores a simulator cell: seed, step,
    failed_step, metrics; one row per seed at every recorded step (0, each eval_every,
    the last; simrl.engine.batch.record_steps), NaN after a run that stopped on a
    non-finite value, so every seed has the same rows."""
    from simrl.engine.batch import record_steps

    r = res.config.run
    grid = pd.MultiIndex.from_product(
        [range(r.seeds), record_steps(r.steps, r.eval_every)], names=["seed", "step"]
    )
    rows = res.metrics.set_index(["seed", "step"]).reindex(grid).reset_index()
    failed = res.final.set_index("seed")["failed_step"]
    rows.insert(2, "failed_step", rows["seed"].map(failed).to_numpy())
    return rows.astype({"seed": "int64", "step": "int64", "failed_step": "int64"})
