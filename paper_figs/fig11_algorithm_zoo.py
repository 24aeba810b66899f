"""Fig. 11: the algorithm zoo under the random reward: accuracy and entropy change per algorithm."""

from pathlib import Path

from simrl.figs import zoo
from simrl.figs.runner import Figure, render

FIGURE = Figure(
    name="fig11_algorithm_zoo",
    studies=("algorithm_zoo",),
    caption=(
        "Every policy loss of simrl's registry (with grpo) and the advantage rules (adv_*, with "
        "the PPO clip) under the random reward (algorithm_zoo: bandit of 16 prompts x 4 answers, "
        "sgd 4, and the sequence task of spurious_rewards, sgd 30; 4 epochs, group 8, 64 seeds x "
        "200 steps): change of accuracy (top) and of mean token entropy (bottom) since step 0, "
        "mean and 95% t-interval over seeds, per task and prior (weak 0.2, strong 0.8). Colour: "
        "the registered prediction at the strong prior (theory/NOTES.md, Clipping bias, "
        "generalised): up for rules with a sign-dependent trust region, down for rules without "
        "one and for negative-only reinforcement."
    ),
)


def main(out: Path | None = None, root: Path | None = None) -> list[Path]:
    return render(FIGURE, zoo.plot_zoo, zoo.zoo_changes(root), out=out)


if __name__ == "__main__":
    main()
