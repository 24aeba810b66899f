"""Analyses whose verdicts are known by construction, and the verdict rules themselves."""

import numpy as np
import pandas as pd
import pytest
from simrl.theory.decomposition import decompose

from simrl.prereg import inference as inf
from simrl.prereg.analysis import analyze
from simrl.prereg.lock import register
from simrl.prereg.report import write
from simrl.prereg.runner import run_study


@pytest.fixture(scope="module")
def tiny_analysis(tmp_path_factory):
    from tests.prereg.conftest import write_study

    study = write_study(tmp_path_factory.mktemp("known"))
    register(study)
    run_study(study)
    return analyze(study)


def verdicts(a):
    return {h.hypothesis.id: h.result for h in a.hypotheses}


def test_planted_effect_is_supported_and_absent_one_is_not(tiny_analysis):
    v = verdicts(tiny_analysis)
    assert v["planted"].verdict == inf.SUPPORTED, v["planted"]
    assert v["planted"].estimate > 0.02
    # the task instance only permutes the answers: no effect, and the data say so
    assert v["absent"].verdict == inf.NOT_SUPPORTED, v["absent"]
    assert v["absent_equivalent"].verdict == inf.SUPPORTED, v["absent_equivalent"]
    # at every level of lr: the intersection-union p is the largest of the levels' p
    each = v["absent_each"]
    assert each.verdict == inf.SUPPORTED
    assert each.p == max(r.p for r in each.detail["per_level"].values())
    # a difference of differences of paired per-seed values, known to be absent
    inter = v["no_interaction"]
    assert inter.verdict == inf.NOT_SUPPORTED, inter
    res = tiny_analysis.results
    m = res[res["reward"] == "true"].groupby(["lr", "instance"], observed=True)["acc"].mean()
    dod = (m[("1.0", "1")] - m[("0.25", "1")]) - (m[("1.0", "0")] - m[("0.25", "0")])
    assert inter.estimate == pytest.approx(dod, abs=1e-12)
    # Holm over five p-values: each adjusted p is at least the raw one
    assert all(r.p_adj >= r.p for r in v.values())


def test_paired_estimate_is_the_mean_of_per_seed_differences(tiny_analysis):
    res = tiny_analysis.results
    true = res[res["reward"] == "true"]
    hi = true[true["lr"] == "1.0"].groupby("seed")["acc"].mean()
    lo = true[true["lr"] == "0.25"].groupby("seed")["acc"].mean()
    assert verdicts(tiny_analysis)["planted"].estimate == pytest.approx((hi - lo).mean(), abs=1e-15)


def test_decomposition_rows_telescope_and_match_theory(tiny_analysis):
    t = tiny_analysis.decomposition
    assert len(t) == 4  # lr x instance strata
    np.testing.assert_allclose(
        t["total"], t["null"] + t["elicitation"] + t["reward_design"], atol=1e-12
    )
    res = tiny_analysis.results
    row = t.iloc[0]
    stratum = res[(res["lr"] == row["lr"]) & (res["instance"] == row["instance"])]
    acc = {
        k: stratum[stratum["reward"] == k].sort_values("seed")["acc"].to_numpy()
        for k in ("true", "random", "frozen", "self_consistency")
    }
    ref = decompose(acc)
    assert row["reward_design"] == pytest.approx(ref.reward_design, abs=1e-15)
    assert row["null"] == pytest.approx(ref.null, abs=1e-15)


def test_the_registered_model_has_residual_degrees_of_freedom(tiny_analysis):
    (fit,) = tiny_analysis.models
    assert fit.nobs == 16 * 12 and fit.resid_df == 16 * 12 - 16
    assert "C(reward, Sum):C(lr, Sum)" in fit.anova.index


def test_additive_rule_reports_points_without_interaction(tiny_analysis):
    # the instance only permutes answers, so lr x instance is absent: both factors are points
    rows = {r.factor: r for r in tiny_analysis.additive}
    assert rows["lr"].report_as == "point" and rows["instance"].report_as == "point"
    # effects are first level minus second, as the Sum coding: lr 0.25 - lr 1.0 < 0
    assert rows["lr"].point < -0.02 and abs(rows["instance"].point) < 0.01
    lo, hi = rows["lr"].bounds
    assert lo <= rows["lr"].point <= hi
    (inter,) = tiny_analysis.interactions.itertuples()
    assert inter.term == "C(lr, Sum):C(instance, Sum)" and not inter.blocks
    assert inter.resid_df == 4 * 12 - 4


