"""Fig. 13: entropy collapse spreading to held-out prompts through shared parameters."""

from pathlib import Path

from simrl.figs import overlap_entropy
from simrl.figs.runner import Figure, render

FIGURE = Figure(
    name="fig13_overlap_entropy",
    studies=("overlap_entropy",),
    caption=(
        "A linear policy z = theta_tab + Phi w with random_features at overlap rho (exact "
        "kernel, d = 68) on the bandit (16 prompts x 4 answers, prior 0.3, 8 trained and 8 "
        "held out), true reward, GRPO with 4 epochs, sgd 1, 64 paired seeds x 200 steps "
        "(overlap_entropy). Left: the held-out prompts' total exact entropy change (the sum of "
        "dH_heldout over the steps); middle: the trained prompts' entropy change; right: the "
        "per-step median relative error of the first-order spill term -Cov(log pi, dz) against "
        "the exact held-out change (rho > 0; theory/NOTES.md, Shared parameters). Mean and 95% "
        "t-interval over seeds, per intervention (vanilla clip 0.2, clip-higher 0.28, Clip-Cov, "
        "KL-Cov, STEER)."
    ),
)


def main(out: Path | None = None, root: Path | None = None) -> list[Path]:
    return render(
        FIGURE, overlap_entropy.plot_overlap_entropy, overlap_entropy.overlap_changes(root), out=out
    )


if __name__ == "__main__":
    main()
