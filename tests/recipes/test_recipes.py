"""Recipes (simrl/recipes/): each sets its source's values, applies under a user's fields,
and shows its sources.

verl-grpo and trl-grpo are compared with the INSTALLED verl 0.9.1 and trl 1.16.0 at test
time (verl's yaml config files and its GRPO advantage; TRL's GRPOConfig dataclass defaults
and GRPOTrainer's source), so they fail if the libraries drift. The script recipes are
pinned here, value by value, to their script's path and line (PINS); where the
repository's snapshot is on this machine (/work/.mirror, the `fetch` tool's copies) the
line's text is checked too.
"""

from __future__ import annotations

import dataclasses
import inspect
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from simrl import recipes
from simrl.cli import main
from simrl.config import Config
from simrl.prereg.identity import identity_toml
from simrl.recipes import RECIPES

VERL_VERSION = "0.9.1"
TRL_VERSION = "1.16.0"
ALL = sorted(RECIPES)


def test_the_issue_names_every_recipe():
    assert set(RECIPES) >= {
        "verl-grpo", "trl-grpo", "dapo", "dr-grpo", "clip-cov-7b", "kl-cov-7b", "steer",
        "prorl", "spurious-rewards", "skywork-or1", "cispo-minimax", "gspo",
    }  # fmt: skip


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("kind", ["bandit", "sequence"])
def test_recipe_sets_its_fields(name, kind):
    cfg = Config.from_dict({"task": {"kind": kind}, "algo": {"recipe": name}})
    assert cfg.algo.recipe == name
    for s in RECIPES[name].settings:
        section, _, field = s.field.partition(".")
        got = getattr(getattr(cfg, section), field)
        if kind == "bandit" and recipes.sequence_only(s.field):
            assert got == getattr(type(getattr(cfg, section))(), field)
        else:
            assert got == s.value, s.field
        assert s.source.strip()


@pytest.mark.parametrize("name", ALL)
def test_user_fields_win_and_a_saved_config_reloads_unchanged(name):
    import tomllib

    r = RECIPES[name]
    field = next(
        s.field for s in r.settings if s.field == "algo.loss" or s.field.startswith("algo.")
    )
    mine = {"algo.loss": "pg", "algo.clip_low": 0.1, "algo.advantage": "rloo"}
    key = field if field in mine else "algo.clip_low"
    cfg = Config.from_dict({"algo": {"recipe": name}}, {key: mine[key]})
    assert getattr(cfg.algo, key.split(".")[1]) == mine[key]
    assert Config.from_dict(tomllib.loads(cfg.to_toml())) == cfg


def test_replace_with_a_recipe_sets_its_fields_except_the_calls_own():
    cfg = Config().replace(**{"algo.recipe": "dapo", "algo.clip_high": 0.5})
    assert (cfg.algo.recipe, cfg.algo.clip_high, cfg.algo.dual_clip) == ("dapo", 0.5, 10.0)
    assert cfg == Config.from_dict({"algo": {"recipe": "dapo", "clip_high": 0.5}})


def test_no_recipe_stays_out_of_a_cells_identity():
    assert "recipe" not in identity_toml(Config())
    assert 'recipe = "dapo"' in identity_toml(Config.from_dict({"algo": {"recipe": "dapo"}}))
    assert Config.from_dict({}) == Config()


def test_clip_low_accepts_one_and_its_default_is_unchanged():
    assert Config().algo.clip_low == 0.2
    assert Config.from_dict({"algo": {"clip_low": 1.0}}).algo.clip_low == 1.0
    with pytest.raises(Exception, match=r"algo\.clip_low"):
        Config.from_dict({"algo": {"clip_low": 1.5}})


def test_cli_lists_and_shows(capsys):
    assert main(["recipes"]) == 0
    out = capsys.readouterr().out
    for name, r in RECIPES.items():
        assert name in out and r.summary in out
    for name, r in RECIPES.items():
        assert main(["recipes", name]) == 0
        out = capsys.readouterr().out
        for s in r.settings:
            assert s.field in out and s.source in out
        for setting, reason in r.not_modelled:
            assert setting in out and reason in out


