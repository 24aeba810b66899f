"""Trustworthy by construction: no code from a spec, a verified store, a lock whose claims are
checked. Each test plants the fault an adversarial user would and asserts it is refused or
detected, and that nothing it names is lost."""

from __future__ import annotations

import json
import os
import subprocess

import numpy as np
import pandas as pd
import pytest

from simrl.errors import ConfigError
from simrl.prereg import formula
from simrl.prereg.analysis import analyze
from simrl.prereg.grid import expand
from simrl.prereg.lock import LOCK_FILE, amend, check, git_state, register
from simrl.prereg.lock_checks import FAILED, NOT_CHECKABLE, VERIFIED
from simrl.prereg.runner import run_study, same_table
from simrl.prereg.spec import load_study
from simrl.prereg.store import SET_ASIDE, Store
from simrl.prereg.verify import verify
from tests.prereg.conftest import TINY, write_study

FACTORS = ("reward", "lr", "instance")


# ---- the formula grammar ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "model",
    [
        "acc ~ C(reward, Sum) + I(seed * 0 + __import__('os').system('touch PWNED'))",
        "acc ~ ((( +",
        "acc ~ C(reward, Sum) + np.log(lr)",
        "acc ~ C(nosuch, Sum)",
        "acc ~ C(reward, Poly)",
        "acc ~ C(reward, Sum) + 2",
        "acc ~ C(reward, Sum) ** 2",
        "acc ~ C(reward, Sum); import os",
        "acc ~ " + "(" * 40 + "C(reward)" + ")" * 40,
        'Q("acc"+__import__("os").getcwd()) ~ C(reward)',
        "acc C(reward)",
        "",
    ],
)
def test_a_model_outside_the_grammar_is_refused_before_anything_runs(model):
    with pytest.raises(ConfigError, match=r"analysis\.model"):
        formula.parse(model, FACTORS)


def test_the_grammar_accepts_the_shipped_forms_and_renders_them_canonically():
    f = formula.parse("acc~C(reward,Sum)*C(lr, Sum) + C(instance, Sum) - 1", FACTORS)
    assert f.text() == "acc ~ C(reward, Sum) * C(lr, Sum) + C(instance, Sum) - 1"
    assert f.names == FACTORS
    q = formula.parse(
        "Q('median_rel_err(dH_first_order)') ~ (C(reward) + C(lr)):C(instance)", FACTORS
    )
    assert q.outcome == "median_rel_err(dH_first_order)"
    assert q.text() == 'Q("median_rel_err(dH_first_order)") ~ (C(reward) + C(lr)):C(instance)'


def test_an_injection_in_a_spec_never_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec = TINY.format(absent_sesoi=0.05).replace(
        'model = "acc ~ C(reward, Sum) * C(lr, Sum) * C(instance, Sum)"',
        "model = \"acc ~ C(reward, Sum) + I(seed * 0 + __import__('os').system('touch PWNED'))\"",
    )
    study = write_study(tmp_path, "evil", spec)
    with pytest.raises(ConfigError, match=r"analysis\.model"):
        register(study)
    assert not (tmp_path / "PWNED").exists() and not (study / LOCK_FILE).exists()


# ---- the verified store ----------------------------------------------------------------------


@pytest.fixture
def ran(tiny):
    register(tiny)
    run_study(tiny)
    return tiny


def _first(study):
    cells = expand(load_study(study))
    return cells[0], Store(study)


def _alter_one_acc(path):
    df = pd.read_parquet(path)
    df.loc[df.index[-1], "acc"] += 0.125
    df.to_parquet(path, index=False)


@pytest.mark.parametrize(
    "damage",
    [
        lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]),  # truncated
        lambda p: p.write_bytes(b"not a parquet file"),  # garbage
        lambda p: p.write_bytes(b""),  # empty
        lambda p: pd.DataFrame({"acc": [0.5]}).to_parquet(p),  # no seed/step columns
        _alter_one_acc,  # one changed value, a valid file
    ],
    ids=["truncated", "garbage", "empty", "columnless", "one-value-altered"],
)
def test_a_damaged_cell_is_refused_by_analyze_then_set_aside_and_recomputed(ran, damage):
    cell, store = _first(ran)
    original = store.read(cell.key)
    damage(store.path(cell.key))
    damaged = store.path(cell.key).read_bytes()
    with pytest.raises(ConfigError, match=cell.key):
        analyze(ran)
    assert store.check_cells([cell])  # named
    rep = run_study(ran)
    assert rep.set_aside == 1 and rep.ran_cells == 1
    assert same_table(store.read(cell.key), original)  # recomputed bitwise
    kept = list((store.root / SET_ASIDE).glob(f"{cell.key}.*.parquet"))
    assert len(kept) == 1 and kept[0].read_bytes() == damaged  # moved aside, never deleted
    assert not store.check_cells(expand(load_study(ran)))
    analyze(ran)


