"""Run a batch of runs (any mix of configs that share shapes) on either engine.

A run is a `RunSpec`: a config and a replicate index. Its random stream, and so its
whole trajectory, depends on nothing else: not on the other runs of the batch, not on
the engine's chunking of steps.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np

from simrl import controllers
from simrl.config import Config
from simrl.controllers import CONTROL_METRICS
from simrl.engine import reference as ref
from simrl.engine.dh_breakdown import QUADRANT_METRICS
from simrl.engine.families import ENGINE_FORMS
from simrl.engine.result import BatchResult, RunSpec, raise_first_failure
from simrl.engine.step_end import is_finite
from simrl.engine.streams import StreamLayout, fill_block, run_generator, stream_layout
from simrl.errors import ConfigError, NonFiniteError
from simrl.metrics import AUDIT_PROMPT_COLUMNS, UPDATE_METRICS
from simrl.policy import POLICY_UPDATE_METRICS, build_features, overlap, policy_metric_names
from simrl.rollout_sampling import differs
from simrl.tasks import build_task
from simrl.tasks.family import TASK_FAMILIES, family, family_of

#: update metrics a step may leave out (a frozen step: NaN)
OPTIONAL_METRICS = POLICY_UPDATE_METRICS + CONTROL_METRICS + QUADRANT_METRICS

__all__ = ["ENGINES", "BatchResult", "RunSpec", "raise_first_failure", "run_batch"]

ENGINES = ("fast", "reference")

Progress = Callable[[int, int], None]


def record_steps(steps: int, eval_every: int) -> np.ndarray:
    """Rows at step 0 (the base policy), every eval_every steps, and the last step."""
    return np.unique(np.r_[np.arange(0, steps + 1, eval_every), steps])


def check_shared_shapes(specs: Sequence[RunSpec], tasks: Sequence) -> None:
    first = specs[0].config
    for spec, task in zip(specs[1:], tasks[1:], strict=True):
        c = spec.config
        if c is first and task is tasks[0]:
            continue  # the first run's own config and task
        for name, mine, theirs in (
            ("task.kind", c.task.kind, first.task.kind),
            ("task.num_prompts", c.task.num_prompts, first.task.num_prompts),
            ("task.num_answers", c.task.num_answers, first.task.num_answers),
            ("run.steps", c.run.steps, first.run.steps),
            ("run.eval_every", c.run.eval_every, first.run.eval_every),
            ("run.passk", c.run.passk, first.run.passk),
            ("policy.kind", c.policy.kind, first.policy.kind),
        ):
            if mine != theirs:
                raise ConfigError(
                    name, mine, f"runs batched together must share it (first run has {theirs!r})"
                )
        fam = family_of(task)
        if fam is family_of(tasks[0]) and fam.shape_key(task) != fam.shape_key(tasks[0]):
            raise ConfigError(
                "task",
                fam.shape_key(task),
                "runs batched together must share the task's shapes "
                f"(first run: {fam.shape_key(tasks[0])})",
            )


def build_tasks(specs: Sequence[RunSpec]) -> list:
    """One task object per distinct task config: runs that share it share the arrays; a
    spec's own task object is used as it is."""
    cache: dict = {}
    out = []
    for spec in specs:
        if spec.task is not None:
            if not family(spec.config.task.kind).custom:
                custom = ", ".join(repr(f.name) for f in TASK_FAMILIES if f.custom)
                raise ConfigError(
                    "task.kind", spec.config.task.kind, f"must be {custom} with a custom task"
                )
            out.append(spec.task)
            continue
        if spec.config.task not in cache:
            cache[spec.config.task] = build_task(spec.config.task)
        out.append(cache[spec.config.task])
    return out


def check_task_config(spec: RunSpec, task) -> None:
    """What only the task object can tell against the config (the family's check)."""
    family_of(task).check_task(spec.config, task)


def names_for(config: Config, task) -> tuple[str, ...]:
    """The metric columns of a run of this config on this task (a linear policy's after
    the family's: simrl/policy.py)."""
    names = family_of(task).task_metric_names(config, task) + policy_metric_names(config)
    names = names + (CONTROL_METRICS if controllers.active(config.algo) else ())
    return names + (QUADRANT_METRICS if config.run.audit_quadrants else ())


def check_batch_agreement(specs: Sequence[RunSpec]) -> None:
    """A batch's runs agree on whether they have a controller or the quadrant split (each
    adds metric columns). (The numba engine runs a linear policy with the rollout sampler,
    the controllers and run.audit: kernels/linear_sampler.py, kernels/linear_audit.py; the
    config refuses run.audit_quadrants with a linear policy on every engine.)"""
    first = controllers.active(specs[0].config.algo)
    quad = specs[0].config.run.audit_quadrants
    for spec in specs:
        if spec.config.run.audit_quadrants != quad:
            raise ConfigError(
                "run.audit_quadrants",
                spec.config.run.audit_quadrants,
                "runs batched together must agree (it adds metric columns)",
            )
        a = spec.config.algo
        if controllers.active(a) != first:
            raise ConfigError(
                "algo.kl_in_reward / ref_sync_steps / entropy_adaptive",
                controllers.active(a),
                "runs batched together must all use a controller or none (its metric columns)",
            )


