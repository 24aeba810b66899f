"""simrl.bridge: the simulator's interventions replayed on causal transformer LMs with torch.

    from simrl.bridge import BridgeRunConfig, run_bridge
    res = run_bridge(BridgeRunConfig.from_toml("simrl/examples/bridge.toml"))
    res.metrics; res.final; res.audit; res.save("runs/bridge")

Modules, one concept each (docs/bridge.md): config (the `[bridge]` section), task
(arithmetic with code / prose demonstrations), tokenizer, formats (prompts and verifiers
per kind of model), tiny (the tiny Llama), checkpoints (shipped and cached, hash-checked),
pretrain, model (load_policy: tiny, SmolLM2, any HF causal LM), device (cuda / bf16 /
determinism), decode (fast KV-cache sampling), shared_prompt (scoring with each prompt
run once), rollout (sampling and scoring, with the HF reference paths), collect (a step's
rollouts and rewards), rewards, losses (torch registry), update (epochs x minibatches),
probes (the probe breakdown: run.audit on the bridge), metrics, step (one RL step), run (the loop), result,
study (the study-runner entry point), bench (tokens/s, TRL comparison), cli. Needs the
[llm] extra.
"""

from simrl._lazy import make_lazy

_EXPORTS = {
    **dict.fromkeys(("BridgeConfig", "BridgeRunConfig"), "simrl.bridge.config"),
    **dict.fromkeys(("BridgeResult", "run_bridge"), "simrl.bridge.run"),
    **dict.fromkeys(("bridge_config", "bridge_outcomes"), "simrl.bridge.study"),
}
make_lazy(__name__)

__all__ = [
    "BridgeConfig",
    "BridgeResult",
    "BridgeRunConfig",
    "bridge_config",
    "bridge_outcomes",
    "run_bridge",
]
