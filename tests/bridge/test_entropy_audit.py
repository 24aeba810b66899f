"""simrl/bridge/entropy_audit.py: the audit at scale reuses rl_step's pieces, so on the
same batch its per-probe rows equal rl_step's audit; the probe set is fixed by its seed
and round-trips through JSON; bad input is one line."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from simrl.bridge import entropy_audit as ea
from simrl.bridge.probes import PROBE_COLUMNS
from simrl.bridge.step import rl_step
from simrl.bridge.update import make_optimizer
from tests.bridge.test_end_to_end import tiny

TABULAR = ("dH_cui_t1", "dH_token_sum", "dH_steer_code", "dH_steer_eq14")


def cfg_for(**kw):
    base = {"reward.kind": "random", "run.audit": True, "algo.prompts_per_step": 4,
            "bridge.audit_rollouts": 2, "bridge.audit_top_tokens": 2}  # fmt: skip
    base.update(kw)
    return tiny(**base)


def probe_set(ctx, **kw):
    b = ctx.cfg.bridge
    args = {"n_train": 4, "n_heldout": 2, "cuts": 2, "seed": 5}
    args.update(kw)
    return ea.build_probe_set(
        ctx.base, ctx.fmt, ctx.train, ctx.heldout, args["n_train"], args["n_heldout"],
        args["cuts"], args["seed"], b.max_new_tokens, b.temperature, ctx.device,
    )  # fmt: skip


def rl_step_audit(ctx, ps, seed):
    """rl_step's per-probe audit on update 0's batch (the same streams as audit_table)."""
    ctx = copy.copy(ctx)
    ctx.probes = ps.probes
    policy = copy.deepcopy(ctx.base)
    for p in policy.parameters():
        p.requires_grad_(True)
    params = list(policy.parameters())
    labels = np.array([p.answer + 1 for p in ctx.train])
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0, 0)))
    audit_rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0, 1)))
    opt = make_optimizer(ctx.cfg, params)
    _, audit = rl_step(ctx, policy, ctx.base, opt, params, labels, 0, rng, audit_rng)
    return audit


@pytest.fixture(scope="module")
def ctx(tmp_path_factory):
    import os

    os.environ["SIMRL_CACHE"] = str(tmp_path_factory.getbasetemp() / "simrl-cache")
    torch.manual_seed(0)
    return ea.audit_context(cfg_for())


def test_every_column_equals_rl_steps_audit_when_every_probe_is_visited(ctx):
    """Prompt probes only, every training prompt in the batch: every probe is visited, so
    the Monte Carlo advantages draw the same jobs from the same stream: all 7 columns."""
    ps = probe_set(ctx, n_heldout=0, cuts=0)
    table = ea.audit_table(ctx, ps, [ctx.cfg.optim.lr], updates=1, seed=3)
    assert table["visited"].all()
    want = rl_step_audit(ctx, ps, 3)
    got = table[list(PROBE_COLUMNS)].to_numpy()
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-12)
    assert np.abs(got[:, 0]).max() > 0  # the update moved something


def test_partial_and_heldout_probes_match_rl_step_and_unvisited_tabular_terms_are_zero(ctx):
    ps = probe_set(ctx)
    assert {"prompt", "partial", "heldout_prompt"} <= set(ps.kinds)
    lr = ctx.cfg.optim.lr
    table = ea.audit_table(ctx, ps, [lr, 10 * lr], updates=2, seed=3)
    assert len(table) == 2 * 2 * len(ps.probes)
    first = table[(table["update"] == 0) & (table["lr"] == lr)]
    want = rl_step_audit(ctx, ps, 3)
    cols = [c for c in PROBE_COLUMNS if c != "dH_cui_t1"]  # MC jobs differ: visited only
    np.testing.assert_allclose(
        first[cols].to_numpy(), want[:, [PROBE_COLUMNS.index(c) for c in cols]],
        rtol=1e-6, atol=1e-12,
    )  # fmt: skip
    assert (table["clip_frac"] == 0).all()  # one epoch: every ratio is 1 (to rounding)
    off = table[~table["visited"]]
    assert len(off) > 0 and (off[list(TABULAR)].to_numpy() == 0).all()
    assert (table.loc[table["kind"].str.startswith("heldout"), "visited"] == False).all()  # noqa: E712
    # the same batch at a 10x step size moves the entropy more
    big = table[(table["update"] == 0) & (table["lr"] == 10 * lr)]
    assert np.abs(big["dH_exact"]).sum() > np.abs(first["dH_exact"]).sum()
    stats = ea.audit_stats(table)
    assert set(stats["subset"]) == set(ea.SUBSETS)
    row = stats[(stats["lr"] == lr) & (stats["subset"] == "all")
                & (stats["predictor"] == "dH_first_order")].iloc[0]  # fmt: skip
    assert row["n"] >= 3 and 0 <= row["sign_agree"] <= 1


def test_the_probe_set_is_fixed_by_its_seed_and_round_trips(ctx, tmp_path):
    a, b, c = probe_set(ctx), probe_set(ctx), probe_set(ctx, seed=6)
    assert a == b and a != c
    partial = [p for p, k in zip(a.probes, a.kinds, strict=True) if k == "partial"]
    assert partial and all(0 < len(p.prefix) for p in partial)
    ea.save_probes(tmp_path / "p.json", a, {"seed": 5})
    back, meta = ea.load_probes(tmp_path / "p.json")
    assert back == a and meta["seed"] == 5


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--lrs", "abc"], "--lrs"),
        (["--lrs", "-1"], "--lrs"),
        (["--updates", "0"], "--updates"),
        (["--cuts", "-1"], "--cuts"),
    ],
)
def test_bad_arguments_are_one_line(tmp_path, capsys, args, says):
    code = ea.main(["simrl/examples/bridge.toml", "--out", str(tmp_path / "o"), *args])
    err = capsys.readouterr().err.strip()
    assert code == 2 and says in err and "\n" not in err
    assert not (tmp_path / "o").exists()


def test_clip_fractions_are_recorded_per_update(ctx):
    """Four epochs at a large step: the clip binds on some tokens, the same for every probe row."""
    many = copy.copy(ctx)
    many.cfg = cfg_for(**{"algo.epochs": 4, "optim.lr": 0.03})
    table = ea.audit_table(many, probe_set(ctx, n_heldout=0, cuts=0), [0.03], updates=1, seed=3)
    assert table["clip_frac"].nunique() == 1 and 0 < table["clip_frac"].iloc[0] < 1


def test_a_kl_term_is_refused(tmp_path):
    with pytest.raises(ea.ConfigError, match=r"algo\.kl_coef"):
        ea.check_config(cfg_for(**{"algo.kl_coef": 0.1}))


def test_main_stores_the_probe_set_and_refuses_one_built_otherwise(ctx, tmp_path, capsys):
    cfg_path = tmp_path / "c.toml"
    cfg_path.write_text(ctx.cfg.to_toml())
    probes = tmp_path / "p.json"
    args = [str(cfg_path), "--probes", str(probes), "--lrs", "1e-3", "--n-train", "2",
            "--n-heldout", "1", "--cuts", "1"]  # fmt: skip
    assert ea.main([*args, "--out", str(tmp_path / "a")]) == 0
    assert probes.is_file() and (tmp_path / "a" / "table.parquet").is_file()
    assert (tmp_path / "a" / "stats.csv").is_file()
    assert not (tmp_path / "a" / "partial.parquet").exists()
    capsys.readouterr()
    code = ea.main([*args[:-1], "2", "--out", str(tmp_path / "b")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "cuts = 1" in err and "\n" not in err
    assert not (tmp_path / "b").exists()
