"""Fig. 7: entropy interventions: trajectories and pass@k."""

from pathlib import Path

from simrl.figs import data, plots
from simrl.figs.runner import Figure, render

FIGURE = Figure(
    name="fig07_interventions",
    studies=("entropy_interventions",),
    caption=(
        "Seven GRPO variants and the base policy (entropy_interventions: sequence task with "
        "forking tokens, Adam 0.05, 64 seeds x 200 steps): exact mean token entropy and "
        "accuracy over steps (95% t-bands), and exact pass@k = 1 - (1 - acc)^k per prompt "
        "(theory/NOTES.md, pass@k) at the last step for the stored k = 1, 4, 16, 64, base "
        "dashed: where trained methods fall below the base at large k, RL has narrowed "
        "coverage (Yue et al. 2025, arXiv 2504.13837)."
    ),
)


def main(out: Path | None = None, root: Path | None = None) -> list[Path]:
    traj, passk = data.interventions(root)
    return render(FIGURE, plots.plot_interventions, traj, passk, out=out)


if __name__ == "__main__":
    main()
