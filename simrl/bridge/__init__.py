"""simrl.bridge: the simulator's interventions replayed on causal transformer LMs with torch.

    from simrl.bridge import BridgeRunConfig, run_bridge
    res = run_bridge(BridgeRunConfig.from_toml("simrl/examples/bridge.toml"))
    res.metrics; res.final; res.audit; res.save("runs/bridge")

Modules, one concept each: config (the `[bridge]` section), task (arithmetic with code /
prose demonstrations), tokenizer, formats (prompts and verifiers per kind of model),
model (tiny Llama, SmolLM2, any HF causal LM), pretrain (cached by config hash), rollout
(KV-cache sampling, scoring), rewards, losses (torch registry), update (epochs x
minibatches), audit (probe-set entropy change), metrics, run (the loop), study (the
study-runner entry point), bench (tokens/s, TRL comparison). Needs the [llm] extra.
"""

from simrl.bridge.config import BridgeConfig, BridgeRunConfig
from simrl.bridge.run import BridgeResult, run_bridge
from simrl.bridge.study import bridge_config, bridge_outcomes

__all__ = [
    "BridgeConfig",
    "BridgeResult",
    "BridgeRunConfig",
    "bridge_config",
    "bridge_outcomes",
    "run_bridge",
]
