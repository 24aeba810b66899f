"""Fig. 5: the 2x2x2 factorial as an interaction plot."""

from pathlib import Path

from simrl.figs import data, plots
from simrl.figs.runner import Figure, render

FIGURE = Figure(
    name="fig05_factorial",
    studies=("factorial",),
    caption=(
        "Final accuracy of the 2x2x2 factorial (reward true / self-consistency x regime "
        "clipped / on-policy x prior 0.2 / 0.8; bandit, 64 seeds x 300 steps), cell means with "
        "95% t-intervals over seeds (narrower than the markers here). Non-parallel lines are the interactions tested in "
        "experiments/factorial/report.md."
    ),
)


def main(out: Path | None = None, root: Path | None = None) -> list[Path]:
    return render(
        FIGURE,
        plots.plot_factorial,
        data.factorial(root),
        x="reward",
        trace="regime",
        panel="prior",
        outcome="final accuracy (pass@1)",
        out=out,
    )


if __name__ == "__main__":
    main()
