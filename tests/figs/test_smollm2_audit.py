"""simrl/figs/smollm2_audit.py: a missing table names its command; the plot draws any
table of entropy_audit's layout."""

import numpy as np
import pandas as pd
import pytest

from simrl.figs import smollm2_audit
from simrl.figs.data import MissingResults


def test_missing_table_names_the_run_script(tmp_path):
    with pytest.raises(MissingResults, match=r"run\.sh"):
        smollm2_audit.audit_rows(tmp_path)


def test_plot_draws_every_step_size():
    rng = np.random.default_rng(0)
    rows = []
    for lr in (1e-6, 1e-5):
        for j in range(20):
            e = rng.normal() * lr * 1e4
            rows.append({"lr": lr, "probe": j, "visited": j < 6, "dH_exact": e,
                         **{k: e * (1 + 0.1 * rng.normal()) for k in smollm2_audit.PREDICTORS}})  # fmt: skip
    _fig, (ax, bx) = smollm2_audit.plot_smollm2_audit(pd.DataFrame(rows))
    assert len(ax.collections) == 2 and len(bx.patches) == 2 * len(smollm2_audit.PREDICTORS)
