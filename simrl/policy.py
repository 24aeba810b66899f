"""The policy class: tabular logits, or a log-linear softmax with parameters shared by
every state (config section `policy`; theory/NOTES.md, "Shared parameters").

    tabular:  z(s, .) = theta(s, .)                     (S K free logits; the default)
    linear:   z(s, .) = theta_tab(s, .) + Phi(s, ., :) w,   w in R^d shared by all states

Every metric stays exact: the policy of a state is softmax(z(s, .)). The engines compute
the loss's per-state logit gradient g (S, K) exactly as for a tabular policy; the policy
class turns it into parameter gradients, g for theta_tab and Phi^T g = sum_{s,a} g(s, a)
Phi(s, a, :) for w (the chain rule through z, which is linear in (theta_tab, w)), and the
optimiser steps each (`apply_gradient`). With Phi = 0, w never moves and z = theta_tab + 0
is the tabular run bitwise.

Feature families (Phi (S, K, d); `build_features`), with their feature-row overlap:
- random_features: Phi_s = strength (sqrt(rho) U_0 + sqrt(1 - rho) U_s), U_0..U_S orthonormal
  in the Frobenius inner product among answer-centred K x d matrices (drawn from the task
  seed: the Q factor of a Gaussian (K - 1) d x (S + 1) matrix, mapped through an orthonormal
  basis of the centred space). Each state's centred block has Frobenius norm `strength`,
  and the cosine between two states' blocks is rho exactly. Needs (K - 1) d >= S + 1.
- shared_answer_features: one feature per answer type present, the base policy's
  plurality answer (task.base_top) and the format answer (task.format_answer, when the task
  has one): Phi(s, a, j) = strength if answer a of prompt s is of type j. Every prompt's
  typed answers share w_j, so raising the plurality answer anywhere raises it everywhere.
  Feature cosine between two states' blocks, centred: 1 (all prompts have the same block up
  to a permutation of answers; the NTK off-diagonal pairs the typed answers).
- low_rank: z = theta_tab + U V^T, U (S, r) a fixed embedding (rows drawn Gaussian, scaled to
  norm `strength`), V (K, r) the trained unembedding: Phi(s, a, (b, j)) = [a = b] U(s, j),
  d = K r, w = vec(V). Kernel K((s, a), (s', a')) = [a = a'] U_s . U_s'; the cosine of two
  rows is ~ N(0, 1/r) for random rows (E cos^2 = 1/r), 0 for all pairs only when r >= S
  and the rows happen to be orthogonal. (A fully bilinear U V^T with U trained too is not a
  linear policy and is not offered.)
- file: an .npy array, or FILE.py:FUNCTION with FUNCTION(config) returning the array
  (loaded the way `simrl run --task` loads a task: importlib from the file; nothing in
  the config is executed). Checked: shape (num_prompts, num_answers, d), d >= 1, finite.

`policy_overlap` (theory.shared) is reported for every linear run (column policy_overlap).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from simrl.errors import ConfigError
from simrl.optim import OptState, init_state
from theory.shared import policy_overlap

#: the stream of the task seed that draws features (SeedSequence(task.seed, spawn_key=(.,)))
FEATURE_STREAM = 0x504F4C  # "POL"

#: metric columns of a linear run, after the family's (eval: policy_overlap; update: the rest)
POLICY_EVAL_METRICS = ("policy_overlap",)
POLICY_UPDATE_METRICS = (
    "dH_heldout",  # exact entropy change, mean over the states not in the step's batch
    "dH_spill_first_order",  # -Cov_pi(log pi, dz) over the same states, the actual dz
)


def policy_metric_names(config) -> tuple[str, ...]:
    """The extra metric columns of a run of this config (none for a tabular policy)."""
    if config.policy.kind == "tabular":
        return ()
    return POLICY_EVAL_METRICS + POLICY_UPDATE_METRICS


@dataclass(frozen=True)
class LinearState:
    """What a linear policy adds to a run's state: theta_tab, w and w's optimiser state
    (theta_tab's is the run's `opt`)."""

    theta: np.ndarray  # (S, K)
    w: np.ndarray  # (d,)
    w_opt: OptState


def _rng(task_seed: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(task_seed, spawn_key=(FEATURE_STREAM,)))


def _centred_basis(K: int) -> np.ndarray:
    """(K, K - 1) orthonormal basis of the vectors that sum to zero (answer-centred)."""
    q, _ = np.linalg.qr(np.eye(K) - 1.0 / K)
    return q[:, : K - 1]


def random_features(S: int, K: int, d: int, rho: float, strength: float, seed: int) -> np.ndarray:
    """Phi (S, K, d), each state's block centred over answers with Frobenius norm `strength`
    and cosine exactly rho with every other state's block (module doc)."""
    n = (K - 1) * d
    if n < S + 1:
        raise ConfigError(
            "policy.dim", d, f"random_features needs (num_answers - 1) * dim >= {S + 1}"
        )
    g = _rng(seed).standard_normal((n, S + 1))
    q, r = np.linalg.qr(g)
    q = q * np.sign(np.diag(r))[None, :]  # a unique Q: columns orthonormal, (n, S + 1)
    coords = np.sqrt(rho) * q[:, :1] + np.sqrt(1.0 - rho) * q[:, 1:]  # (n, S)
    basis = _centred_basis(K)  # (K, K - 1)
    blocks = coords.T.reshape(S, K - 1, d)  # coordinates in the centred space
    return strength * np.einsum("kc,scd->skd", basis, blocks)


