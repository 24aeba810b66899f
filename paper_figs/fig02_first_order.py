"""Fig. 2: first-order entropy-change approximations against the exact change."""

from pathlib import Path

from simrl.figs import data, plots
from simrl.figs.runner import Figure, render

FIGURE = Figure(
    name="fig02_first_order",
    studies=("first_order_audit",),
    caption=(
        "Exact vs predicted entropy change (first_order_audit: bandit, 32 prompts x 16 answers, "
        "8 step sizes x group 4/16 x epochs 1/4 x prior 0.05/0.3, 32 seeds, 25 steps). Top: "
        "every update's exact change (mean over the states it moved) against each "
        "approximation (theory/NOTES.md: First-order entropy change = Cui et al. 2025 Lemma 1; "
        "Second order; Cui et al.'s Theorems; One token, and STEER's estimates), symlog "
        "axes, coloured by step-size level, dashed y = x. Bottom: each run's median relative "
        "error, mean over runs with 95% t-bands, against the step size, sgd and Adam (with Adam, "
        "Cui Theorem 1 and the sampled-token sum coincide near an error of 1)."
    ),
)


def main(out: Path | None = None, root: Path | None = None) -> list[Path]:
    points, summary = data.first_order(root)
    return render(FIGURE, plots.plot_first_order, points, summary, out=out)


if __name__ == "__main__":
    main()
