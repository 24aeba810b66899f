"""README's algorithm table lists every registered algorithm and recipe with its source
(simrl/algorithm_table.py generates it from the registries)."""

from simrl import algorithm_table as t
from simrl.algorithms.advantages import ADVANTAGES
from simrl.algorithms.aggregations import AGGREGATIONS
from simrl.algorithms.kl_estimators import KL_ESTIMATORS
from simrl.algorithms.losses import POLICY_LOSSES
from simrl.algorithms.optimisers import OPTIMIZERS
from simrl.algorithms.rewards import REWARDS
from simrl.recipes import RECIPES


def test_readme_table_matches_the_registries():
    block = t.current(t.README.read_text())
    assert block is not None, "README.md lost its algorithm-table markers"
    assert block == t.markdown(), "stale: run python -m simrl.algorithm_table"


def test_every_registered_name_has_a_row_with_a_source():
    settings = {row[1]: row for row in t.rows()}
    for field, names in (
        ("algo.loss", POLICY_LOSSES.names),
        ("algo.advantage", ADVANTAGES.names),
        ("algo.kl_kind", KL_ESTIMATORS.names),
        ("algo.agg", AGGREGATIONS.names),
        ("optim.kind", OPTIMIZERS.names),
        ("reward.kind", REWARDS.names),
        ("algo.recipe", tuple(RECIPES)),
    ):
        for name in names:
            row = settings[f"`{field} = {name}`"]
            assert row[3].strip(), (field, name)
    assert len(settings) == len(t.rows())


def test_check_command_detects_a_stale_table(tmp_path, monkeypatch):
    readme = tmp_path / "README.md"
    readme.write_text("x\n" + t.markdown().replace("| vanilla", "| vanila", 1) + "\ny\n")
    monkeypatch.setattr(t, "README", readme)
    assert t.main(["--check"]) == 1
    assert t.main([]) == 0
    assert t.main(["--check"]) == 0
    assert readme.read_text().startswith("x\n") and readme.read_text().endswith("\ny\n")
