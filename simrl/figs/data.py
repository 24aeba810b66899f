"""Stored study results as the tidy tables the figures plot. Only reads the store.

    experiments/<study>/results/manifest.json     which cells are stored, and their levels
    experiments/<study>/results/cells/<key>.parquet   seed, step, failed_step, metrics
    experiments/<study>/results.parquet            per-run outcomes (`simrl prereg analyze`)
    experiments/<study>/decomposition.parquet      per-seed decomposition terms (analyze)
    experiments/reaudits/published.csv             published numbers, with sources

A figure whose study has no (or incomplete) stored results gets `MissingResults`, naming
the study and the command that produces them; nothing here simulates. The figure-level
builders (`entropy_collapse`, ...) turn those tables into what `simrl.figs.plots` draws;
every interval is a 95% t-interval over seeds (`plots.mean_ci`) or the paired bootstrap of
theory/decomposition.py.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from simrl.figs.plots import APPROX_LABELS, mean_ci
from simrl.theory.decomposition import decompose_with_ci

EXPERIMENTS = Path("experiments")


class MissingResults(Exception):
    """A figure's study has no stored results; `command` produces them."""

    def __init__(self, study: str, what: str, command: str):
        self.study, self.what, self.command = study, what, command
        super().__init__(f"study {study}: {what}; produce them with `{command}`")


def run_command(study: str) -> str:
    return f"simrl prereg run {study} && simrl prereg analyze {study}"


def study_dir(study: str, root: Path | None = None) -> Path:
    return Path(root or EXPERIMENTS) / study


# ---- generic loaders ------------------------------------------------------------------------


def cells(
    study: str, root: Path | None = None, where: dict[str, str | list[str]] | None = None
) -> pd.DataFrame:
    """Every stored run-step of a study: one column per factor (its level label), seed,
    step and the recorded metrics; runs that hit a non-finite value (failed_step >= 0)
    are dropped, as the registered exclusion rule does. `where` keeps only cells whose
    levels match (a label or a list of labels per factor)."""
    d = study_dir(study, root)
    path = d / "results" / "manifest.json"
    if not (d / "prereg.toml").is_file():
        raise MissingResults(study, "no registered study (prereg.toml) yet", run_command(study))
    if not path.is_file():
        raise MissingResults(study, "no stored results", run_command(study))
    manifest = json.loads(path.read_text())
    if manifest["cells_stored"] < manifest["cells_total"]:
        raise MissingResults(
            study,
            f"{manifest['cells_stored']} of {manifest['cells_total']} cells stored",
            run_command(study),
        )
    want = {k: [v] if isinstance(v, str) else list(v) for k, v in (where or {}).items()}
    frames = []
    for entry in sorted(manifest["cells"].values(), key=lambda e: e["index"]):
        levels = entry["levels"]
        if any(levels.get(k) not in v for k, v in want.items()):
            continue
        df = pd.read_parquet(d / "results" / entry["file"])
        df = df[df["failed_step"] < 0].drop(columns="failed_step")
        frames.append(df.assign(**levels))
    if not frames:
        raise MissingResults(study, f"no stored cell matches {where}", run_command(study))
    return pd.concat(frames, ignore_index=True)


def results(study: str, root: Path | None = None) -> pd.DataFrame:
    """results.parquet: per-run outcomes, excluded runs dropped."""
    path = study_dir(study, root) / "results.parquet"
    if not path.is_file():
        cells(study, root)  # says whether the cells themselves are missing
        raise MissingResults(study, "no results.parquet", f"simrl prereg analyze {study}")
    df = pd.read_parquet(path)
    return df[~df["excluded"]].reset_index(drop=True)


def decomposition_seeds(study: str, root: Path | None = None) -> pd.DataFrame:
    path = study_dir(study, root) / "decomposition.parquet"
    if not path.is_file():
        results(study, root)
        raise MissingResults(study, "no decomposition.parquet", f"simrl prereg analyze {study}")
    return pd.read_parquet(path)


