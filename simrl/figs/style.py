"""The project's one figure style: column-width sizes, a colour-blind-safe palette, and
fixed colours per method and per reward so that a method looks the same in every figure.

Palette: Okabe & Ito (2008), "Color Universal Design", the eight colours distinguishable
under the common colour-vision deficiencies.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

OKABE_ITO = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky": "#56B4E9",
    "green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
}

#: one colour per method, in every figure
METHOD_COLORS = {
    "vanilla": OKABE_ITO["black"],
    "grpo": OKABE_ITO["black"],
    "clip-higher": OKABE_ITO["orange"],
    "clip_higher": OKABE_ITO["orange"],
    "clip_cov": OKABE_ITO["sky"],
    "kl_cov": OKABE_ITO["blue"],
    "steer": OKABE_ITO["purple"],
    "forking": OKABE_ITO["green"],
    "entropy_bonus": OKABE_ITO["vermillion"],
    "pg": OKABE_ITO["vermillion"],
    "base": "#999999",
    # update regimes: clipped PPO/GRPO as vanilla, unclipped / on-policy as the pg surrogate
    "clipped": OKABE_ITO["black"],
    "on": OKABE_ITO["black"],
    "unclipped": OKABE_ITO["vermillion"],
    "on_policy": OKABE_ITO["vermillion"],
    "off": OKABE_ITO["vermillion"],
}

#: one colour per reward, in every figure
REWARD_COLORS = {
    "true": OKABE_ITO["black"],
    "random": OKABE_ITO["orange"],
    "incorrect": OKABE_ITO["vermillion"],
    "format": OKABE_ITO["purple"],
    "self_consistency": OKABE_ITO["blue"],
    "one_shot": OKABE_ITO["green"],
    "frozen": "#999999",
    "noisy": OKABE_ITO["sky"],
}

#: decomposition terms
TERM_COLORS = {
    "null": "#999999",
    "elicitation": OKABE_ITO["sky"],
    "reward_design": OKABE_ITO["vermillion"],
}

PNG_DPI = 200
COLUMN = 3.4  # inches: one column of a two-column paper
FULL = 7.0  # inches: the full text width

RC = {
    "font.size": 8,
    "axes.titlesize": 8,
    "axes.labelsize": 8,
    "legend.fontsize": 7,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.linewidth": 0.6,
    "lines.linewidth": 1.2,
    "lines.markersize": 3.5,
    "legend.frameon": False,
    "figure.dpi": 150,
    "savefig.dpi": 300,
    "savefig.bbox": "tight",
    "pdf.fonttype": 42,
}


#: how a method's level name reads in a legend (the papers' names)
METHOD_LABELS = {
    "vanilla": "vanilla GRPO",
    "clip_higher": "clip-higher",
    "clip_cov": "Clip-Cov",
    "kl_cov": "KL-Cov",
    "steer": "STEER",
    "forking": "forking tokens (top 20%)",
    "entropy_bonus": "entropy bonus",
    "base": "base policy",
}


def method_label(name: str) -> str:
    """A method's legend label (METHOD_LABELS), else the name with spaces for underscores."""
    return METHOD_LABELS.get(name, str(name).replace("_", " "))


def color(name: str, palette: dict[str, str] | None = None) -> str:
    """The fixed colour of a method or reward; a stable fallback for unknown names."""
    for table in (palette, METHOD_COLORS, REWARD_COLORS, TERM_COLORS):
        if table and name in table:
            return table[name]
    cycle = list(OKABE_ITO.values())[1:]
    return cycle[sum(map(ord, name)) % len(cycle)]


@contextmanager
def style():
    """Apply the project's rcParams for the figures made inside the block."""
    with plt.rc_context(RC):
        yield


def save(fig, out_dir: str | Path, name: str) -> list[Path]:
    """Write `name`.pdf and `name`.png into out_dir; returns the paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{name}.pdf", out_dir / f"{name}.png"]
    for p in paths:
        # the PNG is the README's preview (committed, so kept small); the PDF is for print
        fig.savefig(p, dpi=PNG_DPI if p.suffix == ".png" else None)
    plt.close(fig)
    return paths
