"""Fig. 3: the clipping bias under random rewards."""

from pathlib import Path

from simrl.figs import data, plots
from simrl.figs.runner import Figure, render

FIGURE = Figure(
    name="fig03_clipping_bias",
    studies=("spurious_rewards", "decomposition"),
    caption=(
        "The clipping bias (theory/NOTES.md, Clipping bias): change in the probability mass on "
        "the base policy's most likely mode (sequence) or answer (bandit) under the random "
        "reward, since step 0; 95% t-bands over 64 seeds. Left: spurious_rewards (one mode state "
        "shared by all prompts; sgd 30, 4 epochs; clipped = PPO clip 0.2, unclipped = the pg "
        "surrogate). Right: the bandit of decomposition (every prompt its own states; sgd 0.3; "
        "clipped = 4 epochs with clip 0.2, unclipped = on-policy, 1 epoch), priors 0.8 and 0.2."
    ),
)


def main(out: Path | None = None, root: Path | None = None) -> list[Path]:
    return render(FIGURE, plots.plot_clipping_bias, data.clipping_bias(root), out=out)


if __name__ == "__main__":
    main()
