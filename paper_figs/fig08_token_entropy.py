"""Fig. 8: the token-entropy distribution, by position, and the forking tokens."""

from pathlib import Path

from simrl.figs import data, plots
from simrl.figs.runner import Figure, render

FIGURE = Figure(
    name="fig08_token_entropy",
    studies=("token_entropy",),
    caption=(
        "Where the entropy sits (token_entropy study: the entropy_interventions task, base, "
        "vanilla GRPO and training only the top-20% entropy tokens, Wang et al. 2025, arXiv "
        "2506.01939; 64 seeds x 200 steps). Left: share of generated tokens whose state entropy "
        "exceeds 0.5 and 1 nats (exact, weighted by visit probability). Middle: mean entropy by "
        "position at the base policy and after training, forking positions shaded. Right: the "
        "forking tokens' share of the gradient magnitude. 95% t-intervals over seeds."
    ),
)


def main(out: Path | None = None, root: Path | None = None) -> list[Path]:
    cells, forks = data.token_entropy(root)
    return render(FIGURE, plots.plot_token_entropy, cells, forks=forks, out=out)


if __name__ == "__main__":
    main()
