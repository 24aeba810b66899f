"""TensorBoard scalars written by hand (simrl/tblog.py) round-trip, and their bytes equal
what tensorboard's own writer writes.

tests/data/tb_reference.events was written by tensorboard 2.21.0's RecordWriter
(tensorboard/summary/writer/record_writer.py) with its event_pb2 / summary_pb2 protos:
a file_version Event ("brain.Event:2"), then Events at steps 0, 5 and 300 carrying
SCALARS, every wall_time 1765000000.25:
RecordWriter(f).write(event_pb2.Event(wall_time=WT, step=s, summary=summary_pb2.Summary(
value=[summary_pb2.Summary.Value(tag=t, simple_value=v), ...])).SerializeToString()).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from simrl import tblog

REFERENCE = Path(__file__).parent / "data" / "tb_reference.events"
WALL = 1765000000.25
SCALARS = [
    (0, [("acc", 0.125), ("entropy_mean", 2.0794415)]),
    (5, [("acc", 0.5), ("dH_exact", -0.03125)]),
    (300, [("acc", 0.875)]),
]


def test_crc32c_check_value():
    # the CRC-32C (Castagnoli) check value of "123456789" (RFC 3720 B.4; crc catalogue)
    assert tblog.crc32c(b"123456789") == 0xE3069283
    assert tblog.crc32c(b"") == 0


def test_bytes_equal_tensorboards_own_writer():
    assert tblog.event_bytes(SCALARS, WALL) == REFERENCE.read_bytes()


def test_reference_file_reads_back():
    got = tblog.read_scalars(REFERENCE)
    assert got["acc"] == [(0, 0.125), (5, 0.5), (300, 0.875)]
    assert got["dH_exact"] == [(5, -0.03125)]
    assert got["entropy_mean"][0][1] == pytest.approx(2.0794415, rel=1e-7)


def test_a_corrupted_file_is_refused():
    data = bytearray(REFERENCE.read_bytes())
    data[40] ^= 0x01
    with pytest.raises(ValueError, match="CRC"):
        tblog.records(bytes(data))


def metrics_frame() -> pd.DataFrame:
    rows = []
    for seed in range(2):
        for step in (0, 5, 10):
            rows.append(
                {
                    "seed": seed,
                    "step": step,
                    "acc": 0.1 + 0.03 * step + seed / 7,
                    "dH_exact": np.nan if step == 0 else -0.01 * step - seed,
                }
            )
    return pd.DataFrame(rows)


def test_metrics_round_trip(tmp_path):
    m = metrics_frame()
    paths = tblog.write_metrics(tmp_path, m, wall_time=WALL)
    assert [p.parent.name for p in paths] == ["seed_0", "seed_1"]
    for seed, path in enumerate(paths):
        got = tblog.read_scalars(path)
        want = m[m["seed"] == seed]
        assert [s for s, _ in got["acc"]] == [0, 5, 10]
        np.testing.assert_array_equal([v for _, v in got["acc"]], want["acc"].to_numpy(np.float32))
        assert [s for s, _ in got["dH_exact"]] == [5, 10]  # NaN left out


@pytest.mark.skipif(
    importlib.util.find_spec("tensorboard") is None, reason="tensorboard is not installed"
)
def test_tensorboard_reads_them(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    path = tblog.write_metrics(tmp_path, metrics_frame(), wall_time=WALL)[0]
    acc = EventAccumulator(str(path.parent))
    acc.Reload()
    assert [e.step for e in acc.Scalars("acc")] == [0, 5, 10]
    assert acc.Scalars("acc")[1].value == pytest.approx(0.25, rel=1e-6)
