"""simrl/calibration.py: bridge_replay's contrasts, their scores, and the overlap match."""

import numpy as np
import pandas as pd
import pytest

from simrl import calibration as cal

#: bridge_replay/report.md's registered per-level estimates (the `each` splits' "at" lines)
REGISTERED = {
    "B1": -0.126,
    "B2": -0.004688,
    "B3": -0.08464,
    "B4": -0.05029,
    "B5:weak": -0.1331,
    "B5:strong": -0.04141,
    "B6:weak": 0.07318,
    "B6:strong": 0.05365,
    "B7:weak": 0.1846,
    "B7:strong": 0.1431,
    "B8": 0.05339,
    "B9:weak": 0.1426,
    "B9:strong": 0.143,
}


def test_contrasts_reproduce_bridge_replay_registered_estimates():
    got = cal.contrasts(pd.read_parquet(cal.BRIDGE_DRAWS["registered"]))
    assert list(got.index) == list(REGISTERED)
    for k, v in REGISTERED.items():
        assert got[k] == pytest.approx(v, rel=2e-3, abs=1e-4), k


def _toy(shift, seeds=6, rng=None):
    """A simulator-like frame: acc_all and its gain = a per-cell constant + shift + noise."""
    rng = rng or np.random.default_rng(0)
    rows = []
    for prior in ("weak", "strong"):
        for reward in ("random", "self_consistency", "true"):
            for regime in ("clipped", "on_policy"):
                base = {"random": -0.1, "self_consistency": 0.02, "true": 0.06}[reward]
                for s in range(seeds):
                    v = base + shift + 0.01 * rng.normal()
                    rows.append(
                        {
                            "prior": prior,
                            "reward": reward,
                            "regime": regime,
                            "seed": s,
                            "excluded": False,
                            "acc_all": 0.5 + v,
                            "acc_all - acc_all@0": v,
                            "mass_base_top": 0.8 + (0.01 if regime == "clipped" else 0.0),
                            "mode_prob_code": 0.8,
                        }
                    )
    return pd.DataFrame(rows)


def test_paired_contrasts_are_differences_of_the_same_seed():
    f = _toy(0.0)
    c = next(c for c in cal.CONTRASTS if c.id == "B4")
    assert cal.estimate(f, c, "mass_base_top") == pytest.approx(0.01)
    # dropping one seed of one level drops it from the pair
    g = f[~((f["regime"] == "clipped") & (f["seed"] == 0))]
    assert len(cal.per_seed(g, c, "mass_base_top")) == 5


def test_score_and_compare_rank_the_closer_configuration_first():
    bridge = {
        "a": _toy(0.0, rng=np.random.default_rng(1)),
        "b": _toy(0.0, rng=np.random.default_rng(2)),
    }
    near, far = _toy(0.01), _toy(0.2)
    sim = pd.concat([near.assign(sim="near"), far.assign(sim="far")], ignore_index=True)
    out = cal.compare(sim, bridge, tabular=("far",), n_boot=200)
    assert out["best"] == "near"
    assert out["configs"]["near"]["mae"] < out["configs"]["far"]["mae"]
    assert out["mae_gain_over_tabular"] > 0.05  # 0.19 on the 6 unpaired contrasts of 13
    assert out["mae_gain_ci"][0] > 0.05
    s = cal.score(pd.Series({"x": 1.0, "y": -1.0}), pd.Series({"x": 0.5, "y": 1.0}))
    assert s == {"sign_agreement": 0.5, "mae": pytest.approx(1.25), "n": 2}


def test_match_overlap_hits_the_target_and_clamps():
    task = {"kind": "bandit", "num_prompts": 6, "num_answers": 3, "num_correct": 1, "seed": 0}
    cfgs = [
        {
            "task": {**task, "prior_strength": p},
            "policy": {"kind": "linear", "features": "random_features", "dim": 21, "strength": 1.0},
        }
        for p in (0.5, 0.8)
    ]
    rho, got = cal.match_overlap(0.2, cfgs, "rho", 0.0, 0.99)
    assert got == pytest.approx(0.2, abs=1e-5)
    assert np.mean(
        [cal.sim_overlap({**d, "policy": {**d["policy"], "rho": rho}}) for d in cfgs]
    ) == pytest.approx(got)
    hi, top = cal.match_overlap(0.99, cfgs, "rho", 0.0, 0.99)
    assert hi == 0.99 and top < 0.99


def test_gain_verdict_rules_and_registered_predictions():
    assert cal.gain_verdict(0.02, [0.005, 0.03], 0.01) == "supported"
    assert cal.gain_verdict(0.005, [0.001, 0.009], 0.01) == "not supported"
    assert cal.gain_verdict(0.02, [-0.01, 0.05], 0.01) == "inconclusive"
    bridge = {
        "a": _toy(0.0, rng=np.random.default_rng(1)),
        "b": _toy(0.0, rng=np.random.default_rng(2)),
    }
    sim = pd.concat(
        [
            _toy(0.01).assign(sim="sa_near"),
            _toy(0.2).assign(sim="tab"),
            _toy(0.19).assign(sim="rf_x"),
        ],
        ignore_index=True,
    )
    out = cal.compare(sim, bridge, tabular=("tab",), n_boot=200)
    v = cal.verdicts(out, "sa_near", 0.01, ("rf_x",))
    assert v["P1_best"]["verdict"] == "supported"
    assert v["P2_gain"]["verdict"] == "supported"
    assert v["P3_no_gain"]["per_config"]["rf_x"]["holds"] in ("yes", "inconclusive")
    assert "P1" in cal.report_md({**out, "verdicts": v})


def test_cli_refuses_a_study_without_results(tmp_path, capsys):
    assert cal.main([str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "results.parquet" in err[0]
