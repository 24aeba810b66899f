"""Fig. 9: the same contrasts on the transformer and on the simulator."""

from pathlib import Path

from simrl.figs import data, plots
from simrl.figs.runner import Figure, render

FIGURE = Figure(
    name="fig09_bridge_vs_sim",
    studies=("bridge_replay", "spurious_rewards"),
    caption=(
        "The same paired contrasts of final accuracy (percentage points, 95% t-intervals over "
        "seeds) on the simulator (spurious_rewards, sequence task) and on the tiny transformer "
        "(bridge_replay: token-level GRPO via simrl/bridge on the locally pretrained Llama, "
        "prior mix 0.8 = strong, 0.2 = weak). Clipped = 4 epochs with clip 0.2 (the bridge's "
        "clipped regime), unclipped = on-policy pg. The simulator has 64 seeds, the "
        "transformer 5 seeds x 5 steps: compare signs and orders, not interval widths."
    ),
)


def main(out: Path | None = None, root: Path | None = None) -> list[Path]:
    return render(FIGURE, plots.plot_bridge_vs_sim, data.bridge_vs_sim(root), out=out)


if __name__ == "__main__":
    main()
