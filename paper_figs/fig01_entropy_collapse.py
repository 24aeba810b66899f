"""Fig. 1: entropy collapse under GRPO, with the entropy-performance law fitted."""

from pathlib import Path

from simrl.figs import data, plots
from simrl.figs.runner import Figure, render

FIGURE = Figure(
    name="fig01_entropy_collapse",
    studies=("entropy_interventions",),
    caption=(
        "Entropy collapse under GRPO (vanilla arm of entropy_interventions: sequence task, "
        "clip 0.2/0.2, Adam 0.05, 64 seeds). Left and middle: exact mean token entropy and "
        "accuracy over steps (95% t-bands over seeds). Right: accuracy against entropy at each "
        "recorded step (seed means) with R = -a exp(H) + b fitted (Cui et al. 2025, arXiv "
        "2505.22617, Eq. 1; theory/laws.py) and its predicted ceiling R* = b - a at H = 0 "
        "(star; 95% interval in the legend)."
    ),
)


def main(out: Path | None = None, root: Path | None = None) -> list[Path]:
    return render(FIGURE, plots.plot_entropy_collapse, data.entropy_collapse(root), out=out)


if __name__ == "__main__":
    main()
