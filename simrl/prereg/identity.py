"""A cell's identity: the config text its key and its recorded config hash are taken of.

A cell's key (grid.cell_key) and the manifest's config hash (store.config_sha256) hash the
resolved config. Every field a later version adds has a default that leaves what older
configs compute unchanged (a new loss's parameters, a new option that is off), so a field
that is not in KEYED_FIELDS, the fields of 2026-12-07 when the shipped studies' cells were
keyed, enters the identity only when it differs from its default. Old cells keep their
keys; a study that sets a new field gets keys that say so. A field in KEYED_FIELDS always
enters, as it always has. tests/prereg/test_identity.py holds every shipped study's cells
to its stored keys.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

from simrl._version import __version__
from simrl.config_toml import _toml_value

#: a field renamed after the shipped studies were keyed -> the name its identity keeps, so
#: the identity text (and every stored key) is the same line for line (config_toml.RENAMED)
IDENTITY_NAMES = {"task.reasoning_tokens": "task.steps"}

#: section.field of the simulator's and the bridge's configs as of 2026-12-07 (frozen;
#: names as keyed: a renamed field is listed under its IDENTITY_NAMES name)
KEYED_FIELDS = frozenset(
    (
        "algo.advantage",
        "algo.agg",
        "algo.clip_cov_lb",
        "algo.clip_cov_ratio",
        "algo.clip_cov_ub",
        "algo.clip_high",
        "algo.clip_low",
        "algo.dual_clip",
        "algo.dynamic_sampling",
        "algo.entropy_coef",
        "algo.epochs",
        "algo.exact",
        "algo.forking_top_quantile",
        "algo.group_size",
        "algo.kl_coef",
        "algo.kl_cov_coef",
        "algo.kl_cov_ratio",
        "algo.kl_kind",
        "algo.loss",
        "algo.max_resample_rounds",
        "algo.minibatches",
        "algo.overlong_cache",
        "algo.overlong_factor",
        "algo.prompts_per_step",
        "algo.ref_reset_every",
        "algo.std_ddof",
        "algo.std_eps",
        "algo.steer_k",
        "algo.steer_mode",
        "algo.steer_w_max",
        "algo.steer_w_min",
        "bridge.audit_rollouts",
        "bridge.audit_top_tokens",
        "bridge.d_model",
        "bridge.device",
        "bridge.eval_prompts",
        "bridge.eval_samples",
        "bridge.heads",
        "bridge.layers",
        "bridge.max_grad_norm",
        "bridge.max_new_tokens",
        "bridge.max_operand",
        "bridge.model",
        "bridge.pretrain_batch",
        "bridge.pretrain_lr",
        "bridge.pretrain_seed",
        "bridge.pretrain_steps",
        "bridge.prior_mix",
        "bridge.probe_prompts",
        "bridge.prose_error",
        "bridge.task_seed",
        "bridge.temperature",
        "bridge.train_prompts",
        "bridge.weight_decay",
        "optim.beta1",
        "optim.beta2",
        "optim.eps",
        "optim.kind",
        "optim.lr",
        "reward.flip",
        "reward.kind",
        "reward.p",
        "run.audit",
        "run.eval_every",
        "run.on_nonfinite",
        "run.passk",
        "run.seed",
        "run.seeds",
        "run.steps",
        "task.answer",
        "task.end_prob",
        "task.fork_effect",
        "task.fork_entropy",
        "task.fork_positions",
        "task.format_mass",
        "task.kind",
        "task.min_steps",
        "task.mode_accuracy",
        "task.mode_prior",
        "task.num_answers",
        "task.num_correct",
        "task.num_modes",
        "task.num_prompts",
        "task.peak_mass",
        "task.prior_spread",
        "task.prior_strength",
        "task.seed",
        "task.share_mode_state",
        "task.steps",
        "task.train_prompts",
        "task.vocab",
    )
)


@functools.cache
def _defaults(section_type: type) -> dict[str, Any]:
    """A config section's field -> default (a default_factory's value made once: it is
    only compared, never handed out), looked up once per section class instead of a scan
    of dataclasses.fields per field (identity_toml runs for every cell several times per
    command); a field without a default is absent (a KeyError, where the scan raised)."""
    out = {}
    for f in dataclasses.fields(section_type):
        if f.default is not dataclasses.MISSING:
            out[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            out[f.name] = f.default_factory()
    return out


def _default(section: Any, name: str) -> Any:
    return _defaults(type(section))[name]


def identity_toml(config: Any) -> str:
    """Every field of the resolved config (config.to_dict(), not the saved config.toml,
    which leaves out the fields its task kind does not use) under its identity name,
    without the fields outside KEYED_FIELDS that hold their default (the same text, line
    for line, for a config that sets none of them). A section none of whose fields is keyed
    (one added later, such as [policy]) is left out, header and all, while every field
    holds its default."""
    lines = [f'simrl_version = "{__version__}"']
    for name, values in config.to_dict().items():
        section = getattr(config, name)
        body, keyed_section = [], False
        for k, v in values.items():
            keyed = IDENTITY_NAMES.get(f"{name}.{k}", f"{name}.{k}")
            keyed_section = keyed_section or keyed in KEYED_FIELDS
            if keyed not in KEYED_FIELDS and v == _default(section, k):
                continue
            body.append(f"{keyed.partition('.')[2]} = {_toml_value(v)}")
        if not body and not keyed_section:
            continue  # a section added later (policy), every field at its default: absent
        lines += ["", f"[{name}]", *body]
    return "\n".join(lines) + "\n"
