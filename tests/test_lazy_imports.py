"""statsmodels, matplotlib, pandas and torch load only where they are used: `import simrl`
loads none of them, and `simrl run` (its whole import path, the fast engine's modules and
a whole run with its summary table) loads none but pandas, which builds and writes the
run's tables. Each check is a fresh interpreter (sys.modules of a subprocess)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]
QUICKSTART = ROOT / "simrl" / "examples" / "quickstart.toml"
NOT_FOR_A_RUN = ("statsmodels", "matplotlib", "torch", "transformers")


def loaded_after(code: str) -> list[str]:
    probe = "\nimport sys\nprint(sorted(m for m in sys.modules if '.' not in m))\n"
    out = subprocess.run(
        [sys.executable, "-c", code + probe],
        capture_output=True, text=True, cwd=ROOT, timeout=600,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    return ast.literal_eval(out.stdout.strip().splitlines()[-1])


def test_import_simrl_loads_no_heavy_library():
    mods = loaded_after("import simrl")
    assert not {*NOT_FOR_A_RUN, "pandas", "numba", "scipy"} & set(mods), mods


def test_the_fast_engines_import_path_loads_no_statistics_figures_or_torch():
    mods = loaded_after(
        "import simrl.cli, simrl.simulate, simrl.summary, simrl.engine.fast, "
        "simrl.engine.fast_sequence, simrl.engine.compile_cost, simrl.dry_run, "
        "simrl.prereg.runner, simrl.prereg.executors, simrl.progress"
    )
    assert not set(NOT_FOR_A_RUN) & set(mods), mods


def test_a_whole_run_with_its_summary_loads_no_statistics_figures_or_torch(tmp_path):
    mods = loaded_after(
        "from simrl.cli import main\n"
        f"assert main(['run', {str(QUICKSTART)!r}, '--engine', 'reference', '--set', "
        f"'run.steps=2', '--set', 'run.seeds=2', '--out', {str(tmp_path / 'r')!r}]) == 0"
    )
    assert not set(NOT_FOR_A_RUN) & set(mods), mods
    assert "pandas" in mods  # what the run's tables are: the check can see a load
