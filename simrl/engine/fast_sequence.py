"""The numba fast path for sequence tasks: sequence_ref.step, batched over runs.

`run_fast_sequence` packs each distinct task's graph into arrays (`pack_tasks`) and each
run's config (packing.pack, plus the sequence fields of `pack_sequence`), and calls
`kernels.seq_step.run_chunk_seq` over blocks of runs and chunks of steps (fast.run_blocks).
As for the bandit, each run is computed by one thread from its own arrays and uniforms in a
fixed order, so its numbers do not depend on the batch; the kernels keep a cache of log pi,
pi and H per parameter row, refreshed for the rows an update touched.

tests/engine/test_sequence_parity.py holds this path to sequence_ref within 1e-9.
"""

from __future__ import annotations

import numpy as np

from simrl.engine.fast import algorithms, batch_arrays, distinct_tasks, rows_of, run_blocks
from simrl.engine.kernels.controllers import extra_update_columns, pack_controls
from simrl.engine.kernels.seq_step import N_UPD_SEQ, run_chunk_seq
from simrl.engine.kernels.workspace import Params, SeqFacts, SeqGraph, SeqLeaves, SeqTasks
from simrl.engine.threads import over_threads
from simrl.tasks.sequence import NO_TOKEN, SequenceTask


def pack_sequence(configs) -> np.ndarray:
    """(R, 3) the per-run fields only the sequence kernels read (seq_sampling.SP_*):
    forking_top_quantile, overlong_factor, overlong_cache."""
    return np.array(
        [
            [c.algo.forking_top_quantile, c.algo.overlong_factor, float(c.algo.overlong_cache)]
            for c in configs
        ],
        dtype=np.float64,
    ).reshape(len(configs), 3)


def task_tuples(task: SequenceTask) -> tuple[SeqGraph, SeqLeaves, SeqFacts]:
    """One task's arrays as the kernels read them (seq_graph, seq_sampling, seq_metrics),
    as the named tuples of kernels/workspace.py, indices as int32 (a smaller working
    set): graph (node_row, node_width, node_prompt,
    node_depth, node_fork, root, pn_ptr, pn_idx, slot, node_next), leaves (leaf_prompt, leaf_len,
    leaf_format, leaf_mode, leaf_det, leaf_answer, leaf_correct, leaf_label) and facts
    (correct, incorrect_label, base_top_mode, base_logp).

    pn_idx[pn_ptr[s] : pn_ptr[s + 1]] are prompt s's nodes in ascending order; slot[n, v]
    is where token v of node n leads (SequenceTask.child): its child node (< N), N + its
    leaf, or N + L beyond the row's width; leaf_det is a leaf's answer when it is certain
    (sequence_ref.sample_response), else -1; leaf_correct and leaf_label are
    E[correct | leaf] and P(incorrect label | leaf), with the expressions of
    tasks.sequence.leaf_expected_reward; node_next[n] is the one slot entry every token of
    node n (within its width) leads to, or -1 if they lead to several."""
    i32 = np.int32
    S, N, L = task.num_prompts, task.num_nodes, task.leaf_prompt.shape[0]
    pn_idx = np.argsort(task.node_prompt, kind="stable")
    pn_ptr = np.r_[0, np.cumsum(np.bincount(task.node_prompt, minlength=S))]
    ends = (task.child < 0) & (task.child != NO_TOKEN)
    slot = np.where(task.child >= 0, task.child, N + L)
    slot[ends] = N - task.child[ends] - 1
    width = task.row_width[task.node_row]
    within = np.arange(slot.shape[1])[None, :] < width[:, None]
    one_place = ((slot == slot[:, :1]) | ~within).all(axis=1) & (width > 0)
    node_next = np.where(one_place, slot[:, 0], -1)
    graph = SeqGraph._make(
        a.astype(i32)
        for a in (
            task.node_row,
            width,
            task.node_prompt,
            task.node_depth,
            task.node_fork,
            task.root,
            pn_ptr,
            pn_idx,
            slot,
            node_next,
        )
    )
    answer = task.leaf_answer
    leaf_det = np.where(answer.max(axis=1) == 1.0, np.argmax(answer, axis=1), -1)
    leaves = SeqLeaves(
        *(
            a.astype(i32)
            for a in (task.leaf_prompt, task.leaf_len, task.leaf_format, task.leaf_mode, leaf_det)
        ),
        np.ascontiguousarray(answer, dtype=np.float64),
        (answer * task.correct[task.leaf_prompt]).sum(axis=1),
        answer[np.arange(L), task.incorrect_label[task.leaf_prompt]].astype(np.float64),
    )
    facts = SeqFacts(
        task.correct.astype(np.bool_),
        task.incorrect_label.astype(i32),
        task.base_top_mode.astype(i32),
        task.log_probs(task.base_logits),
    )
    return graph, leaves, facts


def pack_tasks(tasks: list[SequenceTask]) -> tuple[SeqGraph, SeqLeaves, SeqFacts]:
    """task_tuples of every distinct task, each array stacked over the tasks (the batch's
    tasks share their shapes: batch.check_shared_shapes)."""
    per_task = [task_tuples(t) for t in tasks]
    return tuple(
        type(parts[0])._make(
            np.ascontiguousarray(np.stack(arrays)) for arrays in zip(*parts, strict=True)
        )
        for parts in zip(*per_task, strict=True)
    )


def run_fast_sequence(specs, tasks, layouts, rows, names, progress, audit_prompts=False):
    """Run a batch of sequence-task runs that share a policy loss and an advantage
    estimator on the numba kernels; the same contract as batch._run_reference
    (batch.run_batch splits a batch by them)."""
    from simrl.engine.fast_sampler import chunk_kernel, sampler_arrays
    from simrl.engine.packing import pack

    steps = specs[0].config.run.steps
    passk = np.array(specs[0].config.run.passk, dtype=np.int64)
    unique, task_of_run = distinct_tasks(tasks)
    graphs, leaves, facts = pack_tasks(unique)
    configs = [s.config for s in specs]
    fp, ip, lp, ap, op = pack(configs, layouts)
    sp = pack_sequence(configs)
    z0 = np.stack([t.base_logits for t in unique])[task_of_run]
    n_upd = N_UPD_SEQ + extra_update_columns(configs[0])  # the batch agrees on them
    a, result = batch_arrays(specs, tasks, rows, names, z0, n_upd, audit_prompts)
    max_len, num_modes = unique[0].max_len, unique[0].num_modes

    task_arrays = SeqTasks(
        **graphs._asdict(),
        **leaves._asdict(),
        **facts._asdict(),
        has_format=np.ascontiguousarray(leaves.leaf_format.any(axis=1)),
        max_len=max_len,
        num_modes=num_modes,
    )
    params = Params(fp, ip, sp, lp, ap, op, pack_controls(configs))
    algos = algorithms(specs, "sequence", ip, params.cp)
    # the rollout sampler's arrays, or None (engine/fast_sampler.py)
    samp = sampler_arrays(configs, z0.shape[1:])

    def part(runs: slice, t0: int, n: int) -> None:
        kernel, extra = chunk_kernel(run_chunk_seq, "sequence", samp, runs)
        kernel(
            t0, n, a.row_of_step, a.rng[runs], rows_of(a.learner, runs), rows_of(params, runs),
            algos, task_arrays, task_of_run[runs], passk, rows_of(a.out, runs), *extra,
        )  # fmt: skip

    def advance(runs: slice, t0: int, n: int) -> None:
        over_threads(lambda sub: part(sub, t0, n), runs)

    run_blocks(result, steps, progress, advance)
    return result
