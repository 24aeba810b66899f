"""TensorBoard scalars, written (and read back) without tensorboard installed.

An event file is a TFRecord stream of `Event` protocol buffers:

- TFRecord framing (tensorflow/core/lib/io/record_writer.cc, RecordWriter::WriteRecord):
  uint64 little-endian length, uint32 masked CRC-32C of those 8 bytes, the data, uint32
  masked CRC-32C of the data; the mask (tensorflow/core/lib/hash/crc32c.h, Mask) is
  ((crc >> 15) | (crc << 17)) + 0xa282ead8 mod 2**32.
- Event (tensorflow/core/util/event.proto): wall_time = 1 (double), step = 2 (int64),
  file_version = 3 (string, "brain.Event:2" in the first record), summary = 5 (Summary);
  Summary (tensorflow/core/framework/summary.proto): repeated Value value = 1; Value:
  tag = 1 (string), simple_value = 2 (float). Protocol-buffer wire format:
  https://protobuf.dev/programming-guides/encoding/.

tests/test_tblog.py checks the bytes against a file written by tensorboard 2.21's own
writer (tests/data/tb_reference.events) and, where tensorboard is installed, reads ours
with its EventAccumulator. `read_scalars` parses only what `write` writes.
"""

from __future__ import annotations

import os
import socket
import struct
import time
from pathlib import Path

from simrl import io


def _crc32c_table() -> list[int]:
    table = []
    for i in range(256):
        c = i
        for _ in range(8):  # reflected Castagnoli polynomial 0x1EDC6F41 -> 0x82F63B78
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    c = 0xFFFFFFFF
    for b in data:
        c = _TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def masked_crc(data: bytes) -> int:
    c = crc32c(data)
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def record(data: bytes) -> bytes:
    """One TFRecord: length, its masked CRC, the data, its masked CRC."""
    n = struct.pack("<Q", len(data))
    return n + struct.pack("<I", masked_crc(n)) + data + struct.pack("<I", masked_crc(data))


def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1  # int64 as protobuf encodes a negative: ten bytes
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _field_bytes(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def event(wall_time: float, step: int = 0, *, version: str = "", scalars=()) -> bytes:
    """An Event: wall_time, step, and file_version or a Summary of (tag, value) scalars."""
    out = bytearray(b"\x09" + struct.pack("<d", wall_time))
    if step:
        out += b"\x10" + _varint(step)
    if version:
        out += _field_bytes(3, version.encode())
    if scalars:
        values = b"".join(
            _field_bytes(1, _field_bytes(1, tag.encode()) + b"\x15" + struct.pack("<f", value))
            for tag, value in scalars
        )
        out += _field_bytes(5, values)
    return bytes(out)


def event_bytes(rows, wall_time: float) -> bytes:
    """The whole file: the version record, then one Event per (step, [(tag, value), ...])."""
    out = [record(event(wall_time, version="brain.Event:2"))]
    out += [record(event(wall_time, step, scalars=scalars)) for step, scalars in rows]
    return b"".join(out)


def write(folder: Path, rows, wall_time: float | None = None) -> Path:
    """Write `rows` (step, [(tag, value), ...]) as one event file in `folder` (atomically);
    the name follows TensorBoard's (events.out.tfevents.<time>.<host>)."""
    wall_time = time.time() if wall_time is None else wall_time
    name = f"events.out.tfevents.{int(wall_time)}.{socket.gethostname()}.{os.getpid()}.0"
    path = Path(folder) / name
    io.write_bytes(path, event_bytes(rows, wall_time))
    return path


def write_metrics(folder: Path, metrics, wall_time: float | None = None) -> list[Path]:
    """A run's tidy metrics (seed, step, columns) as scalars: one subfolder per seed
    (seed_0, seed_1, ...: TensorBoard's runs), a tag per finite metric value."""
    paths = []
    cols = [c for c in metrics.columns if c not in ("seed", "step", "run")]
    for seed, m in metrics.groupby("seed", sort=True):
        rows = []
        for _, row in m.sort_values("step").iterrows():
            vals = [(c, float(row[c])) for c in cols if row[c] == row[c]]  # NaN left out
            rows.append((int(row["step"]), vals))
        paths.append(write(Path(folder) / f"seed_{int(seed)}", rows, wall_time))
    return paths


# ---- reading (what `write` writes; a check, not a general parser) ------------------------


def _read_varint(b: bytes, i: int) -> tuple[int, int]:
    shift = n = 0
    while True:
        c = b[i]
        n |= (c & 0x7F) << shift
        i += 1
        if not c & 0x80:
            return n, i
        shift += 7


def _fields(b: bytes):
    i = 0
    while i < len(b):
        key, i = _read_varint(b, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            v, i = _read_varint(b, i)
        elif wire == 1:
            v, i = b[i : i + 8], i + 8
        elif wire == 5:
            v, i = b[i : i + 4], i + 4
        elif wire == 2:
            n, i = _read_varint(b, i)
            v, i = b[i : i + n], i + n
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield number, v


def records(data: bytes) -> list[bytes]:
    """The TFRecords of an event file, each CRC checked (ValueError on a mismatch)."""
    out, i = [], 0
    while i < len(data):
        head = data[i : i + 8]
        (n,) = struct.unpack("<Q", head)
        (hc,) = struct.unpack("<I", data[i + 8 : i + 12])
        body = data[i + 12 : i + 12 + n]
        (bc,) = struct.unpack("<I", data[i + 12 + n : i + 16 + n])
        if hc != masked_crc(head) or bc != masked_crc(body):
            raise ValueError(f"event file: CRC mismatch in the record at byte {i}")
        out.append(body)
        i += 16 + n
    return out


def read_scalars(path: Path) -> dict[str, list[tuple[int, float]]]:
    """tag -> [(step, value), ...] of an event file."""
    out: dict[str, list[tuple[int, float]]] = {}
    for body in records(Path(path).read_bytes()):
        step, summary = 0, b""
        for number, v in _fields(body):
            if number == 2:
                step = v
            elif number == 5:
                summary = v
        for number, value in _fields(summary):
            if number != 1:
                continue
            tag, x = "", float("nan")
            for k, v in _fields(value):
                if k == 1:
                    tag = v.decode()
                elif k == 2:
                    (x,) = struct.unpack("<f", v)
            out.setdefault(tag, []).append((step, x))
    return out
