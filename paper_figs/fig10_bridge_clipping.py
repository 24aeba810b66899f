"""Fig. 10: clipping on / off where clipping binds, the transformer beside the simulator."""

from pathlib import Path

from simrl.figs import data, plots
from simrl.figs.runner import Figure, render

FIGURE = Figure(
    name="fig10_bridge_clipping",
    studies=("bridge_clipping",),
    caption=(
        "Clipping on (PPO clip 0.2/0.2) against off (the unclipped surrogate), 4 epochs, where "
        "clipping binds, on the tiny transformer (bridge_clipping: token-level GRPO via "
        "simrl/bridge, Adam 1e-3, 4 prompts x 4 completions, 16 seeds x 50 steps, prior mix "
        "0.8 = strong, 0.2 = weak) beside the simulator's registered prediction (the sequence "
        "task of spurious_rewards at the same batch shape, sgd 30, 64 seeds; "
        "experiments/bridge_clipping/simulator.csv). Each row is a paired contrast of a run's "
        "change since step 0 (accuracy over all problems, the base model's top-mode mass, "
        "mean token entropy), with 95% t-intervals over seeds."
    ),
)


def main(out: Path | None = None, root: Path | None = None) -> list[Path]:
    return render(FIGURE, plots.plot_bridge_clipping, data.bridge_clipping(root), out=out)


if __name__ == "__main__":
    main()