def level_settings(study: str, factor: str, root: Path | None = None) -> dict[str, dict]:
    """The config fields each level of a factor sets, read from prereg.toml, flattened
    ('optim.lr' -> 0.05); for factors of one field, {label: {field: value}}."""
    spec = tomllib.loads((study_dir(study, root) / "prereg.toml").read_text())
    f = next(f for f in spec["factor"] if f["name"] == factor)
    if "field" in f:
        return {str(v): {f["field"]: v} for v in f["levels"]}
    out = {}
    for label, table in f["levels"].items():
        flat = {}
        for section, fields in table.items():
            if isinstance(fields, dict):
                flat.update({f"{section}.{k}": v for k, v in fields.items()})
            else:
                flat[section] = fields
        out[label] = flat
    return out


def published(
    root: Path | None = None, model: str = "Qwen2.5-Math-7B", version: str = "v2"
) -> pd.DataFrame:
    """Published gains (points over the base model) from experiments/reaudits/published.csv,
    one row per condition of one paper version, with the source columns kept."""
    path = Path(root or EXPERIMENTS) / "reaudits" / "published.csv"
    if not path.is_file():
        raise MissingResults("reaudits", "no published.csv", "git checkout experiments/reaudits")
    df = pd.read_csv(path)
    df = df[(df["model"] == model) & (df["version"] == version)]
    return df.drop_duplicates(["paper", "condition"]).reset_index(drop=True)


# ---- one builder per figure -------------------------------------------------------------------


def entropy_collapse(root: Path | None = None) -> pd.DataFrame:
    """Fig. 1: vanilla GRPO of entropy_interventions, every seed's (step, entropy, acc)."""
    df = cells("entropy_interventions", root, where={"method": "vanilla"})
    return df[["seed", "step", "entropy_mean", "acc"]]


def first_order(root: Path | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fig. 2, from first_order_audit. points: every run-step's exact entropy change (mean
    over the states the update moved) and each approximation's prediction, with the
    optimiser, step-size level and lr; summary: per optimiser, lr and approximation, the
    mean over runs of each run's median relative error, with its 95% t-interval."""
    study = "first_order_audit"
    lrs = level_settings(study, "update", root)
    df = cells(study, root)
    df = df[df["step"] > 0]  # step 0 is the base policy: no update
    approx = [a for a in APPROX_LABELS if a in df]
    points = df.melt(
        id_vars=["update", "seed", "dH_exact"],
        value_vars=approx,
        var_name="approximation",
        value_name="predicted",
    )
    points["optimizer"] = points["update"].map(lambda u: lrs[u]["optim.kind"])
    points["lr"] = points["update"].map(lambda u: lrs[u]["optim.lr"])
    points["level"] = points["update"].str.rsplit("_", n=1).str[1].astype(int)
    res = results(study, root)
    rows = []
    for a in approx:
        col = f"median_rel_err({a})"
        if col not in res:
            continue
        m = mean_ci(res, ["update"], col)
        m["approximation"] = a
        rows.append(m)
    summary = pd.concat(rows, ignore_index=True)
    summary["optimizer"] = summary["update"].map(lambda u: lrs[u]["optim.kind"])
    summary["lr"] = summary["update"].map(lambda u: lrs[u]["optim.lr"])
    return points, summary


def clipping_bias(root: Path | None = None) -> pd.DataFrame:
    """Fig. 3: change of the mass on the base policy's top mode / answer since step 0 under
    the random reward. Shared states: spurious_rewards (sequence task, one mode state shared
    by all prompts), clipping on / off at the same 4 epochs. Independent states:
    decomposition's bandit (every prompt its own state), clipped (4 epochs) vs on-policy
    (1 epoch, where the ratio is 1 and nothing clips)."""
    shared = cells("spurious_rewards", root, where={"reward": "random"})
    shared = shared.assign(
        states="shared",
        clipping=shared["clipping"].map({"on": "clipped", "off": "unclipped"}),
    )
    indep = cells("decomposition", root, where={"reward": "random", "task": "bandit"})
    indep = indep[indep["prior"].isin(["0.2", "0.8"])]
    indep = indep.assign(
        states="independent",
        clipping=indep["regime"].map({"clipped": "clipped", "on_policy": "unclipped"}),
        prior=indep["prior"].map({"0.2": "weak", "0.8": "strong"}),
    )
    cols = ["states", "prior", "clipping", "seed", "step", "mass_base_top"]
    df = pd.concat([shared[cols], indep[cols]], ignore_index=True)
    start = df[df["step"] == 0].set_index(["states", "prior", "clipping", "seed"])
    base = start["mass_base_top"].rename("m0")
    df = df.join(base, on=["states", "prior", "clipping", "seed"])
    return df.assign(mass_change=df["mass_base_top"] - df["m0"]).drop(columns="m0")


