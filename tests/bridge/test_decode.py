"""The fast paths against `transformers`' own forward (the reference): KV-cache decoding
(simrl/bridge/decode.py) and shared-prompt scoring (simrl/bridge/shared_prompt.py).

Tolerance 1e-5 on float32 logits and relative gradients (measured: 4e-6 / 3e-6 on the
tiny model: the two sum the same products in different orders); sampled tokens equal
(a token differs only if a uniform falls within ~1e-6 of a CDF boundary)."""

import numpy as np
import pytest
import torch

from simrl.bridge import rollout as R
from simrl.bridge.decode import sample_llama, supports
from simrl.bridge.device import autocast

TOL = 1e-5
CPU = torch.device("cpu")


def llama(kv_heads: int, seed: int = 0):
    """A random small Llama (vocabulary 40), kv_heads < 4 heads: grouped-query attention."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    cfg = LlamaConfig(
        vocab_size=40, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=kv_heads, max_position_embeddings=64,
        pad_token_id=0, bos_token_id=1, eos_token_id=2,
    )  # fmt: skip
    return LlamaForCausalLM(cfg).eval()


def prompts(G: int = 3):
    """Three prompts of different lengths (left padding), G copies each."""
    rng = np.random.default_rng(0)
    base = [[1, *rng.integers(3, 40, size=n).tolist()] for n in (2, 5, 7)]
    return [p for p in base for _ in range(G)]


@pytest.mark.parametrize("kv_heads", [4, 2])
@pytest.mark.parametrize("greedy", [False, True])
def test_fast_decoding_samples_what_the_hf_forward_samples(kv_heads, greedy):
    model = llama(kv_heads)
    assert supports(model)
    ps = prompts()
    T = 12
    u = None if greedy else torch.as_tensor(np.random.default_rng(1).random((len(ps), T)))
    ids, attn = R.left_pad(ps, 0, CPU)
    distinct = R.left_pad([ps[i] for i in range(0, len(ps), 3)], 0, CPU)
    rows_of = torch.arange(len(ps)) // 3
    with torch.inference_mode():
        ref = R.sample_hf(model, ids, attn, T, 1.0, 2, 0, u)
        fast = sample_llama(model, *distinct, rows_of, T, 1.0, 2, 0, u, autocast(CPU))
    for a, b in zip(ref, fast, strict=True):
        assert torch.equal(a, b)


def test_finished_rows_leave_the_batch_without_changing_the_rest():
    """eos = the likeliest token of some rows: they finish early and are dropped."""
    model = llama(4, seed=3)
    ps = prompts(G=4)
    ids, attn = R.left_pad(ps, 0, CPU)
    with torch.inference_mode():
        first = model(input_ids=ids, attention_mask=attn).logits[:, -1].argmax(-1)
    eos = int(first[0])
    u = torch.as_tensor(np.random.default_rng(2).random((len(ps), 10)))
    with torch.inference_mode():
        ref = R.sample_hf(model, ids, attn, 10, 1.0, eos, 0, u)
        fast = sample_llama(model, ids, attn, torch.arange(len(ps)), 10, 1.0, eos, 0, u,
                            autocast(CPU))  # fmt: skip
    assert ref[2].any() and not ref[2].all()  # some finished, some did not
    for a, b in zip(ref, fast, strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize("kv_heads", [4, 2])
def test_shared_prompt_scoring_matches_the_hf_forward(kv_heads):
    model = llama(kv_heads).train()
    ps = prompts()
    u = np.random.default_rng(4).random((len(ps), 9))
    c = R.sample(model, ps, 9, 1.0, 2, 0, u, CPU)
    s = R.scoring_batch(c, 0, CPU)
    idx = torch.arange(1, len(ps))  # a subset, as a minibatch is
    grads = []
    for fn in (R.score_hf, R.score):
        model.zero_grad()
        logits = fn(model, s, idx, 0.7, CPU)
        (logits.log_softmax(-1)[..., 3] * c.mask[idx, : s.T]).sum().backward()
        grads.append([p.grad.clone() for p in model.parameters()])
        if fn is R.score_hf:
            ref = logits.detach()
    m = c.mask[idx, : s.T].bool()
    assert (logits.detach() - ref).abs()[m].max() < TOL
    for a, b in zip(*grads, strict=True):
        assert (a - b).abs().max() <= TOL * max(a.abs().max(), 1e-12)