def test_a_cell_without_a_manifest_entry_is_not_trusted(ran):
    cell, store = _first(ran)
    m = store.manifest()
    del m["cells"][cell.key]
    store.write_manifest(m)
    assert "no manifest entry" in store.check_cells([cell])[cell.key]
    assert run_study(ran).set_aside == 1


def test_a_cell_computed_by_other_code_is_recomputed(ran, monkeypatch):
    import simrl.prereg.runner as runner

    before = {c.key: Store(ran).read(c.key) for c in expand(load_study(ran))}
    monkeypatch.setattr(runner, "code_fingerprint", lambda backend: "another engine")
    rep = run_study(ran)
    assert rep.set_aside == rep.cells == rep.ran_cells and rep.differ == []
    store = Store(ran)
    assert {e["code"] for e in store.manifest()["cells"].values()} == {"another engine"}
    assert all(same_table(store.read(k), df) for k, df in before.items())


def test_a_lost_manifest_is_refused_until_amended(ran):
    store = Store(ran)
    (store.root / "manifest.json").unlink()
    with pytest.raises(ConfigError, match="manifest"):
        run_study(ran)
    lock = amend(ran, "the manifest was deleted by a cleanup script")
    assert lock["amendments"][-1]["acknowledges"] == "manifest lost"
    rep = run_study(ran)
    assert rep.set_aside == rep.cells  # nothing vouched for them: all recomputed
    analyze(ran)


# ---- the lock --------------------------------------------------------------------------------


def test_a_forged_lock_is_refused(ran):
    spec = ran / "prereg.toml"
    spec.write_text(spec.read_text().replace('direction = "greater"', 'direction = "less"', 1))
    lock = json.loads((ran / LOCK_FILE).read_text())
    import hashlib

    lock["spec_sha256"] = hashlib.sha256(spec.read_bytes()).hexdigest()
    (ran / LOCK_FILE).write_text(json.dumps(lock))
    with pytest.raises(ConfigError, match="edited after it was written"):
        check(ran)
    with pytest.raises(ConfigError, match="edited"):
        analyze(ran)
    checks = verify(ran, log=lambda s: None)
    assert any(c.status == FAILED and "text vs hash" in c.name for c in checks)


def test_a_lost_lock_cannot_be_registered_afresh(ran):
    (ran / LOCK_FILE).unlink()
    with pytest.raises(ConfigError, match="has results but no"):
        register(ran)
    lock = amend(ran, "the lock was lost when the folder was copied")
    assert lock["registered_after_results"] is True
    assert lock["amendments"][0]["acknowledges"] == "lock lost"
    assert check(ran)["registered_after_results"]


def test_a_corrupt_lock_is_one_error(ran):
    (ran / LOCK_FILE).write_text("{not json")
    with pytest.raises(ConfigError, match="valid JSON"):
        check(ran)


def test_verify_outside_git_says_not_checkable(ran):
    checks = verify(ran, log=lambda s: None)
    assert any(c.status == NOT_CHECKABLE and "git" in c.detail for c in checks)
    assert not [c for c in checks if c.status == FAILED]
    assert any(c.status == VERIFIED and c.name == "cells stored and verified" for c in checks)