def decomposition(root: Path | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fig. 4: per task, regime and prior, the decomposition's terms (null, elicitation,
    reward design, total) and the reward-design share of the naive estimate, each with the
    paired-bootstrap 95% interval of theory/decomposition.py (2000 replicates, seed 0, as
    the study's analysis)."""
    seeds = decomposition_seeds("decomposition", root)
    terms, shares = [], []
    for (task, regime, prior), g in seeds.groupby(["task", "regime", "prior"], observed=True):
        acc = {k: g[f"value_{k}"].to_numpy() for k in ("true", "random", "frozen", "anchor")}
        res = decompose_with_ci(acc, anchor="anchor", n_boot=2000, alpha=0.05, seed=0)
        key = {"task": task, "regime": regime, "prior_strength": float(prior)}
        for term in ("null", "elicitation", "reward_design", "total"):
            lo, hi = res.ci[term]
            terms.append({**key, "term": term, "estimate": getattr(res.estimate, term)})
            terms[-1].update(lo=lo, hi=hi)
        lo, hi = res.ci["share_reward_design"]
        shares.append({**key, "estimate": res.estimate.share_reward_design, "lo": lo, "hi": hi})
    return pd.DataFrame(terms), pd.DataFrame(shares)


def factorial(root: Path | None = None) -> pd.DataFrame:
    """Fig. 5: final accuracy of every factorial cell, mean and 95% t-interval over seeds."""
    res = results("factorial", root)
    for f in ("reward", "regime", "prior"):
        res[f] = res[f].astype(str)
    return mean_ci(res, ["reward", "regime", "prior"], "acc")


def paired_gain(df: pd.DataFrame, by: list[str], factor: str, baseline: str, value: str):
    """Per `by` group and level of `factor`: mean over seeds of value(level) - value(baseline),
    paired on seed, with a 95% t-interval; seeds missing from either side are dropped."""
    rows = []
    for key, g in df.groupby(by, observed=True):
        key = key if isinstance(key, tuple) else (key,)
        wide = g.pivot(index="seed", columns=factor, values=value)
        for level in wide.columns:
            if level == baseline:
                continue
            d = (wide[level] - wide[baseline]).dropna().to_numpy()
            half = stats.t.ppf(0.975, d.size - 1) * d.std(ddof=1) / np.sqrt(d.size)
            m = d.mean()
            rows.append({**dict(zip(by, key, strict=True)), factor: level, "gain": m,
                         "lo": m - half, "hi": m + half, "n": d.size})  # fmt: skip
    return pd.DataFrame(rows)


#: published condition names -> the study's reward levels (majority vote of 64 samples is
#: the self-consistency reward; Shao et al. 2025, arXiv 2506.10947)
PUBLISHED_REWARDS = {
    "ground_truth": "true",
    "majority_vote": "self_consistency",
    "one_shot": "one_shot",
    "incorrect": "incorrect",
    "format": "format",
    "random": "random",
}


def spurious(root: Path | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fig. 6: accuracy gain over the frozen baseline (acc_all, percentage points), paired
    by seed, per reward x prior x clipping; beside it the published Qwen2.5-Math-7B
    MATH-500 gains (experiments/reaudits/published.csv, Shao et al. 2025 v2 abstract)."""
    res = results("spurious_rewards", root)
    for f in ("reward", "prior", "clipping"):
        res[f] = res[f].astype(str)
    res["acc_points"] = 100 * res["acc_all"]
    gains = paired_gain(res, ["prior", "clipping"], "reward", "frozen", "acc_points")
    pub = published(root)
    pub = pub[pub["condition"].isin(PUBLISHED_REWARDS)]
    pub = pd.DataFrame(
        {"reward": pub["condition"].map(PUBLISHED_REWARDS), "gain": pub["value"].to_numpy()}
    )
    return gains, pub


PASSK = (1, 4, 16, 64)


def interventions(root: Path | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fig. 7, from entropy_interventions: every method's trajectories (seed, step,
    entropy_mean, acc) and exact pass@k at the last step for the stored k, mean and 95%
    t-interval over seeds ('base' = the untrained policy)."""
    df = cells("entropy_interventions", root)
    traj = df[["method", "seed", "step", "entropy_mean", "acc"]]
    last = df[df["step"] == df["step"].max()]
    rows = []
    for k in PASSK:
        col = "acc" if k == 1 else f"pass_at_{k}"
        m = mean_ci(last, ["method"], col)
        rows.append(m.assign(k=k))
    return traj, pd.concat(rows, ignore_index=True)


def token_entropy(root: Path | None = None) -> tuple[pd.DataFrame, tuple[int, ...]]:
    """Fig. 8, from token_entropy: every run-step's shares of tokens above 0.5 / 1 nats,
    the per-position entropy profile (entropy_pos_d) and the forking tokens' share of
    the gradient, per method; and the forking positions as depths of entropy_pos_d (the
    task's fork_positions count reasoning tokens; depth 0 is the mode choice)."""
    df = cells("token_entropy", root)
    spec = tomllib.loads((study_dir("token_entropy", root) / "prereg.toml").read_text())
    task = spec["config"]["task"]
    offset = 1 if task.get("num_modes", 0) > 0 else 0
    return df, tuple(p + offset for p in task.get("fork_positions", ()))


#: contrasts measured on both the simulator and the transformer: (name, reward, clipping,
#: minus reward, minus clipping); prior labels map onto each study's own levels
CONTRASTS = (
    ("true − random", "true", "on", "random", "on"),
    ("self-consistency − random", "self_consistency", "on", "random", "on"),
    ("random: clipped − unclipped", "random", "on", "random", "off"),
)
PRIORS = {"strong": ("strong", 0.8), "weak": ("weak", 0.2)}
#: a study's update regime as clipping on / off (clipped multi-epoch vs on-policy pg)
REGIME_CLIPPING = {"clipped": "on", "on_policy": "off", "unclipped": "off"}


def _contrasts(res: pd.DataFrame, value: str, prior_col: str, scale: float) -> pd.DataFrame:
    rows = []
    for prior, levels in PRIORS.items():
        p = res[res[prior_col].astype(str).isin([str(v) for v in levels])]
        for name, r1, c1, r0, c0 in CONTRASTS:
            a = p[(p["reward"].astype(str) == r1) & (p["clipping"].astype(str) == c1)]
            b = p[(p["reward"].astype(str) == r0) & (p["clipping"].astype(str) == c0)]
            a, b = a.set_index("seed")[value], b.set_index("seed")[value]
            if a.empty or b.empty:
                continue
            d = (a - b).dropna().to_numpy() * scale  # paired on seed
            half = stats.t.ppf(0.975, d.size - 1) * d.std(ddof=1) / np.sqrt(d.size)
            rows.append({"contrast": f"{name} ({prior} prior)", "estimate": d.mean(),
                         "lo": d.mean() - half, "hi": d.mean() + half})  # fmt: skip
    return pd.DataFrame(rows)


def bridge_vs_sim(root: Path | None = None) -> pd.DataFrame:
    """Fig. 9: the same paired contrasts of final accuracy (points) on the simulator
    (spurious_rewards, acc_all) and on the transformer (bridge_replay, acc)."""
    bridge = results("bridge_replay", root)
    if "clipping" not in bridge and "regime" in bridge:  # the replay names the update regime
        bridge = bridge.assign(clipping=bridge["regime"].astype(str).map(REGIME_CLIPPING))
    prior_col = next(c for c in ("prior", "prior_mix") if c in bridge)
    value = "acc" if "acc" in bridge else "acc_all"
    tr = _contrasts(bridge, value, prior_col, 100.0).assign(source="transformer")
    sim = _contrasts(results("spurious_rewards", root), "acc_all", "prior", 100.0)
    return pd.concat([sim.assign(source="simulator"), tr], ignore_index=True)


#: fig. 10: each registered contrast of experiments/bridge_clipping as (panel, label, the
#: per-run gain it differences, where, the cells a - b, or a alone when b is None); a
#: difference of differences (C3) is built in bridge_clipping()
CLIPPING_CONTRASTS = (
    ("accuracy gain", "random: clip on − off", "acc", "random", ("on", "off")),
    ("accuracy gain", "true, clipped: gain", "acc", "true", ("on", None)),
    ("top-mode mass change", "random: clip on − off", "mass", "random", ("on", "off")),
    ("entropy change (nats)", "random: clip on − off", "entropy", "random", ("on", "off")),
    ("entropy change (nats)", "true: clip on − off", "entropy", "true", ("on", "off")),
)
#: the simulator's optimiser that bridge_clipping registered its predictions from
CLIPPING_SIM_OPTIM = "sgd 30"


def _clipping_gains(df: pd.DataFrame, acc: str, mass: str, entropy: str) -> pd.DataFrame:
    """Per run: prior (strong / weak), reward, clipping, seed and the three gains."""
    names = {str(v): name for name, levels in PRIORS.items() for v in levels}
    prior = df["prior"].astype(str).map(names)  # labels (strong) or values (0.8)
    return pd.DataFrame(
        {"prior": prior, "reward": df["reward"].astype(str),
         "clipping": df["clipping"].astype(str), "seed": df["seed"].to_numpy(),
         "acc": df[acc].to_numpy(), "mass": df[mass].to_numpy(),
         "entropy": df[entropy].to_numpy()}
    )  # fmt: skip


def _t_row(d: np.ndarray, **labels) -> dict:
    d = d[np.isfinite(d)]
    half = stats.t.ppf(0.975, d.size - 1) * d.std(ddof=1) / np.sqrt(d.size)
    return {**labels, "estimate": d.mean(), "lo": d.mean() - half, "hi": d.mean() + half,
            "n": d.size}  # fmt: skip


def clipping_contrasts(gains: pd.DataFrame) -> pd.DataFrame:
    """bridge_clipping's contrasts (paired on seed, 95% t-intervals) from per-run gains."""
    piv = gains.pivot_table(index="seed", columns=["prior", "reward", "clipping"],
                            values=["acc", "mass", "entropy"])  # fmt: skip
    rows = []
    for panel, name, value, reward, (a, b) in CLIPPING_CONTRASTS:
        for prior in ("strong", "weak"):
            x = piv[(value, prior, reward, a)]
            if b is not None:
                x = x - piv[(value, prior, reward, b)]
            rows.append(_t_row(x.to_numpy(), panel=panel, contrast=f"{name} ({prior})"))
        if panel == "accuracy gain" and b is not None:  # C3: the difference by prior
            on_off = {p: piv[("acc", p, reward, "on")] - piv[("acc", p, reward, "off")]
                      for p in ("strong", "weak")}  # fmt: skip
            rows.append(_t_row((on_off["strong"] - on_off["weak"]).to_numpy(), panel=panel,
                               contrast=f"{name}: strong − weak"))  # fmt: skip
    for prior in ("strong", "weak"):  # C8: true - random, mean over clipping
        d = sum(piv[("acc", prior, "true", c)] - piv[("acc", prior, "random", c)]
                for c in ("on", "off")) / 2  # fmt: skip
        rows.append(_t_row(d.to_numpy(), panel="accuracy gain",
                           contrast=f"true − random ({prior})"))  # fmt: skip
    return pd.DataFrame(rows)


def bridge_clipping(root: Path | None = None) -> pd.DataFrame:
    """Fig. 10: bridge_clipping's registered contrasts on the transformer (results.parquet)
    beside the simulator's predictions (the study's simulator.csv, sgd 30), per panel."""
    res = results("bridge_clipping", root)
    tr = _clipping_gains(res, "acc_all - acc_all@0", "mass_base_top - mass_base_top@0",
                         "entropy_mean - entropy_mean@0")  # fmt: skip
    path = study_dir("bridge_clipping", root) / "simulator.csv"
    if not path.is_file():
        raise MissingResults("bridge_clipping", "no simulator.csv",
                             "python3 experiments/bridge_clipping/simulator.py 0.05 0.1 0.2")  # fmt: skip
    sim = pd.read_csv(path)
    sim = sim[sim["optim"] == CLIPPING_SIM_OPTIM]
    sim = _clipping_gains(sim, "d_acc", "d_mass_base_top", "d_entropy_mean")
    return pd.concat(
        [clipping_contrasts(sim).assign(source="simulator"),
         clipping_contrasts(tr).assign(source="transformer")], ignore_index=True
    )  # fmt: skip
