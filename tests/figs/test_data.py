"""The figure loaders on a tiny synthetic store, and `simrl figs` on a tiny paper_figs/."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from simrl.cli import main
from simrl.figs import data, runner

SPEC = """
[[factor]]
name = "reward"
field = "reward.kind"
levels = ["frozen", "random"]

[[factor]]
name = "update"
[factor.levels.sgd_0]
optim = { kind = "sgd", lr = 1.0 }
"""


def make_study(root, name="toy", stored=2, total=2, fail_seed=None):
    """experiments/<name>/: prereg.toml, a manifest and `stored` cells of 3 seeds x 3 steps,
    acc = 0.1 * step + 0.01 * seed (+ 0.5 under the random reward)."""
    d = root / name
    (d / "results" / "cells").mkdir(parents=True)
    (d / "prereg.toml").write_text(SPEC)
    entries = {}
    for i, reward in enumerate(["frozen", "random"][:stored]):
        rows = [
            (s, t, 3 if s == fail_seed else -1, 0.1 * t + 0.01 * s + 0.5 * (reward == "random"))
            for s in range(3)
            for t in range(3)
        ]
        df = pd.DataFrame(rows, columns=["seed", "step", "failed_step", "acc"])
        df.to_parquet(d / "results" / "cells" / f"k{i}.parquet")
        levels = {"reward": reward, "update": "sgd_0"}
        entries[f"k{i}"] = {"index": i, "levels": levels, "file": f"cells/k{i}.parquet"}
    manifest = {"cells_total": total, "cells_stored": stored, "cells": entries}
    (d / "results" / "manifest.json").write_text(json.dumps(manifest))
    return d


def test_cells_are_tidy_with_levels(tmp_path):
    make_study(tmp_path)
    df = data.cells("toy", tmp_path)
    assert len(df) == 2 * 3 * 3
    assert set(df.columns) == {"seed", "step", "acc", "reward", "update"}
    r = df[(df["reward"] == "random") & (df["seed"] == 2) & (df["step"] == 1)]
    assert r["acc"].item() == pytest.approx(0.1 + 0.02 + 0.5)
    only = data.cells("toy", tmp_path, where={"reward": "frozen"})
    assert set(only["reward"]) == {"frozen"}


def test_failed_runs_are_dropped(tmp_path):
    make_study(tmp_path, fail_seed=1)
    assert set(data.cells("toy", tmp_path)["seed"]) == {0, 2}


@pytest.mark.parametrize(
    ("kwargs", "what"),
    [({"stored": 1, "total": 2}, "1 of 2 cells stored"), (None, "no registered study")],
)
def test_missing_results_name_the_command(tmp_path, kwargs, what):
    if kwargs is not None:
        make_study(tmp_path, **kwargs)
    with pytest.raises(data.MissingResults, match=what) as e:
        data.cells("toy", tmp_path)
    assert e.value.command == "simrl prereg run toy && simrl prereg analyze toy"


def test_results_without_analysis_name_analyze(tmp_path):
    make_study(tmp_path)
    with pytest.raises(data.MissingResults) as e:
        data.results("toy", tmp_path)
    assert e.value.command == "simrl prereg analyze toy"


def test_level_settings_read_the_spec(tmp_path):
    make_study(tmp_path)
    assert data.level_settings("toy", "update", tmp_path) == {
        "sgd_0": {"optim.kind": "sgd", "optim.lr": 1.0}
    }
    assert data.level_settings("toy", "reward", tmp_path)["random"] == {"reward.kind": "random"}


def test_paired_gain_pairs_seeds():
    # the seed effect (0, 10, 20) cancels in the paired difference, which is exactly 1 +- 0.1
    df = pd.DataFrame(
        [(g, s, r, 10.0 * s + (1.0 + 0.1 * (-1) ** s if r == "x" else 0.0))
         for g in ("a",) for s in range(4) for r in ("base", "x")],
        columns=["g", "seed", "reward", "v"],
    )  # fmt: skip
    out = data.paired_gain(df, ["g"], "reward", "base", "v")
    assert out["gain"].item() == pytest.approx(1.0)
    assert out["lo"].item() < 1.0 < out["hi"].item()
    assert out["hi"].item() - out["lo"].item() < 1.0  # unpaired, the seed spread would be ~30


def test_cli_rejects_unknown_figure_in_one_line(capsys):
    assert main(["figs", "--only", "no_such_figure"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "--only = 'no_such_figure'" in err and "entropy_collapse" in err


def test_cli_outside_the_repository_root_reads_the_shipped_studies(capsys, tmp_path, monkeypatch):
    # no experiments/ or paper_figs/ here: the shipped scripts and studies are read, and the
    # default output folder is runs/figs/ here, never the source tree
    monkeypatch.chdir(tmp_path)
    assert runner.default_out(None) == (Path("runs") / "figs", False)
    assert main(["figs", "--compute"]) == 2  # it would write into the shipped studies
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--compute" in err and "--root" in err


def test_at_the_checkouts_root_figures_go_to_paper_figs(monkeypatch):
    root = Path(__file__).resolve().parents[2]
    monkeypatch.chdir(root)
    assert runner.default_out(None) == (Path("paper_figs") / "out", True)
    assert runner.default_out(Path("experiments")) == (Path("paper_figs") / "out", True)
    assert runner.default_out(root / "elsewhere") == (Path("runs") / "figs", False)


def test_cli_root_must_hold_experiments(capsys, tmp_path):
    assert main(["figs", "--root", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--root" in err and "experiments/" in err


SCRIPT = """
from simrl.figs import data
from simrl.figs.runner import Figure
FIGURE = Figure(name="fig01_toy", studies=("{study}",), caption="A toy caption.")
def main(out=None, root=None):
    data.cells("{study}", root)
    import matplotlib.pyplot as plt
    from simrl.figs.style import save
    fig, ax = plt.subplots()
    return save(fig, out, FIGURE.name)
