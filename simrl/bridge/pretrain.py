"""Local pretraining of the tiny model on the arithmetic corpus.

Each step draws `pretrain_batch` problems from the pretraining pool (every problem but the
held-out ones) and one demonstration of each: code mode with probability prior_mix,
prose otherwise (simrl/bridge/task.py). The loss is next-token cross-entropy on the
completion tokens (the prompt is given, as in supervised fine-tuning), AdamW with a linear
warm-up over 5% of the steps and cosine decay (Loshchilov & Hutter 2017, SGDR Eq. 5).

`pretrained(cfg)` returns the model for cfg's pretraining fields: the checkpoint simrl
ships for them (simrl/bridge/checkpoints/), else the cached one, else it pretrains and
caches it (simrl/bridge/checkpoints.py; every load is checked by SHA-256).
"""

from __future__ import annotations

import math
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from simrl.bridge import checkpoints
from simrl.bridge.config import PRETRAIN_FIELDS
from simrl.bridge.formats import TinyFormat
from simrl.bridge.task import demonstration, split_problems
from simrl.bridge.tiny import tiny_model
from simrl.bridge.tokenizer import CharTokenizer

#: progress(step, steps, loss) after every pretraining step
Progress = Callable[[int, int, float], None]


def pretrain_folder(cfg) -> Path:
    """The checkpoint folder of cfg's pretraining fields: shipped, else in the cache."""
    return checkpoints.folder_for(cfg.pretrain_key())


def pretrained(cfg, progress: Progress | None = None, force: bool = False):
    """(model, TinyFormat, meta): the shipped or cached tiny model for cfg.bridge,
    pretraining (and caching) it first when there is none. `force` pretrains again into
    the cache and returns that model (a shipped checkpoint is never replaced, and runs
    keep using it)."""
    key = cfg.pretrain_key()
    folder = checkpoints.cache_folder(key) if force else pretrain_folder(cfg)
    if force or not (folder / "meta.json").is_file():
        if folder.parent == checkpoints.SHIPPED:
            checkpoints.verify(folder)  # a shipped checkpoint went missing: say so
        model, tok, meta = pretrain(cfg, progress)
        if folder.exists():
            shutil.rmtree(folder)
        checkpoints.save(folder, model, tok, meta)
    model, tok, meta = checkpoints.load(folder)
    return model, TinyFormat(tok), meta


def corpus_batch(cfg, tok: CharTokenizer, pool, rng: np.random.Generator):
    """(input_ids, attention_mask, labels) of one batch; labels -100 outside completions."""
    b = cfg.bridge
    seqs, starts = [], []
    for i in rng.integers(0, len(pool), size=b.pretrain_batch):
        p = pool[int(i)]
        text, _ = demonstration(p, b.prior_mix, b.prose_error, rng)
        prompt = [tok.bos_id, *tok.encode(p.text + "=")]
        seqs.append([*prompt, *tok.encode(text), tok.eos_id])
        starts.append(len(prompt))
    L = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), L), tok.pad_id, dtype=torch.long)
    labels = torch.full((len(seqs), L), -100, dtype=torch.long)
    for j, (s, st) in enumerate(zip(seqs, starts, strict=True)):
        ids[j, : len(s)] = torch.tensor(s)
        labels[j, st : len(s)] = torch.tensor(s[st:])
    return ids, (ids != tok.pad_id).long(), labels


def pretrain(cfg, progress: Progress | None = None):
    """Pretrain a fresh tiny model; returns (model, tokenizer, meta)."""
    b = cfg.bridge
    tok = CharTokenizer()
    split = split_problems(b.max_operand, b.train_prompts, b.eval_prompts, b.task_seed)
    model = tiny_model(b, tok.vocab_size)
    rng = np.random.default_rng(np.random.SeedSequence([b.pretrain_seed, 0xB71D6E]))
    opt = torch.optim.AdamW(model.parameters(), lr=b.pretrain_lr, weight_decay=0.01)
    warm = max(1, b.pretrain_steps // 20)

    def lr_at(t: int) -> float:
        if t < warm:
            return (t + 1) / warm
        return 0.5 * (1 + math.cos(math.pi * (t - warm) / max(1, b.pretrain_steps - warm)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    model.train()
    start, losses = time.perf_counter(), []
    for t in range(b.pretrain_steps):
        ids, mask, labels = corpus_batch(cfg, tok, split.pool, rng)
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
        if progress is not None:
            progress(t + 1, b.pretrain_steps, losses[-1])
    model.eval()
    meta = {
        "key": cfg.pretrain_key(),
        "bridge": {k: getattr(b, k) for k in PRETRAIN_FIELDS},
        "parameters": sum(p.numel() for p in model.parameters()),
        "seconds": time.perf_counter() - start,
        "final_loss": float(np.mean(losses[-max(1, len(losses) // 20) :])),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }
    return model, tok, meta
