"""Checks of theory.shared (shared-parameter policies) and theory.clipping_epochs (the
exact multi-epoch clipped step)."""

from __future__ import annotations

import importlib

import numpy as np

from simrl.theory_check.registry import _k, check

shared = importlib.import_module("theory.shared")
epochs = importlib.import_module("theory.clipping_epochs")
clipping = importlib.import_module("theory.clipping")
ent = importlib.import_module("theory.entropy")


def _linear_case(rng: np.random.Generator, max_s: int = 6, max_k: int = 5, max_d: int = 4):
    S, K, d = _k(rng, 2, max_s), _k(rng, 2, max_k), _k(rng, 1, max_d)
    theta = rng.normal(scale=1.5, size=(S, K))
    phi = rng.normal(scale=float(rng.choice([0.3, 1.0])), size=(S, K, d))
    w = rng.normal(size=d)
    rewards = rng.random((S, K))
    batch = np.sort(rng.choice(S, size=int(rng.integers(1, S)), replace=False))
    return theta, phi, w, rewards, batch


@check(
    "shared_theorem1",
    "Shared parameters: log-linear policies",
    1e-12,
    ("cui_theorem1_shared", "spill_first_order", "plain_step", "kernel_logit_change"),
)
def _shared_theorem1(rng: np.random.Generator) -> float:
    """Exact entropy change of every state after the plain ascent step on J, minus Cui's
    Theorem 1 with shared parameters, beyond the first-order remainder bound of the actual
    dz (NOTES "Second order, and remainder bounds"); and the spill equals the prediction off
    the batch. 0 when both hold."""
    theta, phi, w, rewards, batch = _linear_case(rng)
    eta = float(rng.choice([1e-3, 1e-2]))  # small: a wrong O(eta) term exceeds the O(eta^2) bound
    z0 = shared.linear_logits(theta, phi, w)
    v = shared.objective_gradient(theta, phi, w, rewards, batch)
    dtheta, dw = shared.plain_step(phi, -v, eta)
    dz = shared.logit_change(phi, dtheta, dw)
    kernel_gap = np.abs(dz - shared.kernel_logit_change(phi, -v, eta)).max()
    exact = ent.entropy(z0 + dz) - ent.entropy(z0)
    pred = shared.cui_theorem1_shared(theta, phi, w, rewards, batch, eta)
    over = np.maximum(np.abs(exact - pred) - ent.first_order_remainder_bound(z0, dz), 0.0)
    out = np.setdiff1d(np.arange(theta.shape[0]), batch)
    spill = shared.spill_first_order(theta, phi, w, rewards, batch, eta)
    return float(max(over.max(), np.abs(spill[out] - pred[out]).max(initial=0.0), kernel_gap))


@check(
    "shared_natural_step",
    "Shared parameters: log-linear policies",
    1e-8,
    ("natural_shared_step", "natural_step_pinv"),
    max_cases=200,
)
def _shared_natural(rng: np.random.Generator) -> float:
    """max |closed-form natural step (ridge) - dense pseudo-inverse of the full Fisher|."""
    theta, phi, w, rewards, batch = _linear_case(rng, max_s=4, max_k=4, max_d=3)
    z = shared.linear_logits(theta, phi, w)
    v = shared.objective_gradient(theta, phi, w, rewards, batch)
    adv = rewards - (ent.softmax(z) * rewards).sum(axis=1, keepdims=True)
    rt, rw = shared.natural_step_pinv(theta, phi, w, v, batch, 0.1)
    gt, gw = shared.natural_shared_step(phi, adv, batch, 0.1)
    return float(max(np.abs(rt - gt).max(), np.abs(rw - gw).max()))


@check(
    "policy_overlap",
    "Shared parameters: log-linear policies",
    1e-12,
    ("policy_overlap", "policy_overlap_dense"),
)
def _overlap(rng: np.random.Generator) -> float:
    """|policy_overlap - the same from dense parameter Jacobians|, tabular part on or off."""
    theta, phi, w, _, _ = _linear_case(rng)
    z = shared.linear_logits(theta, phi, w)
    tab = bool(rng.random() < 0.5)
    return abs(shared.policy_overlap(phi, z, tab) - shared.policy_overlap_dense(phi, z, tab))


def _epoch_case(rng: np.random.Generator) -> dict:
    k = _k(rng, 2, 3)
    clip = bool(rng.random() < 0.5)
    eps = (rng.uniform(0.05, 0.5), rng.uniform(0.05, 0.5)) if clip else (np.inf, np.inf)
    return dict(
        z_old=rng.uniform(-2.0, 2.0, k),
        G=_k(rng, 2, 3),
        p=float(rng.uniform()),
        lr=float(rng.uniform(0.1, 2.0)),
        epochs=_k(rng, 1, 3),
        eps_low=eps[0],
        eps_high=eps[1],
        advantage=str(rng.choice(clipping.ADVANTAGE_ESTIMATORS)),
    )


@check(
    "multi_epoch_enumeration",
    "Several epochs, exactly",
    1e-12,
    ("expected_multi_epoch", "multi_epoch_by_sequences", "multi_epoch_bias"),
    max_cases=200,
)
def _multi_epoch(rng: np.random.Generator) -> float:
    """max |E[z_E] by count vectors - by all ordered groups|, and the one-epoch map against
    z_start - lr times the closed form (2) of theory.clipping."""
    s = _epoch_case(rng)
    gap = np.abs(epochs.expected_multi_epoch(**s) - epochs.multi_epoch_by_sequences(**s)).max()
    z_start = s["z_old"] + rng.uniform(-1.0, 1.0, s["z_old"].size)
    one = epochs.expected_multi_epoch(**{**s, "epochs": 1}, z_start=z_start)
    cf = clipping.expected_clipped_gradient_closed_form(
        s["z_old"], z_start, s["G"], s["p"], s["eps_low"], s["eps_high"], s["advantage"]
    )
    b = epochs.multi_epoch_bias(**s)
    split = abs(b.base + b.multi_epoch_effect + b.clipping_effect - b.clipped)
    return float(max(gap, np.abs(one - (z_start - s["lr"] * cf)).max(), split))
