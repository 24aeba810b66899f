"""prereg.toml: what parses, and bad input refused naming the field, the value and what is allowed."""

import pytest

from simrl.errors import ConfigError
from simrl.prereg.grid import expand, units
from simrl.prereg.spec import load_study
from tests.prereg.conftest import TINY, write_study


def test_tiny_study_parses_into_a_paired_grid(tiny):
    study = load_study(tiny)
    assert study.factor_names == ("reward", "lr", "instance")
    assert study.cell_count() == 16
    assert study.factor("lr").numeric and study.factor("lr").labels == ("0.25", "1.0")
    cells = expand(study)
    assert len({c.key for c in cells}) == 16
    # paired: every cell runs replicates 0..seeds-1 from the same root seed
    assert {(c.config.run.seeds, c.config.run.seed) for c in cells} == {(12, 0)}
    assert all(c.config.run.on_nonfinite == "record" for c in cells)
    # one shape: a single engine call, or one per worker
    assert len(units(study, cells, workers=1)) == 1
    assert len(units(study, cells, workers=2)) == 2
    assert sum(u.runs for u in units(study, cells, runs_per_unit=24)) == 16 * 12


def test_a_cell_key_changes_with_its_config(tmp_path):
    a = expand(load_study(write_study(tmp_path, "a")))
    b = expand(
        load_study(
            write_study(
                tmp_path, "b", TINY.replace("steps = 40", "steps = 60").format(absent_sesoi=0.05)
            )
        )
    )
    assert not {c.key for c in a} & {c.key for c in b}


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("seeds = 12", "seeds = 1", "design.seeds"),
        ("eval_every = 20", "eval_every = 20\nevall = 3", "design.evall"),
        ('field = "optim.lr"', 'field = "optim.learning_rate"', "optim.learning_rate"),
        ("levels = [0.25, 1.0]", "levels = [0.25, -1.0]", "optim.lr"),
        ('field = "task.seed"', 'field = "optim.lr"', "factor.instance"),
        ('"acc@20"', '"acc@30"', "outcomes.secondary"),
        ('"entropy_mean"', '"entropy_meen"', "outcomes.secondary"),
        ('contrast = ["1.0", "0.25"]', 'contrast = ["1.0", "2.0"]', "hypothesis planted.contrast"),
        (
            'direction = "greater"\nsesoi = 0.02',
            'direction = "up"\nsesoi = 0.02',
            "hypothesis planted.direction",
        ),
        (
            'test = "paired"\nfactor = "lr"',
            'test = "ttest"\nfactor = "lr"',
            "hypothesis planted.test",
        ),
        ("sesoi = 0.02", "alpha = 0.05", "hypothesis planted.sesoi"),
        ('anchor = "self_consistency"', 'anchor = "majority"', "decomposition.conditions.anchor"),
        ("sesoi = 0.02", 'sesoi = 0.02\neach = "lr"', "hypothesis planted.each"),
        ("sesoi = 0.02", 'sesoi = 0.02\nfactor2 = "lr"', "hypothesis planted.factor2"),
        ("sesoi = 0.02", 'sesoi = 0.02\nfactor2 = "instance"', "hypothesis planted.contrast2"),
        ('C(instance, Sum)"', 'C(instanse, Sum)"', "analysis.model"),
        ('kind = "bandit"', 'kind = "bandit", steps = 3', "task.steps"),
    ],
)
def test_bad_specs_are_refused_naming_the_field(tmp_path, old, new, field):
    text = TINY.format(absent_sesoi=0.05)
    assert old in text, old
    with pytest.raises(ConfigError) as e:
        load_study(write_study(tmp_path, text=text.replace(old, new, 1)))
    assert e.value.field == field, str(e.value)


def test_a_bad_cell_is_named(tmp_path):
    text = TINY.format(absent_sesoi=0.05).replace(
        "levels = [0, 1]",
        'levels = [0, 1]\n\n[[factor]]\nname = "fmt"\nfield = "task.format_mass"\nlevels = [0.0, 0.7]',
    )
    with pytest.raises(ConfigError, match="in cell reward=frozen"):
        load_study(write_study(tmp_path, text=text))


def test_unknown_study_is_refused(tmp_path):
    with pytest.raises(ConfigError) as e:
        load_study(tmp_path / "nope")
    assert e.value.field == "study"


@pytest.mark.parametrize(
    "algo",
    [
        'algo = {{ group_size = 8, loss = "vanilla", epochs = 2, temperature = 0.7 }}\npolicy = {{ kind = "linear" }}',
        'algo = {{ group_size = 8, loss = "vanilla", epochs = 2, entropy_adaptive = true }}\npolicy = {{ kind = "linear" }}',
    ],
    ids=["sampler", "controller"],
)  # fmt: skip
def test_a_linear_cell_with_a_sampler_or_a_controller_registers_on_the_fast_engine(tmp_path, algo):
    """The numba engine's linear policy has the rollout sampler and the controllers
    (kernels/linear_sampler.py, kernels/linear_audit.py): such a cell is not refused at
    register (it once was, naming design.engine)."""
    text = TINY.replace('algo = {{ group_size = 8, loss = "vanilla", epochs = 2 }}', algo)
    assert load_study(write_study(tmp_path, text=text.format(absent_sesoi=0.05))).cells


def test_a_controller_runs_on_the_fast_engine(tmp_path):
    """The controllers run on the numba engine (kernels/controllers.py): such a cell loads
    with the default engine."""
    algo = 'algo = {{ group_size = 8, loss = "vanilla", epochs = 2, entropy_adaptive = true }}'
    text = TINY.replace('algo = {{ group_size = 8, loss = "vanilla", epochs = 2 }}', algo)
    assert load_study(write_study(tmp_path, text=text.format(absent_sesoi=0.05))).cells


def test_a_tabular_rollout_sampler_registers_on_the_fast_engine(tmp_path):
    """The numba engine has the rollout sampler for tabular policies
    (kernels/rollout_sampler.py): such a cell is not refused at register."""
    old = 'algo = {{ group_size = 8, loss = "vanilla", epochs = 2 }}'
    new = 'algo = {{ group_size = 8, loss = "vanilla", epochs = 2, top_p = 0.8, staleness = 1 }}'
    text = TINY.replace(old, new).format(absent_sesoi=0.05)
    assert load_study(write_study(tmp_path, text=text)).cells