def test_mixed_model_is_fitted_on_request(tiny_analysis):
    (fit,) = tiny_analysis.models
    assert fit.mixed is not None and "Intercept" in fit.mixed.index
    assert "random intercept per seed" in fit.mixed_note


def test_difference_and_law_outcomes(tiny_analysis):
    from simrl.theory.laws import fit_entropy_law

    from simrl.prereg.grid import expand
    from simrl.prereg.store import Store

    res = tiny_analysis.results
    np.testing.assert_array_equal(res["acc - acc@20"], res["acc"] - res["acc@20"])
    assert res.loc[res["reward"] == "frozen", "law_a"].isna().all()  # entropy never moved
    study = tiny_analysis.study
    cell = next(c for c in expand(study) if c.labels["reward"] == "true")
    run = Store(study.path).read(cell.key).query("seed == 3")
    fit = fit_entropy_law(run["entropy_mean"], run["acc"])
    got = res[(res["cell"] == cell.key) & (res["seed"] == 3)]["law_a"].item()
    assert got == pytest.approx(fit.a, rel=1e-12)


def test_report_is_written(tiny_analysis):
    path = write(tiny_analysis)
    text = path.read_text()
    assert "| planted |" in text and "**supported**" in text and "**not supported**" in text
    assert "points or bounds" in text and "Mixed model" in text
    assert pd.read_parquet(path.parent / "decomposition.parquet").shape[0] == 4 * 12


# ---- the statistics on synthetic numbers --------------------------------------------------


def result(m, lo, hi, p_adj):
    r = inf.TestResult(m, (lo, hi), p_adj, 10, "")
    r.p_adj = p_adj
    return r


@pytest.mark.parametrize(
    ("direction", "m", "lo", "hi", "p", "expected"),
    [
        ("greater", 0.10, 0.05, 0.15, 0.001, inf.SUPPORTED),
        ("greater", 0.01, 0.005, 0.015, 0.001, inf.NOT_SUPPORTED),  # real but below the SESOI
        ("greater", -0.10, -0.15, -0.05, 1.0, inf.NOT_SUPPORTED),
        ("greater", 0.03, -0.02, 0.08, 0.2, inf.INCONCLUSIVE),
        ("less", -0.10, -0.15, -0.05, 0.001, inf.SUPPORTED),
        ("less", 0.0, -0.01, 0.01, 0.5, inf.NOT_SUPPORTED),
        ("two-sided", -0.10, -0.15, -0.05, 0.001, inf.SUPPORTED),
        ("two-sided", 0.0, -0.01, 0.01, 0.9, inf.NOT_SUPPORTED),
        ("two-sided", 0.0, -0.05, 0.05, 0.9, inf.INCONCLUSIVE),
        ("equivalent", 0.0, -0.01, 0.01, 0.001, inf.SUPPORTED),
        ("equivalent", 0.10, 0.05, 0.15, 1.0, inf.NOT_SUPPORTED),
        ("equivalent", 0.02, -0.01, 0.05, 0.3, inf.INCONCLUSIVE),
    ],
)
def test_verdict_rules(direction, m, lo, hi, p, expected):
    assert inf.verdict(result(m, lo, hi, p), direction, 0.05, 0.02) == expected


def test_t_tests_find_a_planted_mean_and_not_an_absent_one():
    rng = np.random.default_rng(0)
    planted = 0.1 + 0.05 * rng.standard_normal(200)
    absent = 0.05 * rng.standard_normal(200)
    _, (lo, hi), p = inf.t_test(planted, "greater", 0.05, 0.0)
    assert p < 1e-10 and lo < 0.1 < hi
    _, _, p = inf.t_test(absent, "equivalent", 0.05, 0.02)
    assert p < 0.05
    _, _, p = inf.t_test(absent, "two-sided", 0.05, 0.0)
    assert p > 0.01
    # the t interval covers the true mean at about its level
    cover = np.mean([
        (lambda r: r[1][0] < 0.1 < r[1][1])(inf.t_test(0.1 + rng.standard_normal(10), "two-sided", 0.1, 0))
        for _ in range(2000)
    ])  # fmt: skip
    assert 0.87 < cover < 0.93