def test_verify_in_git_checks_the_lock_against_history(tiny):
    def git(*args):
        subprocess.run(["git", *args], cwd=tiny, check=True, capture_output=True)

    git("init", "-q")
    git("-c", "user.email=a@b", "-c", "user.name=a", "commit", "-q", "--allow-empty", "-m", "0")
    git("add", "prereg.toml")
    git("-c", "user.email=a@b", "-c", "user.name=a", "commit", "-q", "-m", "spec")
    register(tiny)
    git("add", LOCK_FILE)
    git("-c", "user.email=a@b", "-c", "user.name=a", "commit", "-q", "-m", "lock")
    run_study(tiny)
    git("add", "results")
    git("-c", "user.email=a@b", "-c", "user.name=a", "commit", "-q", "-m", "results")
    checks = {c.name: c.status for c in verify(tiny, recompute=True, sample=2, log=lambda s: None)}
    assert checks["lock committed before the first result"] == VERIFIED
    assert checks["spec in the lock's first commit hashes to the lock's hash"] == VERIFIED
    assert checks["commit named by the lock precedes the registration"] == VERIFIED
    assert sum(k.startswith("recomputed cell") and v == VERIFIED for k, v in checks.items()) == 2
    assert FAILED not in checks.values()


def test_git_state_says_ignored_and_untracked_truthfully(tmp_path):
    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / ".gitignore").write_text("runs/\n")
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "spec.toml").write_text("x")
    (tmp_path / "new.toml").write_text("x")
    git("add", ".gitignore")
    git("-c", "user.email=a@b", "-c", "user.name=a", "commit", "-q", "-m", "0")
    assert git_state(tmp_path / "runs" / "spec.toml")["git_state"] == "ignored"
    assert git_state(tmp_path / "new.toml")["git_state"] == "untracked"
    assert git_state(tmp_path / ".gitignore")["git_state"] == "committed unchanged"
    assert not git_state(tmp_path / "runs" / "spec.toml")["spec_committed"]


# ---- the new hypothesis tests ----------------------------------------------------------------


def test_the_sign_test_and_the_binomial_test_match_their_definitions():
    from scipy import stats

    from simrl.prereg import binomial_tests

    x = np.array([0.3, 0.2, 0.1, -0.4, 0.05, 0.15, 0.25, 0.12, -0.01, 0.09])
    r = binomial_tests.quantile(x, 0.5, 0.0, "greater", 0.05, "gain")
    assert r.p == pytest.approx(stats.binom.sf(7, 10, 0.5))  # 8 of 10 above 0
    assert r.estimate == pytest.approx(np.median(x))
    assert r.ci[0] <= r.estimate <= r.ci[1]
    p = binomial_tests.proportion(x, 0.0, 0.5, "greater", 0.05, "gain")
    assert p.estimate == pytest.approx(0.8 - 0.5)
    assert p.p == pytest.approx(stats.binomtest(8, 10, 0.5, alternative="greater").pvalue)
    q = binomial_tests.quantile(x, 0.9, 0.0, "less", 0.05, "gain")
    assert q.p == pytest.approx(stats.binom.cdf(8, 10, 0.1))


