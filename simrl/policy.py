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

Feature families (Phi (S, K, d); `build_features`), with their kernels (the closed forms
of their `policy_overlap` are in theory/NOTES.md, "Feature families"):
- random_features: feature rows Phi(s, a, :) = strength (sqrt(rho) c_a + sqrt(1 - rho) e_{s,a}),
  c (K, d) shared by every state, e (S, K, d) each state's own, drawn from the task seed.
  With dim >= (S + 1) K the (S + 1) K vectors are orthonormal and the kernel is exact:
  K((s, a), (s', a')) = strength^2 (rho [a = a'] + (1 - rho) [s = s'][a = a']), so answer a of
  another state moves by rho times what answer a of the trained state moves through w
  (rho = 0: no spill; rho -> 1: one habit for all states). With a smaller dim the vectors
  are Gaussian N(0, I / d) and the kernel holds in expectation (E Phi_s(a) . Phi_s'(a') =
  strength^2 rho [a = a'] for s != s'), with fluctuations of order strength^2 / sqrt(d).
- shared_answer_features: one feature per answer type present, the base policy's
  plurality answer (task.base_top) and the format answer (task.format_answer, when the task
  has one): Phi(s, a, j) = strength if answer a of prompt s is of type j. Every prompt's
  typed answers share w_j, so raising the plurality answer anywhere raises it everywhere.
  K((s, a), (s', a')) = strength^2 when a and a' have the same type (all prompts have the
  same block up to a permutation of answers).
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
from simrl.theory import softmax
from simrl.theory.shared import policy_overlap

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


def random_features(S: int, K: int, d: int, rho: float, strength: float, seed: int) -> np.ndarray:
    """Phi (S, K, d) = strength (sqrt(rho) c + sqrt(1 - rho) e_s) (module doc): orthonormal
    c_a, e_{s,a} when d >= (S + 1) K (the kernel exact), Gaussian N(0, I / d) otherwise."""
    n = (S + 1) * K
    g = _rng(seed).standard_normal((n, d))
    if d >= n:
        q, r = np.linalg.qr(g.T)  # (d, n), orthonormal columns
        vecs = (q * np.sign(np.diag(r))[None, :]).T  # a unique Q; rows orthonormal
    else:
        vecs = g / np.sqrt(d)
    c = vecs[:K]  # (K, d) shared
    e = vecs[K:].reshape(S, K, d)  # each state's own
    return strength * (np.sqrt(rho) * c[None, :, :] + np.sqrt(1.0 - rho) * e)


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


def apply_gradient(optimise, cfg_optim, lin: LinearState, opt, phi, grad, z=None, n_train=0):
    """One optimiser step of a linear policy from the per-state logit gradient grad (S, K):
    theta_tab with grad (its state `opt`), w with Phi^T grad (its state lin.w_opt). Returns
    (z, opt, lin). sgd and adam act entrywise, so stepping the two parameter blocks
    separately is stepping the joint vector. npg (`npg_step`) needs the current logits z
    and the number of training states n_train."""
    if cfg_optim.kind == "npg":
        theta, w = npg_step(z, lin.theta, lin.w, phi, grad, cfg_optim.lr, n_train)
        return logits(theta, phi, w), opt, LinearState(theta, w, lin.w_opt)
    theta, opt = optimise(lin.theta, grad, opt, cfg_optim)
    grad_w = np.einsum("skd,sk->d", phi, grad)
    w, w_opt = optimise(lin.w, grad_w, lin.w_opt, cfg_optim)
    return logits(theta, phi, w), opt, LinearState(theta, w, w_opt)


#: npg on w: eigen-directions of F_w below this fraction of its largest eigenvalue are its
#: null space (Phi^T g has no component there, up to rounding); kernels/linear.NPG_W_RCOND
NPG_W_RCOND = 1e-10


def fisher_w(z: np.ndarray, phi: np.ndarray, n_train: int) -> np.ndarray:
    """The exact Fisher of w over the training states (unit weight each, as tabular npg's
    per-state blocks): F_w = sum_{s < n_train} Phi_s^T (diag pi_s - pi_s pi_s^T) Phi_s
    (theory/NOTES.md, "The natural step", option (c))."""
    pi = softmax(z[:n_train])
    ph = phi[:n_train]
    a = np.einsum("sk,skd->sd", pi, ph)  # Phi_s^T pi_s
    return np.einsum("sk,ski,skj->ij", pi, ph, ph) - a.T @ a


def npg_w_direction(f: np.ndarray, grad_w: np.ndarray) -> np.ndarray:
    """F_w^+ grad_w, the minimum-norm solution: eigh of the symmetrised F_w, directions with
    eigenvalue <= NPG_W_RCOND * the largest dropped (zero when F_w = 0)."""
    lam, vec = np.linalg.eigh(0.5 * (f + f.T))
    if not lam[-1] > 0:
        return np.zeros_like(grad_w)
    keep = lam > NPG_W_RCOND * lam[-1]
    return vec[:, keep] @ ((vec[:, keep].T @ grad_w) / lam[keep])


def npg_step(z, theta, w, phi, grad, lr: float, n_train: int):
    """npg with a linear policy (theory/NOTES.md "The natural step", option (c): the
    block-diagonal Fisher): theta_tab takes the tabular natural step at the current
    policy pi = softmax(z) (simrl/algorithms/optimisers/npg.py: x = g / pi, centred), w the
    step lr F_w^+ Phi^T g with the exact Fisher of w (fisher_w). Both from the same
    pre-update z. Cost: O(n_train K d^2 + d^3) per update (F_w and its d x d eigh)."""
    from simrl.algorithms.optimisers.npg import NPG_PI_FLOOR

    pi = softmax(z)
    x = grad / np.maximum(pi, NPG_PI_FLOOR)
    x -= x.mean(axis=-1, keepdims=True)
    grad_w = np.einsum("skd,sk->d", phi, grad)
    step_w = npg_w_direction(fisher_w(z, phi, n_train), grad_w)
    return theta - lr * x, w - lr * step_w