def test_trend_and_sign_change_on_known_data():
    rng = np.random.default_rng(1)
    x = np.array([0.2, 0.4, 0.6, 0.8])
    num = 1.0 - x[None, :] + 0.05 * rng.standard_normal((64, 4))  # slope -1
    r = inf.trend(num, None, x, "less", 0.05, 0.0, 2000, 0, "y")
    assert r.ci[0] < -1 < r.ci[1] and r.p < 0.01
    flat = 0.05 * rng.standard_normal((64, 4))
    assert inf.trend(flat, None, x, "less", 0.05, 0.0, 2000, 0, "y").p > 0.05
    below, above = -0.1 + 0.02 * rng.standard_normal(32), 0.1 + 0.02 * rng.standard_normal(32)
    r = inf.sign_change(below, above, "greater", 0.05, 1000, 0, ("a", "b"))
    assert r.p < 1e-6 and r.estimate == pytest.approx(min(-below.mean(), above.mean()))
    r = inf.sign_change(above, below, "greater", 0.05, 1000, 0, ("a", "b"))
    assert r.p > 0.5 and r.ci[1] < 0


def test_anova_contrast_is_two_to_the_k_times_the_sum_coefficient():
    rng = np.random.default_rng(2)
    rows = []
    for a in ("hi", "lo"):
        for b in ("x", "y"):
            mean = 1.0 + (0.3 if a == "hi" else 0) + (0.2 if (a, b) == ("hi", "x") else 0)
            for s in range(50):
                rows.append({"a": a, "b": b, "seed": s, "y": mean + 0.01 * rng.standard_normal()})
    df = pd.DataFrame(rows)
    df["a"] = pd.Categorical(df["a"], ["hi", "lo"])
    df["b"] = pd.Categorical(df["b"], ["x", "y"])
    inter = inf.anova_term(df, "y ~ C(a, Sum) * C(b, Sum)", "C(a, Sum):C(b, Sum)", "greater", 0.05)
    assert inter.estimate == pytest.approx(0.2, abs=0.01)  # (hi,x - hi,y) - (lo,x - lo,y)
    main = inf.anova_term(df, "y ~ C(a, Sum) * C(b, Sum)", "C(a, Sum)", "two-sided", 0.05)
    assert main.estimate == pytest.approx(0.4, abs=0.01)  # hi - lo, averaged over b
    assert main.detail["resid_df"] == 200 - 4


def test_holm_adjusts_and_leaves_nan_out():
    adj = inf.correct([0.01, 0.04, float("nan"), 0.03], "holm")
    assert adj[0] == pytest.approx(0.03) and np.isnan(adj[2])
    assert adj[1] == pytest.approx(0.06) and adj[3] == pytest.approx(0.06)


AUDIT = """
title = "audit"
question = "first order vs exact"
[design]
seeds = 6
steps = 12
eval_every = 1
passk = [1]
stopping_rule = "fixed"
[config]
task = { kind = "bandit", num_prompts = 8, num_answers = 8 }
algo = { epochs = 2 }
run = { audit = true }
[[factor]]
name = "lr"
field = "optim.lr"
levels = [0.1, 2.0]
[outcomes]
primary = ["sign_agree(dH_first_order)"]
secondary = ["median_rel_err(dH_first_order) - median_rel_err(dH_second_order)"]
[analysis]
model = 'Q("sign_agree(dH_first_order)") ~ C(lr, Sum)'
[[hypothesis]]
id = "signs"
statement = "the first order's sign agrees in more than half of the steps"
outcome = "sign_agree(dH_first_order)"
test = "mean"
against = 0.5
where = { lr = "0.1" }
direction = "greater"
sesoi = 0.0
"""


def test_audit_outcomes_and_a_mean_against_a_value(tmp_path):
    from simrl.prereg.grid import expand
    from simrl.prereg.spec import load_study
    from simrl.prereg.store import Store
    from simrl.residual_stats import fit_stats
    from tests.prereg.conftest import write_study

    study_dir = write_study(tmp_path, "audit", AUDIT)
    register(study_dir)
    run_study(study_dir)
    a = analyze(study_dir)
    (h,) = a.hypotheses
    res = a.results
    sign = res.loc[res["lr"] == "0.1", "sign_agree(dH_first_order)"]
    assert h.result.estimate == pytest.approx(sign.mean() - 0.5, abs=1e-12)
    assert h.result.verdict == inf.SUPPORTED
    cell = expand(load_study(study_dir))[1]
    run = Store(study_dir).read(cell.key).query("seed == 2 and step > 0")
    ref = fit_stats(run["dH_exact"].to_numpy(), run["dH_first_order"].to_numpy())
    got = res[(res["cell"] == cell.key) & (res["seed"] == 2)]
    assert got["sign_agree(dH_first_order)"].item() == pytest.approx(ref["sign_agree"])
    write(a)  # the report renders a per-run outcome model without a trajectory metric
