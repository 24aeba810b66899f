"""The lock: registration, refusal of a second one, tamper detection naming the hashes, amendments."""

import hashlib
import json

import pytest

from simrl.errors import ConfigError
from simrl.prereg.lock import LOCK_FILE, amend, check, register
from simrl.prereg.runner import run_study


def sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_register_writes_hash_version_commit_and_time(tiny):
    lock = register(tiny)
    saved = json.loads((tiny / LOCK_FILE).read_text())
    assert saved == lock
    assert lock["spec_sha256"] == sha(tiny / "prereg.toml")
    assert lock["spec_text"] == (tiny / "prereg.toml").read_text()
    assert lock["simrl_version"] and lock["registered_utc"].endswith("Z")
    assert "git_commit" in lock and lock["amendments"] == []
    assert check(tiny) == lock


def test_registering_twice_is_refused(tiny):
    register(tiny)
    before = (tiny / LOCK_FILE).read_text()
    with pytest.raises(ConfigError, match="already registered"):
        register(tiny)
    assert (tiny / LOCK_FILE).read_text() == before


def test_an_unregistered_study_does_not_run(tiny):
    with pytest.raises(ConfigError, match="not registered"):
        run_study(tiny)
    assert not (tiny / "results").exists()


def test_an_edited_spec_is_refused_naming_both_hashes(tiny):
    lock = register(tiny)
    spec = tiny / "prereg.toml"
    spec.write_text(spec.read_text().replace("seeds = 12", "seeds = 13"))
    with pytest.raises(ConfigError) as e:
        run_study(tiny)
    msg = str(e.value)
    assert lock["spec_sha256"] in msg and sha(spec) in msg
    assert "--amend" in msg
    assert not (tiny / "results").exists()
    # even a comment is a change: the hash is of the bytes
    spec.write_text(lock["spec_text"] + "# a comment\n")
    with pytest.raises(ConfigError, match=lock["spec_sha256"]):
        check(tiny)


def test_an_amendment_is_recorded_with_reason_and_diff(tiny):
    lock = register(tiny)
    spec = tiny / "prereg.toml"
    spec.write_text(spec.read_text().replace("seeds = 12", "seeds = 16"))
    amended = amend(tiny, "more seeds: the pilot's variance was larger than planned")
    (am,) = amended["amendments"]
    assert am["reason"].startswith("more seeds")
    assert am["previous_sha256"] == lock["spec_sha256"] and am["spec_sha256"] == sha(spec)
    assert "-seeds = 12" in am["diff"] and "+seeds = 16" in am["diff"]
    assert amended["spec_sha256"] == lock["spec_sha256"]  # the original registration stays
    assert check(tiny)["amendments"][0]["reason"] == am["reason"]
    with pytest.raises(ConfigError, match="unchanged"):
        amend(tiny, "again")
    with pytest.raises(ConfigError, match="reason"):
        amend(tiny, "  ")


def test_amending_an_unregistered_study_is_refused(tiny):
    with pytest.raises(ConfigError, match="not registered"):
        amend(tiny, "why")


def test_an_invalid_spec_is_never_registered(tiny):
    spec = tiny / "prereg.toml"
    spec.write_text(spec.read_text().replace("seeds = 12", "seeds = 0"))
    with pytest.raises(ConfigError, match=r"design\.seeds"):
        register(tiny)
    assert not (tiny / LOCK_FILE).exists()
