"""A cell's identity (simrl/prereg/identity.py): every shipped study's stored cells keep
their keys and config hashes as fields are added, and a new field enters a key only when
a study sets it."""

from pathlib import Path

import pytest

from simrl.config import Config
from simrl.prereg.grid import cell_key, expand
from simrl.prereg.identity import KEYED_FIELDS, identity_toml
from simrl.prereg.spec import load_study
from simrl.prereg.store import Store

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted(
    p.parent.name
    for p in (ROOT / "experiments").glob("*/prereg.toml")
    if (p.parent / "results" / "manifest.json").is_file()
)


def test_there_are_shipped_studies():
    assert len(SHIPPED) >= 7, SHIPPED


@pytest.mark.parametrize("name", SHIPPED)
def test_a_shipped_study_finds_every_stored_cell_by_its_key(name):
    study = load_study(ROOT / "experiments" / name)
    cells = expand(study)
    store = Store(study.path)
    assert store.missing(cells) == []
    assert store.check_cells(cells) == {}  # sha256, config hash, readable, columns


def test_a_new_field_enters_the_identity_only_when_set():
    new = "algo.tau_pos"  # SAPO's, added after the shipped studies were keyed
    assert new not in KEYED_FIELDS
    base = Config.from_dict({})
    assert "\ntau_pos = " in base.to_toml()  # a saved config.toml lists it
    assert "\ntau_pos = " not in identity_toml(base)  # its identity does not
    changed = base.replace(**{new: 2.0})
    assert "\ntau_pos = 2.0" in identity_toml(changed)
    assert cell_key(changed, "fast") != cell_key(base, "fast")


def test_a_keyed_field_always_enters():
    base = Config.from_dict({})
    assert "\nclip_low = 0.2\n" in identity_toml(base)  # at its default, still there