def build_all_features(specs: Sequence[RunSpec], tasks: Sequence) -> list:
    """Phi of every run's linear policy (None for tabular), built once per distinct policy
    and task config; a bad feature file fails here, before any run starts."""
    cache: dict = {}
    out = []
    for spec, task in zip(specs, tasks, strict=True):
        c = spec.config
        if c.policy.kind == "tabular":
            out.append(None)
            continue
        key = (c.policy, c.task, id(task))
        if key not in cache:
            cache[key] = build_features(c, task)
        out.append(cache[key])
    return out


def run_batch(
    specs: Sequence[RunSpec],
    engine: str = "fast",
    progress: Progress | None = None,
    audit_prompts: bool = False,
) -> BatchResult:
    """Run every spec; with `audit_prompts` also return the audit of every state at every
    step (every spec needs run.audit = true)."""
    specs = list(specs)
    if not specs:
        raise ConfigError("runs", 0, "need at least one run")
    if engine not in ENGINES:
        raise ConfigError("engine", engine, "must be one of " + ", ".join(map(repr, ENGINES)))
    if audit_prompts and not all(s.config.run.audit for s in specs):
        raise ConfigError(
            "run.audit", False, "must be true for every run when audit_prompts is asked for"
        )
    check_batch_agreement(specs)
    tasks = build_tasks(specs)
    check_shared_shapes(specs, tasks)
    # once per distinct (config, task) object pair: a batch's runs usually share both
    pairs: dict = {}
    for spec, task in zip(specs, tasks, strict=True):
        if (id(spec.config), id(task)) not in pairs:
            check_task_config(spec, task)
            pairs[id(spec.config), id(task)] = stream_layout(
                spec.config, getattr(task, "max_len", None)
            )
    features = build_all_features(specs, tasks)
    layouts = [pairs[id(s.config), id(t)] for s, t in zip(specs, tasks, strict=True)]
    run_cfg = specs[0].config.run
    rows = record_steps(run_cfg.steps, run_cfg.eval_every)
    names = names_for(specs[0].config, tasks[0])
    if engine == "reference":
        return _run_reference(specs, tasks, layouts, rows, names, progress, audit_prompts, features)
    run_fast = ENGINE_FORMS[family_of(tasks[0]).name].run_fast()
    from simrl.engine.compile_cost import announce

    announce([s.config for s in specs])  # a cold numba cache says so on stderr
    if specs[0].config.policy.kind != "tabular":  # batches share policy.kind
        run_fast = linear_runner(specs, features)
    # one kernel call per loss, advantage and optimiser, and with or without a rollout
    # sampler (its own kernels: engine/fast_sampler.py)
    groups: dict[tuple[str, str, str, bool], list[int]] = {}
    for r, spec in enumerate(specs):
        c = spec.config
        key = (c.algo.loss, c.algo.advantage, c.optim.kind, differs(c.algo))
        groups.setdefault(key, []).append(r)
    if len(groups) == 1:
        return run_fast(specs, tasks, layouts, rows, names, progress, audit_prompts)
    return _run_by_loss(
        run_fast, groups, specs, tasks, layouts, rows, names, progress, audit_prompts
    )


def linear_runner(specs: Sequence[RunSpec], features: list):
    """fast_linear.run_fast_linear with each run's Phi, found by the identity of its spec
    (_run_by_loss calls the runner on subsets of the batch)."""
    from simrl.engine.fast_linear import run_fast_linear

    phi_of = {id(s): f for s, f in zip(specs, features, strict=True)}

    def run(sub_specs, *args):
        return run_fast_linear(sub_specs, *args, [phi_of[id(s)] for s in sub_specs])

    return run


