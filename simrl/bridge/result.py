"""A bridge run's result: metrics at every eval row, the final row per seed, the audit.

The same layout as `simrl run` (simrl/simulate.py): `metrics` (seed, step, metric columns),
`final` (seed, failed_step, the last step's metrics), plus the per-probe audit table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from simrl import io
from simrl.bridge.config import BridgeRunConfig
from simrl.simulate import summarize_final


@dataclass
class BridgeResult:
    config: BridgeRunConfig
    metrics: pd.DataFrame  # seed, step, metrics
    final: pd.DataFrame  # seed, failed_step, metrics at the last step
    audit: pd.DataFrame | None  # seed, step, probe, kind, PROBE_COLUMNS (every update)
    meta: dict = field(default_factory=dict)

    def summary(self, columns: list[str] | None = None) -> pd.DataFrame:
        return summarize_final(self.final, columns)

    def save(self, out: str | Path) -> None:
        """metrics.parquet, final.parquet, config.toml (+ audit.parquet), each atomic."""
        out = Path(out)
        io.write_parquet(out / "metrics.parquet", self.metrics)
        io.write_parquet(out / "final.parquet", self.final)
        io.write_text(out / "config.toml", self.config.to_toml())
        if self.audit is not None:
            io.write_parquet(out / "audit.parquet", self.audit)
