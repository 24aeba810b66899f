"""The registered analysis, rehearsed at registration on a synthetic table.

A formula statsmodels cannot fit, an anova term the model has no row for, a hypothesis
whose `where` selects nothing: each would otherwise surface only in `analyze`, after the
grid ran. `rehearse` builds, for every cell, a synthetic cell file with exactly the
columns the engine stores (seed, step, failed_step and the study's metric columns at the
recorded steps, values drawn uniform in (0.05, 0.95) from a fixed seed), derives the
outcomes with the same code `analyze` uses (outcomes.cell_outcomes), and runs every
registered hypothesis, the model fits, the decomposition and the additive rule once. The
numbers mean nothing; an exception is a ConfigError naming what failed. Bootstrap sizes
and seeds are capped for the rehearsal (the registered n_boot is range-checked by the
spec).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from simrl.engine.batch import record_steps
from simrl.errors import ConfigError
from simrl.prereg.factors import available_metrics
from simrl.prereg.grid import expand
from simrl.prereg.study import Study

#: bootstrap replicates and seeds in the rehearsal (the numbers are thrown away; the
#: columns, cells and levels are the study's own)
REHEARSAL_BOOT, REHEARSAL_SEEDS = 100, 8


def synthetic_results(study: Study) -> tuple[pd.DataFrame, list]:
    """The results table `collect` would build, from synthetic cell files."""
    from simrl.prereg.outcomes import cell_outcomes, needed_outcomes

    rng = np.random.default_rng(0)
    steps = record_steps(study.steps, study.eval_every)
    names = needed_outcomes(study)
    cells = expand(study)
    frames = []
    for c in cells:
        metrics = study.metrics or available_metrics(c.config)
        n = study.seeds * len(steps)
        df = pd.DataFrame({m: rng.uniform(0.05, 0.95, n) for m in metrics})
        df.insert(0, "failed_step", np.full(n, -1, dtype=np.int64))
        df.insert(0, "step", np.tile(steps, study.seeds).astype(np.int64))
        df.insert(0, "seed", np.repeat(np.arange(study.seeds), len(steps)).astype(np.int64))
        frames.append(cell_outcomes(study, c, df, names))
    out = pd.concat(frames, ignore_index=True)
    for f in study.factors:
        out[f.name] = pd.Categorical(out[f.name], categories=list(f.labels))
    return out, cells


def _fail(where: str, what: object, e: Exception) -> ConfigError:
    return ConfigError(
        where,
        what,
        f"the registered analysis fails on a synthetic table with the study's columns "
        f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})",
    )


def rehearse(study: Study) -> None:
    """Run the whole registered analysis once on synthetic data; ConfigError on failure."""
    import warnings

    from simrl.prereg.analysis import additive_rule, fit_models, run_hypothesis
    from simrl.prereg.outcomes import decomposition_terms

    small = replace(
        study,
        n_boot=min(study.n_boot, REHEARSAL_BOOT),
        seeds=min(study.seeds, REHEARSAL_SEEDS),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # synthetic noise: perfect fits, singular designs
        try:
            results, cells = synthetic_results(small)
        except ConfigError:
            raise
        except Exception as e:
            raise _fail("outcomes", list(study.outcomes), e) from None
        decomp = None
        if small.decomposition is not None:
            try:
                decomp = decomposition_terms(small, results)
            except Exception as e:
                raise _fail("decomposition", small.decomposition.factor, e) from None
        for h in small.hypotheses:
            try:
                run_hypothesis(small, h, results, decomp, cells)
            except ConfigError:
                raise
            except Exception as e:
                raise _fail(f"hypothesis {h.id}", h.term or h.outcome, e) from None
        try:
            fit_models(replace(small, mixed=False), results)
        except Exception as e:
            raise _fail("analysis.model", small.model, e) from None
        try:
            additive_rule(small, results)
        except Exception as e:
            raise _fail("analysis.additive", small.additive, e) from None