def test_median_proportion_and_sensitivity_run_in_a_study(tmp_path):
    extra = """
[[hypothesis]]
id = "median_gain"
statement = "the median per-seed gain of the larger step size is positive"
outcome = "acc"
test = "median"
factor = "lr"
contrast = ["1.0", "0.25"]
where = {{ reward = "true" }}
direction = "greater"
sesoi = 0.0
sensitivity = "instance"

[[hypothesis]]
id = "share_gain"
statement = "most seeds gain from the larger step size"
outcome = "acc"
test = "proportion"
factor = "lr"
contrast = ["1.0", "0.25"]
where = {{ reward = "true" }}
share = 0.5
direction = "greater"
sesoi = 0.0
"""
    study = write_study(tmp_path, "robust", (TINY + extra).format(absent_sesoi=0.05))
    register(study)
    run_study(study)
    a = analyze(study)
    by_id = {h.hypothesis.id: h.result for h in a.hypotheses}
    assert set(by_id["median_gain"].detail["sensitivity"]) == {"0", "1"}
    assert 0 <= by_id["share_gain"].detail["share"] <= 1
    from simrl.prereg.report import render

    assert "sensitivity sweep (registered" in render(a, {})


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("sesoi = 0.02", "sesoi = 0.02\nagainst = nan", "against"),
        ("sesoi = 0.02", 'sesoi = 0.02\nagainst = "abc"', "against"),
        ("sesoi = 0.02", "sesoi = 0.02\ncrossing = nan", "crossing"),
        ('test = "paired"\nfactor = "lr"', 'test = "paired"\nfactor = [1, 2]', "factor"),
        (
            'test = "paired"\nfactor = "lr"',
            'test = "median"\nquantile = 0.3\nfactor = "lr"',
            "quantile",
        ),
        (
            'test = "paired"\nfactor = "lr"',
            'test = "proportion"\nshare = 1.5\nfactor = "lr"',
            "share",
        ),
    ],
)
def test_hypothesis_values_of_the_wrong_kind_are_refused(tmp_path, old, new, field):
    spec = TINY.format(absent_sesoi=0.05).replace(old, new, 1)
    with pytest.raises(ConfigError, match=f"hypothesis planted.{field}"):
        load_study(write_study(tmp_path, "bad", spec))


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("mixed = true", 'mixed = "false"', "analysis.mixed"),
        ("mixed = true", "mixed = true\nn_boot = 1000000000000", "analysis.n_boot"),
        ("mixed = true", "mixed = true\nby = 5", "analysis.by"),
        ("passk = [1]", "passk = [1]\nmetrics = 5", "design.metrics"),
        ("passk = [1]", 'passk = "1"', "design.passk"),
        (
            "[decomposition]",
            '[exclusions]\nnonfinite = "false"\n\n[decomposition]',
            "exclusions.nonfinite",
        ),
    ],
)
def test_spec_values_of_the_wrong_kind_are_refused(tmp_path, old, new, field):
    spec = TINY.format(absent_sesoi=0.05).replace(old, new, 1)
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        load_study(write_study(tmp_path, "bad", spec))


def test_an_anova_term_the_model_lacks_fails_at_registration(tmp_path):
    extra = """
[[hypothesis]]
id = "term"
statement = "a term the model does not have"
test = "anova"
term = "C(nosuch, Sum)"
sesoi = 0.0
"""
    study = write_study(tmp_path, "t", TINY.format(absent_sesoi=0.05) + extra)
    load_study(study)  # the spec parses; only the rehearsal can know the model's terms
    with pytest.raises(ConfigError, match=r"hypothesis term.*synthetic table"):
        register(study)
    assert not (study / LOCK_FILE).exists()


def test_a_table_difference_names_the_columns_and_the_largest_gap():
    import pandas as pd

    from simrl.prereg.runner import table_difference

    a = pd.DataFrame({"seed": [0, 1], "acc": [0.5, 0.25], "entropy_mean": [1.0, np.nan]})
    b = a.copy()
    b.loc[1, "acc"] = 0.25 + 1e-6
    assert table_difference(a, b).startswith(
        "1 of 3 columns differ; largest |difference|: acc 1e-06"
    )
    b.loc[1, "entropy_mean"] = 2.0
    assert "entropy_mean inf" in table_difference(a, b)  # NaN against a number
    assert table_difference(a, b.iloc[:1]).startswith("shape (2, 3) against (1, 3)")


def test_a_store_rereads_a_cell_rewritten_since_it_was_read(tmp_path):
    """Store.read keeps parsed frames (an analysis reads each cell three times), but hands
    out copies, and a cell file replaced or rewritten since is parsed afresh."""
    store = Store(tmp_path)
    store.cells_dir.mkdir(parents=True)
    key = "k" * 20

    def write(values) -> None:
        tmp = store.cells_dir / "tmp.parquet"
        pd.DataFrame({"seed": [0, 1], "step": [0, 0], "failed_step": [-1, -1], "acc": values}).to_parquet(tmp, index=False)  # fmt: skip
        tmp.replace(store.path(key))

    write([0.25, 0.5])
    first = store.read(key)
    first.loc[0, "acc"] = 99.0  # a caller's change stays with its copy
    assert store.read(key)["acc"].tolist() == [0.25, 0.5]
    write([0.75, 1.0])  # replaced (a new file under the same name)
    assert store.read(key)["acc"].tolist() == [0.75, 1.0]
    path = store.path(key)
    stamp = path.stat().st_mtime_ns
    df = pd.read_parquet(path)
    df["acc"] = [0.125, 0.375]
    df.to_parquet(path, index=False)  # rewritten in place
    os.utime(path, ns=(stamp + 10**9, stamp + 10**9))
    assert store.read(key)["acc"].tolist() == [0.125, 0.375]