def _run_by_loss(run_fast, groups, specs, tasks, layouts, rows, names, progress, audit_prompts):
    """A batch that mixes policy losses: one kernel call per loss (the kernels take the
    run's compiled loss as a function; each call is parallel over its runs), then the
    results in the batch's order. A run's numbers do not depend on its batch-mates, so
    this changes none."""
    R, steps = len(specs), specs[0].config.run.steps
    parts, done = [], 0
    for idx in groups.values():
        part_progress = None
        if progress:
            part_progress = lambda d, _t, off=done: progress(off + d, R * steps)  # noqa: E731
        try:
            part = run_fast(
                [specs[r] for r in idx], [tasks[r] for r in idx], [layouts[r] for r in idx],
                rows, names, part_progress, audit_prompts,
            )  # fmt: skip
        except NonFiniteError as err:  # name the run by its place in the whole batch
            spec = specs[idx[err.run]]
            raise NonFiniteError(
                idx[err.run], err.step, err.what, spec.label or f"replicate {spec.replicate}"
            ) from None
        parts.append((idx, part))
        done += len(idx) * steps
    first = parts[0][1]
    metrics = np.empty((R, *first.metrics.shape[1:]))
    logits = np.empty((R, *first.logits.shape[1:]))
    failed = np.empty(R, dtype=first.failed_step.dtype)
    audit = None if first.audit_prompts is None else np.empty((R, *first.audit_prompts.shape[1:]))
    for idx, part in parts:
        metrics[idx], logits[idx], failed[idx] = part.metrics, part.logits, part.failed_step
        if audit is not None:
            audit[idx] = part.audit_prompts
    return BatchResult(specs, first.row_steps, names, metrics, logits, failed, list(tasks), audit)


def _run_reference(
    specs,
    tasks,
    layouts: list[StreamLayout],
    rows,
    names,
    progress,
    audit_prompts: bool,
    features: list | None = None,
) -> BatchResult:
    R, steps = len(specs), specs[0].config.run.steps
    S, K = tasks[0].shape
    metrics = np.full((R, rows.size, len(names)), np.nan)
    logits = np.empty((R, S, K))
    failed = np.full(R, -1)
    per_prompt = (
        np.full((R, steps, S, len(AUDIT_PROMPT_COLUMNS)), np.nan) if audit_prompts else None
    )
    forms = ENGINE_FORMS[family_of(tasks[0]).name]
    engine, eval_metrics_of = forms.reference, forms.eval_metrics
    update_names = UPDATE_METRICS + forms.update_extra
    if specs[0].config.policy.kind != "tabular":  # batches share policy.kind
        update_names = update_names + POLICY_UPDATE_METRICS
    if controllers.active(specs[0].config.algo):  # batches agree (check_batch_agreement)
        update_names = update_names + CONTROL_METRICS
    if specs[0].config.run.audit_quadrants:  # batches agree (check_batch_agreement)
        update_names = update_names + QUADRANT_METRICS
    upd_idx = [names.index(n) for n in update_names]
    features = features or [None] * R
    for r, spec in enumerate(specs):
        cfg = spec.config
        phi = features[r]
        if phi is None:
            params = forms.params(cfg, tasks[r], layouts[r])
            state = engine.initial_state(tasks[r])
        else:  # a linear policy (bandit only: the config refuses it elsewhere)
            params = ref.RunParams(cfg, tasks[r], layouts[r], phi)
            state = ref.initial_state(tasks[r], phi)
            policy_row = {"policy_overlap": overlap(phi, tasks[r].base_logits)}
        state = replace(state, control=controllers.initial(cfg.algo))
        gen = run_generator(cfg, spec.replicate)
        sums, counts = np.zeros(len(upd_idx)), np.zeros(len(upd_idx))
        u = np.empty((1, layouts[r].total))
        row = 0
        _put(
            metrics[r, row],
            names,
            eval_metrics_of(state.logits, tasks[r], cfg.run.passk, cfg.train_prompts),
        )
        if phi is not None:
            _put(metrics[r, row], names, policy_row)
        for t in range(steps):
            fill_block(gen, u)
            with np.errstate(over="ignore", invalid="ignore"):  # detected just below
                new_state, um = engine.step(state, params, u[0], t)
            if not is_finite(new_state):
                failed[r] = t + 1
                if cfg.run.on_nonfinite == "raise":
                    raise NonFiniteError(
                        r, t + 1, "logits", spec.label or f"replicate {spec.replicate}"
                    )
                break
            state = new_state
            per_state = um.pop("breakdown_per_state", None)
            if per_prompt is not None:
                per_prompt[r, t] = per_state
            vals = np.array(
                [um.get(n, np.nan) if n in OPTIONAL_METRICS else um[n] for n in update_names]
            )  # a frozen step records no held-out change
            ok = np.isfinite(vals)
            sums[ok] += vals[ok]
            counts[ok] += 1
            if t + 1 == rows[row + 1]:
                row += 1
                _put(
                    metrics[r, row],
                    names,
                    eval_metrics_of(state.logits, tasks[r], cfg.run.passk, cfg.train_prompts),
                )
                if phi is not None:
                    _put(metrics[r, row], names, policy_row)
                metrics[r, row, upd_idx] = np.where(
                    counts > 0, sums / np.maximum(counts, 1), np.nan
                )
                sums[:], counts[:] = 0, 0
            if progress:
                progress(r * steps + t + 1, R * steps)
        logits[r] = state.logits
    return BatchResult(specs, rows, names, metrics, logits, failed, tasks, per_prompt)


def _put(row: np.ndarray, names: tuple[str, ...], values: dict[str, float]) -> None:
    for name, value in values.items():
        row[names.index(name)] = value