def shared_answer_features(task, strength: float) -> np.ndarray:
    """Phi (S, K, d): a plurality feature and, when the task has format answers, a format
    feature (module doc)."""
    S, K = task.shape
    cols = [task.base_top]
    if np.any(task.format_answer >= 0):
        cols.append(task.format_answer)
    phi = np.zeros((S, K, len(cols)))
    for j, ans in enumerate(cols):
        has = ans >= 0
        phi[np.flatnonzero(has), ans[has], j] = strength
    return phi


def low_rank_features(S: int, K: int, r: int, strength: float, seed: int) -> np.ndarray:
    """Phi (S, K, K r): Phi(s, a, b r + j) = [a = b] U(s, j), U rows Gaussian at norm strength."""
    u = _rng(seed).standard_normal((S, r))
    u *= strength / np.linalg.norm(u, axis=1, keepdims=True)
    phi = np.zeros((S, K, K, r))
    idx = np.arange(K)
    phi[:, idx, idx, :] = u[:, None, :]
    return phi.reshape(S, K, K * r)


def load_features_file(spec: str, config) -> np.ndarray:
    """An .npy file, or FILE.py:FUNCTION -> FUNCTION(config); ConfigError on any failure."""
    field = "policy.features_file"
    if spec.endswith(".npy"):
        if not Path(spec).is_file():
            raise ConfigError(field, spec, "must be an existing .npy file")
        try:
            arr = np.load(spec, allow_pickle=False)
        except (ValueError, OSError) as e:
            raise ConfigError(field, spec, f"must be a readable .npy array ({e})") from None
        return arr
    import importlib.util

    path, _, name = spec.rpartition(":")
    if not path or not name or not Path(path).is_file():
        raise ConfigError(field, spec, "must be FILE.py:FUNCTION with an existing file")
    module_spec = importlib.util.spec_from_file_location("simrl_custom_features", path)
    module = importlib.util.module_from_spec(module_spec)
    try:
        module_spec.loader.exec_module(module)
    except (Exception, SystemExit) as e:  # the user's file: its error in one line
        raise ConfigError(field, spec, f"must import cleanly ({type(e).__name__}: {e})") from None
    fn = getattr(module, name, None)
    if not callable(fn):
        raise ConfigError(field, spec, f"{name} must be a function of the config")
    try:
        return fn(config)
    except (Exception, SystemExit) as e:
        raise ConfigError(field, spec, f"{name}(config) raised {type(e).__name__}: {e}") from None


def check_features(phi, S: int, K: int, where: str) -> np.ndarray:
    """A float array (S, K, d), d >= 1, finite; ConfigError otherwise."""
    try:
        arr = np.asarray(phi, dtype=float)
    except (TypeError, ValueError):
        raise ConfigError(where, type(phi).__name__, "must give a numeric array") from None
    if arr.ndim != 3 or arr.shape[:2] != (S, K) or arr.shape[2] < 1:
        raise ConfigError(
            where, f"shape {arr.shape}", f"must give features of shape ({S}, {K}, d), d >= 1"
        )
    if not np.isfinite(arr).all():
        raise ConfigError(where, "non-finite features", "every feature must be finite")
    return arr


def build_features(config, task) -> np.ndarray | None:
    """Phi (S, K, d) of a linear policy on this task; None for a tabular one."""
    p = config.policy
    if p.kind == "tabular":
        return None
    S, K = task.shape
    seed = config.task.seed
    if p.features == "random_features":
        phi = random_features(S, K, p.dim, p.rho, p.strength, seed)
    elif p.features == "shared_answer_features":
        phi = shared_answer_features(task, p.strength)
    elif p.features == "low_rank":
        phi = low_rank_features(S, K, p.rank, p.strength, seed)
    else:
        phi = load_features_file(p.features_file, config)
    return check_features(phi, S, K, "policy.features_file" if p.features == "file" else "policy")


def overlap(phi: np.ndarray | None, base_logits: np.ndarray) -> float:
    """policy.overlap at initialisation (theory.shared.policy_overlap, tabular part trained)."""
    if phi is None:
        return 0.0
    return policy_overlap(phi, base_logits, tabular=True)


def initial_linear_state(base_logits: np.ndarray, phi: np.ndarray) -> LinearState:
    """theta_tab = the base logits, w = 0: the run starts at the base policy."""
    d = phi.shape[2]
    return LinearState(base_logits.copy(), np.zeros(d), init_state((d,)))


def logits(theta: np.ndarray, phi: np.ndarray, w: np.ndarray) -> np.ndarray:
    """z = theta_tab + Phi w (S, K)."""
    return theta + phi @ w


def apply_gradient(optimise, cfg_optim, lin: LinearState, opt, phi, grad):
    """One optimiser step of a linear policy from the per-state logit gradient grad (S, K):
    theta_tab with grad (its state `opt`), w with Phi^T grad (its state lin.w_opt). Returns
    (z, opt, lin). sgd and adam act entrywise, so stepping the two parameter blocks
    separately is stepping the joint vector; npg is refused with a linear policy."""
    theta, opt = optimise(lin.theta, grad, opt, cfg_optim)
    grad_w = np.einsum("skd,sk->d", phi, grad)
    w, w_opt = optimise(lin.w, grad_w, lin.w_opt, cfg_optim)
    return logits(theta, phi, w), opt, LinearState(theta, w, w_opt)