def test_bad_recipe_is_one_line_exit_2(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text("[run]\nsteps = 1\nseeds = 1\n")
    for argv in (["recipes", "nope"], ["run", str(cfg), "--recipe", "nope", "--quiet"]):
        p = subprocess.run([sys.executable, "-m", "simrl", *argv], capture_output=True, text=True)
        assert p.returncode == 2
        assert p.stderr.count("\n") == 1 and "algo.recipe" in p.stderr and "dapo" in p.stderr


def test_run_with_recipe_writes_it(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text("[run]\nsteps = 2\nseeds = 1\n[algo]\nclip_high = 0.5\n")
    out = tmp_path / "out"
    argv = ["run", str(cfg), "--recipe", "dapo", "--out", str(out), "--quiet"]
    assert main([*argv, "--engine", "reference"]) == 0
    saved = Config.from_toml(out / "config.toml")
    assert saved.algo.recipe == "dapo" and saved.algo.clip_high == 0.5
    assert saved.algo.dual_clip == 10.0 and saved.algo.group_size == 16


# ---- verl-grpo against the installed verl ------------------------------------------------


def _verl_yaml():
    yaml = pytest.importorskip("yaml")
    verl = pytest.importorskip("verl", reason="verl not installed (.ci/run installs verl==0.9.1)")
    root = Path(verl.__file__).parent / "trainer" / "config"
    actor = yaml.safe_load((root / "actor" / "actor.yaml").read_text())
    top = yaml.safe_load((root / "_generated_ppo_trainer.yaml").read_text())
    return verl, actor, top


KL_TYPES = {"low_var_kl": "k3", "kl": "k1", "k1": "k1", "mse": "k2", "k2": "k2", "k3": "k3"}


def test_verl_grpo_equals_installed_verl():
    verl, actor, top = _verl_yaml()
    assert verl.__version__ == VERL_VERSION
    core = pytest.importorskip("verl.trainer.ppo.core_algos")
    pl, algo = actor["policy_loss"], top["algorithm"]
    kl_on = actor["use_kl_loss"] or algo["use_kl_in_reward"]
    expected = {
        "algo.advantage": "grpo" if algo["norm_adv_by_std_in_grpo"] else "dr_grpo",
        "algo.std_eps": inspect.signature(core.compute_grpo_outcome_advantage)
        .parameters["epsilon"]
        .default,
        "algo.std_ddof": 1,  # checked numerically below
        "algo.loss": pl["loss_mode"],
        "algo.clip_low": actor["clip_ratio_low"],
        "algo.clip_high": actor["clip_ratio_high"],
        "algo.dual_clip": actor["clip_ratio_c"],
        "algo.agg": actor["loss_agg_mode"],
        "algo.clip_cov_ratio": pl["clip_cov_ratio"],
        "algo.clip_cov_lb": pl["clip_cov_lb"],
        "algo.clip_cov_ub": pl["clip_cov_ub"],
        "algo.kl_cov_ratio": pl["kl_cov_ratio"],
        "algo.kl_cov_coef": pl["ppo_kl_coef"],
        "algo.kl_coef": actor["kl_loss_coef"] if kl_on else 0.0,
        "algo.kl_kind": KL_TYPES[actor["kl_loss_type"]],
        "algo.entropy_coef": actor["entropy_coeff"],
        "algo.epochs": actor["ppo_epochs"],
        "algo.minibatches": top["data"]["train_batch_size"] // actor["ppo_mini_batch_size"],
        "algo.dynamic_sampling": "resample" if algo["filter_groups"]["enable"] else "off",
    }
    got = RECIPES["verl-grpo"].values()
    assert got == pytest.approx(expected) and list(got) == list(got)
    assert set(got) == set(expected)
    assert top["data"]["train_batch_size"] % actor["ppo_mini_batch_size"] == 0
    # verl's own GRPO advantage against simrl's grpo with the recipe's std_eps / std_ddof
    import torch

    from simrl.algorithms.advantages import ADVANTAGES

    rng = np.random.default_rng(0)
    G, groups = 5, 4
    rewards = rng.integers(0, 2, size=(groups, G)).astype(float)
    rewards[0] = [0.0, 1.0, 0.0, 0.0, 1.0]
    adv, _ = core.compute_grpo_outcome_advantage(
        torch.tensor(rewards.reshape(-1, 1), dtype=torch.float64),
        torch.ones(groups * G, 1, dtype=torch.float64),
        np.repeat(np.arange(groups), G),
    )
    a = Config.from_dict({"algo": {"recipe": "verl-grpo"}}).algo
    ours = ADVANTAGES[a.advantage].fn(rewards, a)
    np.testing.assert_allclose(adv.numpy().reshape(groups, G), ours, rtol=0, atol=1e-6)


# ---- trl-grpo against the installed TRL ---------------------------------------------------

TRL_LOSS_TYPES = {  # docs/adding-an-algorithm.md, TRL's loss types (token level)
    "dapo": ("vanilla", "token-mean"),
    "bnpo": ("vanilla", "token-mean"),
    "grpo": ("vanilla", "seq-mean-token-mean"),
    "cispo": ("cispo_trl", "token-mean"),
}


def test_trl_grpo_equals_installed_trl():
    trl = pytest.importorskip("trl")
    assert trl.__version__ == TRL_VERSION
    from trl import GRPOConfig
    from trl.trainer import grpo_trainer
    from trl.trainer.utils import nanstd

    d = {f.name: f.default for f in dataclasses.fields(GRPOConfig)}
    assert d["importance_sampling_level"] == "token"
    loss, agg = TRL_LOSS_TYPES[d["loss_type"]]
    source = inspect.getsource(grpo_trainer)
    assert "advantages = advantages / (std_rewards + 1e-4)" in source
    assert (
        "torch.exp(ref_per_token_logps - per_token_logps) - (ref_per_token_logps - per_token_logps) - 1"
        in source
    )
    steps = d["steps_per_generation"] or d["gradient_accumulation_steps"]
    expected = {
        "algo.advantage": {"group": "grpo", "none": "dr_grpo"}[d["scale_rewards"]],
        "algo.std_eps": 1e-4,
        "algo.std_ddof": 1,  # nanstd, checked numerically below
        "algo.group_size": d["num_generations"],
        "algo.loss": loss,
        "algo.agg": agg,
        "algo.clip_low": d["epsilon"],
        "algo.clip_high": d["epsilon_high"] if d["epsilon_high"] is not None else d["epsilon"],
        "algo.dual_clip": 0.0 if d["delta"] is None else None,
        "algo.opsm_threshold": d["off_policy_mask_threshold"] or 0.0,
        "algo.kl_coef": d["beta"],
        # TRL multiplies k3 by the ratio under use_bias_correction_kl (simrl's k3_ratio)
        "algo.kl_kind": "k3_ratio" if d["use_bias_correction_kl"] else "k3",
        "algo.epochs": d["num_iterations"],
        "algo.minibatches": steps // d["gradient_accumulation_steps"],
        "algo.entropy_coef": d["entropy_coef"],
        "algo.forking_top_quantile": d["top_entropy_quantile"],
        "algo.dynamic_sampling": "off",
    }
    got = RECIPES["trl-grpo"].values()
    assert set(got) == set(expected)
    assert got == pytest.approx(expected)
    import torch

    x = torch.tensor([0.0, 1.0, 1.0, 0.0, 1.0], dtype=torch.float64)
    assert float(nanstd(x)) == pytest.approx(float(np.std(x.numpy(), ddof=1)), abs=1e-15)


# ---- script and paper recipes, pinned -------------------------------------------------------

MIRROR = Path("/work/.mirror")
ENTROPY = ("PRIME-RL+Entropy-Mechanism-of-RL", "HEAD")
DAPO = ("volcengine+verl", "246cac4ca6b0e3ce1009bc48aaa798689e0600af")
VERL = ("volcengine+verl", "HEAD")
DRG = ("sail-sg+understand-r1-zero", "HEAD")
OAT = ("sail-sg+oat", "HEAD")
SPUR = ("ruixin31+Spurious_Rewards", "HEAD")
SKY = ("SkyworkAI+Skywork-OR1", "HEAD")

CC = (ENTROPY, "recipe/dapo/7b_clip_cov.sh")
KC = (ENTROPY, "recipe/dapo/7b_kl_cov.sh")
DS = (DAPO, "recipe/dapo/run_dapo_qwen2.5_32b.sh")
GS = (VERL, "examples/gspo_trainer/test_gspo_3b_math.sh")
CI = (VERL, "examples/cispo_trainer/run_cispo_qwen2_5_0_5b_gsm8k.sh")
DR = (DRG, "examples/qwen2.5-math-7b.sh")
DZ = (DRG, "train_zero_math.py")
OP = (OAT, "oat/algorithms/ppo.py")
SP = (SPUR, "code/scripts/rlvr_deepscaler_grpo_qwen_random.sh")
SL = (SPUR, "code/ttrl/models/loss.py")
SE = (SPUR, "code/ttrl/trainer/experience_maker.py")
SA = (SPUR, "code/ttrl/cli/train_ppo_naive.py")
KS = (SKY, "or1_scripts/train/7b_16k.sh")
KD = (SKY, "verl/workers/actor/dp_actor.py")
KY = (SKY, "verl/trainer/config/ppo_trainer.yaml")
KA = (SKY, "verl/trainer/ppo/core_algos.py")

#: recipe -> field -> (value, (repo, file) or None for a paper, line, text on that line)
PINS = {
    "clip-cov-7b": {
        "algo.loss": ("clip_cov", CC, 30, 'loss_mode="clip_cov"'),
        "algo.clip_low": (1.0, CC, 17, "clip_ratio_low=1"),
        "algo.clip_high": (1.0, CC, 18, "clip_ratio_high=1"),
        "algo.clip_cov_ratio": (0.0002, CC, 19, "clip_cov_ratio=0.0002"),
        "algo.clip_cov_lb": (1.0, CC, 20, "clip_cov_lb=1.0"),
        "algo.clip_cov_ub": (5.0, CC, 21, "clip_cov_ub=5.0"),
        "algo.advantage": ("grpo", CC, 10, "adv_estimator=grpo"),
        "algo.agg": ("token-mean", CC, 29, 'loss_agg_mode="token-mean"'),
        "algo.kl_coef": (0.0, CC, 12, "use_kl_in_reward=False"),
        "algo.dynamic_sampling": ("resample", CC, 31, "enable_filter_groups=True"),
        "algo.max_resample_rounds": (10, CC, 33, "max_num_gen_batches=10"),
        "algo.group_size": (8, CC, 37, "n_resp_per_prompt=8"),
        "algo.minibatches": (8, CC, 34, "train_prompt_bsz=256"),
        "algo.entropy_coef": (0.0, CC, 112, "entropy_coeff=0"),
        "algo.overlong_cache": (0, CC, 25, "enable_overlong_buffer=False"),
    },
    "kl-cov-7b": {
        "algo.loss": ("kl_cov", KC, 27, 'loss_mode="kl_cov"'),
        "algo.kl_cov_ratio": (0.002, KC, 54, "k_percent=0.2"),
        "algo.kl_cov_coef": (1.0, KC, 53, "ppo_kl_coef=1"),
        "algo.clip_low": (0.2, KC, 17, "clip_ratio_low=0.2"),
        "algo.clip_high": (0.2, KC, 18, "clip_ratio_high=0.2"),
        "algo.advantage": ("grpo", KC, 10, "adv_estimator=grpo"),
        "algo.agg": ("token-mean", KC, 26, 'loss_agg_mode="token-mean"'),
        "algo.kl_coef": (0.0, KC, 12, "use_kl_in_reward=False"),
        "algo.dynamic_sampling": ("resample", KC, 28, "enable_filter_groups=True"),
        "algo.max_resample_rounds": (10, KC, 30, "max_num_gen_batches=10"),
        "algo.group_size": (8, KC, 34, "n_resp_per_prompt=8"),
        "algo.minibatches": (8, KC, 31, "train_prompt_bsz=256"),
        "algo.entropy_coef": (0.0, KC, 106, "entropy_coeff=0"),
        "algo.overlong_cache": (0, KC, 22, "enable_overlong_buffer=False"),
    },
    "dapo": {
        "algo.advantage": ("grpo", DS, 7, "adv_estimator=grpo"),
        "algo.loss": ("vanilla", None, 0, "run_dapo_qwen2.5_32b.sh sets no loss_mode"),
        "algo.clip_low": (0.2, DS, 14, "clip_ratio_low=0.2"),
        "algo.clip_high": (0.28, DS, 15, "clip_ratio_high=0.28"),
        "algo.dual_clip": (10.0, DS, 78, "clip_ratio_c=10.0"),
        "algo.agg": ("token-mean", DS, 23, 'loss_agg_mode="token-mean"'),
        "algo.dynamic_sampling": ("resample", DS, 25, "enable_filter_groups=True"),
        "algo.max_resample_rounds": (10, DS, 27, "max_num_gen_batches=10"),
        "algo.group_size": (16, DS, 30, "n_resp_per_prompt=16"),
        "algo.minibatches": (16, DS, 28, "train_prompt_bsz=512"),
        "algo.kl_coef": (0.0, DS, 9, "use_kl_in_reward=False"),
        "algo.entropy_coef": (0.0, DS, 97, "entropy_coeff=0"),
        "algo.overlong_factor": (1.0, DS, 21, "overlong_penalty_factor=1.0"),
    },
    "gspo": {
        "algo.loss": ("gspo", GS, 45, "loss_mode=gspo"),
        "algo.agg": ("seq-mean-token-mean", GS, 46, 'loss_agg_mode="seq-mean-token-mean"'),
        "algo.clip_low": (0.0003, GS, 72, "clip_ratio_low=0.0003"),
        "algo.clip_high": (0.0004, GS, 73, "clip_ratio_high=0.0004"),
        "algo.minibatches": (4, GS, 74, "train_batch_size=512"),
        "algo.group_size": (16, GS, 77, "n_resp_per_prompt=16"),
        "algo.advantage": ("grpo", GS, 44, "adv_estimator=grpo"),
        "algo.kl_coef": (0.0, GS, 67, "use_kl_in_reward=false"),
        "algo.entropy_coef": (0.0, GS, 157, "entropy_coeff=0"),
    },
    "cispo-minimax": {
        "algo.loss": ("cispo", CI, 12, "loss_mode=cispo"),
        "algo.clip_low": (1.0, CI, 13, "clip_ratio_low=10"),
        "algo.clip_high": (0.2, CI, 14, "clip_ratio_high=0.2"),
        "algo.agg": ("token-mean", None, 0, "paper Eq. 4"),
        "algo.advantage": ("grpo", CI, 11, "adv_estimator=grpo"),
    },
    "dr-grpo": {
        "algo.advantage": ("dr_grpo", DZ, 293, "Remove difficulty bias"),
        "algo.loss": ("vanilla", OP, 531, "pg_losses = -mb_advantage * ratio"),
        "algo.clip_low": (0.2, OP, 96, "default=0.2"),
        "algo.clip_high": (0.2, OP, 96, "default=0.2"),
        "algo.dual_clip": (0.0, OP, 531, "pg_losses = -mb_advantage * ratio"),
        "algo.agg": (
            "seq-mean-token-sum-norm",
            DZ,
            288,
            "constant_normalizer=args.generate_max_length",
        ),
        "algo.kl_coef": (0.0, DR, 33, "--beta 0"),
        "algo.epochs": (1, DR, 32, "--num_ppo_epochs 1"),
        "algo.group_size": (8, DR, 16, "N_SAMPLE=8"),
        "algo.minibatches": (8, DR, 53, "--train_batch_size 128"),
    },
    "spurious-rewards": {
        "reward.kind": ("random", SP, 12, 'REWARD="random0.5"'),
        "reward.p": (0.5, SP, 12, 'REWARD="random0.5"'),
        "algo.advantage": ("grpo", SP, 61, '--advantage_estimator "group_norm"'),
        "algo.std_eps": (1e-9, SE, 225, "+ 1e-9"),
        "algo.std_ddof": (1, SE, 225, ".std(-1"),
        "algo.loss": ("vanilla", SL, 28, "class PolicyLoss"),
        "algo.clip_low": (0.2, SA, 168, "--eps_clip"),
        "algo.clip_high": (0.2, SA, 168, "--eps_clip"),
        "algo.dual_clip": (0.0, SL, 28, "class PolicyLoss"),
        "algo.agg": (
            "seq-mean-token-mean",
            SL,
            48,
            "masked_mean(loss, action_mask, dim=-1).mean()",
        ),
        "algo.kl_coef": (0.0, SP, 4, "KL_COEF=0.00"),
        "algo.group_size": (16, SP, 52, "--n_samples_per_prompt 16"),
        "algo.epochs": (1, SP, 58, "--max_epochs 1"),
        "algo.minibatches": (8, SP, 42, "--train_batch_size 128"),
        "algo.entropy_coef": (0.0, SA, 197, "--entropy_coef"),
    },
    "skywork-or1": {
        "algo.advantage": ("grpo", KS, 61, "algorithm.adv_estimator=grpo"),
        "algo.std_eps": (1e-6, KA, 135, "epsilon: float = 1e-6"),
        "algo.std_ddof": (1, KA, 168, "torch.std("),
        "algo.loss": ("vanilla", KA, 248, "def compute_policy_loss("),
        "algo.clip_low": (0.2, KY, 31, "clip_ratio: 0.2"),
        "algo.clip_high": (0.2, KY, 31, "clip_ratio: 0.2"),
        "algo.dual_clip": (0.0, KA, 248, "def compute_policy_loss("),
        "algo.agg": (
            "token-mean",
            KA,
            277,
            "masked_mean(torch.max(pg_losses, pg_losses2), eos_mask)",
        ),
        "algo.kl_coef": (0.0, KY, 40, "use_kl_loss: False"),
        "algo.epochs": (1, KY, 43, "ppo_epochs: 1"),
        "algo.group_size": (16, KS, 23, "GROUP_SIZE=16"),
        "algo.minibatches": (1, KS, 19, "ROLLOUT_BATCH_SIZE=256"),
        "algo.dynamic_sampling": ("drop", KS, 98, "trainer.rejection_sample=True"),
        "algo.entropy_coef": (0.0, KS, 12, "ENTROPY_COEFF=0.0"),
        "algo.entropy_adaptive": (True, KS, 13, "USE_ADAPTIVE_ENT=True"),
        "algo.entropy_target": (0.2, KS, 14, "TGT_ENTROPY=0.2"),
        "algo.entropy_coef_max": (0.005, KS, 15, "MAX_ENT_COEF=0.005"),
        "algo.entropy_coef_min": (0.0, KS, 16, "MIN_ENT_COEF=0"),
        "algo.entropy_coef_delta": (0.0001, KS, 17, "DELTA_ENT_COEF=0.0001"),
        "algo.entropy_agg": (
            "loss",
            KD,
            283,
            "entropy_loss = verl_F.masked_mean(entropy, response_mask)",
        ),
    },
    "prorl": {
        "algo.advantage": ("grpo", None, 0, "paper Sec. 3"),
        "algo.loss": ("vanilla", None, 0, "paper Sec. 3.1"),
        "algo.clip_low": (0.2, None, 0, "paper Sec. 3.1: epsilon_low = 0.2"),
        "algo.clip_high": (0.4, None, 0, "paper Sec. 3.1: epsilon_high = 0.4"),
        "algo.agg": ("token-mean", None, 0, "paper Sec. 3.1"),
        "algo.dynamic_sampling": ("resample", None, 0, "paper Sec. 3.1"),
    },
    "steer": {
        "algo.loss": ("steer", None, 0, "paper Sec. 4"),
        "algo.steer_mode": ("linear", None, 0, "linear=True"),
        "algo.steer_w_min": (0.8, None, 0, "token_weight_min=0.8"),
        "algo.steer_w_max": (1.2, None, 0, "token_weight_max=1.2"),
    },
}


def test_every_recipe_is_checked():
    assert set(RECIPES) == set(PINS) | {"verl-grpo", "trl-grpo"}


@pytest.mark.parametrize("name", sorted(PINS))
def test_script_recipe_matches_its_pins(name):
    got = RECIPES[name].values()
    assert set(got) == set(PINS[name]), "every field a script recipe sets is pinned here"
    sources = {s.field: s.source for s in RECIPES[name].settings}
    for field, (value, where, line, text) in PINS[name].items():
        assert got[field] == value, field
        if where is None:
            assert text in sources[field], field
        else:
            assert f"{Path(where[1]).name}:{line}" in sources[field], field


def _line(repo_commit, path, line):
    repo, commit = repo_commit
    git_dir = MIRROR / repo / "repo"
    if not git_dir.is_dir():
        return None
    p = subprocess.run(
        ["git", f"--git-dir={git_dir}", "show", f"{commit}:{path}"], capture_output=True, text=True
    )
    if p.returncode != 0:
        return None
    return p.stdout.splitlines()[line - 1]


def test_pins_are_the_scripts_lines():
    checked = 0
    for name, pins in PINS.items():
        for field, (_value, where, line, text) in pins.items():
            if where is None:
                continue
            got = _line(where[0], where[1], line)
            if got is None:
                continue
            assert text in got, (name, field, where[1], line, got)
            checked += 1
    if not checked:
        pytest.skip("no repository snapshot under /work/.mirror: the pins are checked only")
