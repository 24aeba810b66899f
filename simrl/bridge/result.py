"""A bridge run's result: metrics at every eval row, the final row per seed, the audit.

The same layout as `simrl run` (simrl/simulate.py): `metrics` (seed, step, metric columns),
`final` (seed, failed_step, the last step's metrics), plus the per-probe audit table.
"""

from __future__ import annotations

import json
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
    #: (seed, step) -> the eval completions kept at that eval row (run.SAMPLE_PROMPTS
    #: training prompts, every eval sample): seed, step, prompt, question, truth, sample,
    #: completion, answer, correct, mode
    samples: dict = field(default_factory=dict)
    #: seed -> (final policy, tokenizer), with run_bridge(..., keep_models=True)
    models: dict = field(default_factory=dict)

    def summary(self, columns: list[str] | None = None) -> pd.DataFrame:
        return summarize_final(self.final, columns)

    def save(self, out: str | Path) -> None:
        """metrics.parquet, final.parquet, config.toml (+ audit.parquet), and one
        samples/seed<S>_step<T>.jsonl per eval row (JSON lines), and with kept models a
        checkpoints/seed<S>/ folder each (the model's save_pretrained and its tokenizer;
        the tiny model's tokenizer is simrl's character tokenizer), each written atomically."""
        out = Path(out)
        io.write_parquet(out / "metrics.parquet", self.metrics)
        io.write_parquet(out / "final.parquet", self.final)
        io.write_text(out / "config.toml", self.config.to_toml())
        if self.audit is not None:
            io.write_parquet(out / "audit.parquet", self.audit)
        for (seed, step), rows in sorted(self.samples.items()):
            text = "".join(json.dumps(row) + "\n" for row in rows)
            io.write_text(out / "samples" / f"seed{seed}_step{step:05d}.jsonl", text)
        for seed, (model, tok) in sorted(self.models.items()):
            with io.atomic_dir(out / "checkpoints" / f"seed{seed}", force=True) as tmp:
                model.save_pretrained(tmp)
                (tok.save_pretrained if hasattr(tok, "save_pretrained") else tok.save)(tmp)