"""


def test_run_reports_missing_studies_and_writes_the_readme(tmp_path):
    paper = tmp_path / "paper_figs"
    paper.mkdir()
    (paper / "fig01_toy.py").write_text(SCRIPT.format(study="toy"))
    (paper / "fig02_absent.py").write_text(SCRIPT.format(study="absent").replace("01", "02"))
    make_study(tmp_path / "experiments")
    lines = []
    out = runner.run(paper_dir=paper, root=tmp_path / "experiments", log=lines.append)
    assert [o.status for o in out] == ["ok", "missing"]
    assert (paper / "out" / "fig01_toy.png").is_file()
    assert any("simrl prereg run absent" in line for line in lines)
    readme = (paper / "README.md").read_text()
    assert "out/fig01_toy.png" in readme and "A toy caption." in readme
    assert "Not drawn yet" in readme and "simrl prereg run absent" in readme
    assert not np.any([(paper / "out" / "fig02_absent.png").exists()])


def clipping_gains(seeds=4):
    """Per-run gains of bridge_clipping's 8 cells: a seed effect of 10 * seed in every gain
    (it must cancel in every paired contrast), clipping on adds 0.1 to acc under the random
    reward at the strong prior and subtracts 0.2 at the weak one, and adds 0.05 to entropy."""
    rows = []
    for prior in ("strong", "weak"):
        for reward in ("random", "true"):
            for clipping in ("on", "off"):
                for s in range(seeds):
                    on = clipping == "on"
                    acc = 10.0 * s + 0.3 * (reward == "true")
                    if reward == "random" and on:
                        acc += 0.1 if prior == "strong" else -0.2
                    rows.append((prior, reward, clipping, s, acc, 10.0 * s + 0.02 * on,
                                 10.0 * s + 0.05 * on))  # fmt: skip
    return pd.DataFrame(rows, columns=["prior", "reward", "clipping", "seed", "acc", "mass",
                                       "entropy"])  # fmt: skip


def test_clipping_contrasts_pair_seeds_and_difference_by_prior():
    out = data.clipping_contrasts(clipping_gains()).set_index(["panel", "contrast"])["estimate"]
    acc = out["accuracy gain"]
    assert acc["random: clip on − off (strong)"] == pytest.approx(0.1)
    assert acc["random: clip on − off (weak)"] == pytest.approx(-0.2)
    assert acc["random: clip on − off: strong − weak"] == pytest.approx(0.3)
    assert acc["true − random (strong)"] == pytest.approx(0.3 - 0.05)  # mean over on / off
    assert out["top-mode mass change"]["random: clip on − off (weak)"] == pytest.approx(0.02)
    assert out["entropy change (nats)"]["true: clip on − off (strong)"] == pytest.approx(0.05)


def test_clipping_gains_name_priors_by_label_or_value():
    df = clipping_gains(2).assign(prior=lambda d: d["prior"].map({"strong": 0.8, "weak": 0.2}))
    g = data._clipping_gains(df, "acc", "mass", "entropy")
    assert set(g["prior"]) == {"strong", "weak"}
