"""Fig. 6: spurious rewards on the simulator beside the published numbers."""

from pathlib import Path

from simrl.figs import data, plots
from simrl.figs.runner import Figure, render

FIGURE = Figure(
    name="fig06_spurious",
    studies=("spurious_rewards", "reaudits"),
    caption=(
        "Accuracy gain over the frozen base policy (acc_all, percentage points, paired by seed, "
        "95% t-intervals over 64 seeds) per reward, prior and clipping (spurious_rewards: "
        "sequence task, shared mode state). Right: the gains Shao et al. 2025 (Spurious "
        "Rewards, arXiv 2506.10947 v2, abstract) report for Qwen2.5-Math-7B on MATH-500, read "
        "from experiments/reaudits/published.csv (majority vote shown as self-consistency); "
        "published as points, without intervals."
    ),
)


def main(out: Path | None = None, root: Path | None = None) -> list[Path]:
    gains, pub = data.spurious(root)
    return render(FIGURE, plots.plot_spurious, gains, pub, out=out)


if __name__ == "__main__":
    main()
