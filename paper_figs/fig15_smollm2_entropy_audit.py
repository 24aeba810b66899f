"""Fig. 14: the first-order entropy audit on SmolLM2-135M, per probe prefix."""

from pathlib import Path

from simrl.figs import smollm2_audit
from simrl.figs.runner import Figure, render

FIGURE = Figure(
    name="fig15_smollm2_entropy_audit",
    studies=("smollm2_entropy_audit",),
    caption=(
        "SmolLM2-135M-Instruct, one GRPO update (4 prompts x 8 completions of the two-operand "
        "arithmetic task, true reward, PPO clip 0.2, 1 epoch) from the base model at three Adam "
        "step sizes on the same batch, 2 independent updates, 80 probe prefixes (every "
        "training prompt and 8 held-out prompts, each alone and with 1 prefix of the base "
        "model's own completion; smollm2_entropy_audit). Left: exact next-token entropy change "
        "against the first-order prediction -Cov(log pi, dz) (Cui et al. 2025, Lemma 1) per "
        "probe. Right: each predictor's median relative error (first and second order over "
        "every probe; Cui's Theorem 1, the one-token sum and STEER over the probes the batch "
        "visited, elsewhere they predict 0)."
    ),
)


def main(out: Path | None = None, root: Path | None = None) -> list[Path]:
    return render(FIGURE, smollm2_audit.plot_smollm2_audit, smollm2_audit.audit_rows(root), out=out)


if __name__ == "__main__":
    main()
