"""Softmax policies with shared parameters: the entropy change of every state, trained or not.

Log-linear policy (theory/NOTES.md, "Shared parameters"): S states, K answers,

    z_s = theta_s + Phi_s w,     theta (S, K) tabular, Phi (S, K, d) features, w (d,) shared,

pi_s = softmax(z_s). z is linear in the parameters psi = (theta, w), so a parameter step
(dtheta, dw) moves the logits by exactly dz_s = dtheta_s + Phi_s dw; only the entropy's
dependence on dz is nonlinear.

  per state, first order  dH_s ~ -Cov_{pi_s}(l_s, dz_s)     (Cui et al. 2025, Lemma 1; NOTES)
  kernel                  K((s, a), (s', a')) = [tab] delta_ss' delta_aa' + Phi_s(a) . Phi_s'(a')
  plain step on a loss    dz = -eta K g,  g_s = dL / dz_s  (the per-state logit gradient)
  generalised Theorem 1   J = sum_{s in B} c_s E_{pi_s} r_s, psi <- psi + eta grad J:
                          dH_s' ~ -eta Cov_{pi_s'}(l_s', (K v)_s'),  v_s = c_s pi_s * A_s (s in B)
  spill (s' not in B)     dH_s' ~ -eta Cov_{pi_s'}(l_s', Phi_s' grad_w J)
  natural step            dpsi = eta F^+ grad J, F = sum_{s in B} c_s J_s^T F_s J_s: batch states
                          move by eta A_s (mod constants: Cui's Theorem 2), every state by
                          eta Phi_s w*, w* = (sum_B Phi_s^T C Phi_s + I)^-1 sum_B Phi_s^T C A_s
                          (C = I - 11^T / K), the ridge regression of the centred advantages
                          on the centred features (`natural_shared_step`).

The first-order forms are exact to O(eta^2) (the entropy is smooth in z); the logit
change dz = K-form is exact for plain and natural steps (z is linear in psi).
"""

from __future__ import annotations

import numpy as np

from theory.entropy import first_order_entropy_change, log_softmax


def _check_shapes(theta: np.ndarray, phi: np.ndarray, w: np.ndarray) -> None:
    if (
        theta.ndim != 2
        or phi.ndim != 3
        or phi.shape[:2] != theta.shape
        or w.shape != (phi.shape[2],)
    ):
        raise ValueError(
            f"need theta (S, K), phi (S, K, d), w (d,); got {theta.shape}, {phi.shape}, {w.shape}"
        )


def linear_logits(theta: np.ndarray, phi: np.ndarray, w: np.ndarray) -> np.ndarray:
    """z (S, K) = theta + Phi w."""
    _check_shapes(theta, phi, w)
    return theta + phi @ w


def logit_change(phi: np.ndarray, dtheta: np.ndarray, dw: np.ndarray) -> np.ndarray:
    """dz (S, K) = dtheta + Phi dw: exact, since z is linear in (theta, w)."""
    return dtheta + phi @ dw


def kernel(phi: np.ndarray, tabular: bool = True) -> np.ndarray:
    """K (S K, S K): K[(s, a), (s', a')] = [tabular] delta + Phi_s(a) . Phi_s'(a'),
    the Jacobian Gram J J^T of z in the trained parameters (the empirical NTK of a
    log-linear policy; constant in the parameters)."""
    S, K, d = phi.shape
    flat = phi.reshape(S * K, d)
    out = flat @ flat.T
    if tabular:
        out = out + np.eye(S * K)
    return out


def plain_step(
    phi: np.ndarray, g: np.ndarray, eta: float, tabular: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """One sgd step on a loss with per-state logit gradient g (S, K): (dtheta, dw) =
    (-eta g, -eta Phi^T g), the chain rule through z = theta + Phi w (dz / dw_j = Phi[..., j])."""
    dtheta = -eta * g if tabular else np.zeros_like(g)
    dw = -eta * np.einsum("skd,sk->d", phi, g)
    return dtheta, dw


def kernel_logit_change(phi: np.ndarray, g: np.ndarray, eta: float, tabular: bool = True):
    """dz (S, K) = -eta K g of the plain step, through the kernel (equals `logit_change` of
    `plain_step`; the tests hold the two equal)."""
    S, K, _ = phi.shape
    return (-eta * kernel(phi, tabular) @ g.reshape(S * K)).reshape(S, K)


def objective_gradient(
    theta: np.ndarray,
    phi: np.ndarray,
    w: np.ndarray,
    rewards: np.ndarray,
    batch: np.ndarray,
    coef: np.ndarray | None = None,
) -> np.ndarray:
    """v (S, K) = dJ / dz for J = sum_{s in batch} c_s E_{pi_s} r_s: c_s pi_s * A_s on the batch's
    states (A_s = r_s - E_{pi_s} r_s; NOTES, "Cui et al.'s Theorems 1 and 2"), 0 elsewhere."""
    z = linear_logits(theta, phi, w)
    pi = np.exp(log_softmax(z))
    adv = rewards - (pi * rewards).sum(axis=1, keepdims=True)
    c = np.zeros(z.shape[0])
    c[batch] = 1.0 if coef is None else coef
    return c[:, None] * pi * adv


def cui_theorem1_shared(
    theta: np.ndarray,
    phi: np.ndarray,
    w: np.ndarray,
    rewards: np.ndarray,
    batch: np.ndarray,
    eta: float,
    coef: np.ndarray | None = None,
    tabular: bool = True,
) -> np.ndarray:
    """Cui et al.'s Theorem 1 with shared parameters, every state (S,):
    dH_s' ~ -eta Cov_{pi_s'}(l_s', (K v)_s'), v = `objective_gradient`, for the plain gradient
    ascent step psi <- psi + eta grad J. With phi = 0 and s' in the batch this is Cui's
    -eta c_s' Cov(l, pi A); states outside the batch get the spill term."""
    z = linear_logits(theta, phi, w)
    v = objective_gradient(theta, phi, w, rewards, batch, coef)
    dz = kernel_logit_change(phi, -v, eta, tabular)  # ascent on J = descent on -J
    return first_order_entropy_change(z, dz)


def spill_first_order(
    theta: np.ndarray,
    phi: np.ndarray,
    w: np.ndarray,
    rewards: np.ndarray,
    batch: np.ndarray,
    eta: float,
    coef: np.ndarray | None = None,
) -> np.ndarray:
    """The spill term for every state (S,): -eta Cov_{pi_s'}(l_s', Phi_s' grad_w J), the
    first-order entropy change the plain step causes through w alone. For s' outside the
    batch it is the whole first-order change (`cui_theorem1_shared` there)."""
    z = linear_logits(theta, phi, w)
    v = objective_gradient(theta, phi, w, rewards, batch, coef)
    grad_w = np.einsum("skd,sk->d", phi, v)  # (d,)
    return first_order_entropy_change(z, eta * (phi @ grad_w))


def state_fisher(z: np.ndarray) -> np.ndarray:
    """F_s = diag(pi_s) - pi_s pi_s^T (S, K, K), the Fisher of a softmax in its logits."""
    pi = np.exp(log_softmax(z))
    return np.einsum("sk,kj->skj", pi, np.eye(z.shape[1])) - pi[:, :, None] * pi[:, None, :]


def natural_step_pinv(
    theta: np.ndarray,
    phi: np.ndarray,
    w: np.ndarray,
    target_grad: np.ndarray,
    batch: np.ndarray,
    eta: float,
    coef: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Reference natural step (dtheta, dw) = eta F^+ b with the exact Fisher of (theta, w),
    F = sum_{s in batch} c_s J_s^T F_s J_s (J_s = dz_s / dpsi = [E_s, Phi_s]) and
    b = J^T target_grad (the gradient of the objective in psi). Dense pseudo-inverse:
    O((S K + d)^3); for tests and small cases."""
    S, K, d = phi.shape
    z = linear_logits(theta, phi, w)
    fs = state_fisher(z)
    n = S * K + d
    F = np.zeros((n, n))
    c = np.zeros(S)
    c[batch] = 1.0 if coef is None else coef
    for s in np.flatnonzero(c):
        J = np.zeros((K, n))
        J[:, s * K : (s + 1) * K] = np.eye(K)
        J[:, S * K :] = phi[s]
        F += c[s] * J.T @ fs[s] @ J
    b = np.concatenate([target_grad.reshape(S * K), np.einsum("skd,sk->d", phi, target_grad)])
    x = eta * np.linalg.pinv(F, rcond=1e-12, hermitian=True) @ b
    return x[: S * K].reshape(S, K), x[S * K :]


def natural_shared_step(
    phi: np.ndarray, y: np.ndarray, batch: np.ndarray, eta: float
) -> tuple[np.ndarray, np.ndarray]:
    """Closed form of the natural step (NOTES, "Shared parameters: the natural step"):
    given per-state solutions y_s of F_s y_s = target_s (y_s = A_s for the exact policy
    gradient; y_s = g_s / pi_s for any softmax gradient), the minimum-norm parameter step
    whose logit change is y_s (mod constants) on every batch state is

        dw = eta (sum_B Phi_s^T C Phi_s + I)^-1 sum_B Phi_s^T C y_s,
        dtheta_s = eta C (y_s - Phi_s dw / eta) on the batch, 0 elsewhere,

    C = I - 11^T / K. Cost O(|B| K d^2 + d^3) (a d x d Cholesky-sized solve). Requires every
    batch state to have full support and weight c_s > 0 (the weights then drop out)."""
    S, K, d = phi.shape
    pb = phi[batch]  # (B, K, d)
    pc = pb - pb.mean(axis=1, keepdims=True)  # C Phi_s
    yc = y[batch] - y[batch].mean(axis=1, keepdims=True)  # C y_s
    lhs = np.einsum("bkd,bke->de", pc, pc) + np.eye(d)
    rhs = np.einsum("bkd,bk->d", pc, yc)
    dw = eta * np.linalg.solve(lhs, rhs)
    dtheta = np.zeros((S, K))
    resid = eta * y[batch] - pb @ dw
    dtheta[batch] = resid - resid.mean(axis=1, keepdims=True)
    return dtheta, dw


def policy_overlap(phi: np.ndarray, z: np.ndarray, tabular: bool = True) -> float:
    """The overlap of a log-linear policy (NOTES, "policy.overlap"): the mean over ordered
    pairs s != s' of the normalised off-diagonal of the empirical NTK of the pi-weighted
    score functions, Theta_ss' = G_s G_s'^T (rows of G_s: sqrt(pi_s(a)) grad log pi_s(a) in the
    trained parameters),

        ov(s, s') = |Theta_ss'|_F / sqrt(|Theta_ss|_F |Theta_s's'|_F)
                  = sqrt(tr(Sigma_s Sigma_s') / sqrt(tr(Sigma_s^2) tr(Sigma_s'^2)))  in [0, 1],

    Sigma_s = J_s^T F_s J_s = G_s^T G_s the per-state Fisher (the square root of the cosine
    between the per-state Fisher matrices).
    Off the diagonal the tabular blocks are disjoint, so tr(Sigma_s Sigma_s') = tr(W_s W_s'),
    W_s = Phi_s^T F_s Phi_s; on the diagonal tr(Sigma_s^2) = tr((F_s M_s)^2) with
    M_s = [tabular] I + Phi_s Phi_s^T. 0 for a tabular policy or phi = 0. A pair whose
    denominator is 0 (a state with no trained parameter) counts 0."""
    S, K, d = phi.shape
    if S < 2:
        return 0.0
    fs = state_fisher(z)  # (S, K, K)
    if d * d <= K * K:  # tr(W_s W_s') with W_s = Phi_s^T F_s Phi_s (d x d)
        wmat = np.einsum("ska,skj,sjb->sab", phi, fs, phi)  # (S, d, d)
        flat = wmat.reshape(S, d * d)
        off = flat @ flat.T  # W symmetric
    else:  # the same in answer space: tr(F_s B F_s' B^T), B = Phi_s Phi_s'^T (K x K)
        b = np.einsum("skd,tjd->stkj", phi, phi)  # (S, S, K, K)
        off = np.einsum("skl,stlj,tjm,stkm->st", fs, b, fs, b, optimize=True)
    m = np.einsum("ska,sja->skj", phi, phi)  # Phi_s Phi_s^T
    if tabular:
        m = m + np.eye(K)
    fm = fs @ m  # (S, K, K)
    diag = np.einsum("sij,sji->s", fm, fm)  # tr((F_s M_s)^2)
    denom = np.sqrt(np.outer(diag, diag))
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = np.where(denom > 0, off / np.where(denom > 0, denom, 1.0), 0.0)
    mask = ~np.eye(S, dtype=bool)
    return float(np.sqrt(np.clip(cos[mask], 0.0, None)).mean())


def policy_overlap_dense(phi: np.ndarray, z: np.ndarray, tabular: bool = True) -> float:
    """`policy_overlap` from the NTK blocks of the weighted score functions, built from the
    full parameter Jacobians (S K + d columns): the reference."""
    S, K, d = phi.shape
    pi = np.exp(log_softmax(z))
    gs = []  # G_s: rows sqrt(pi_s(a)) (J_s(a) - sum_b pi_s(b) J_s(b)), the weighted scores
    for s in range(S):
        J = np.zeros((K, S * K + d))
        if tabular:
            J[:, s * K : (s + 1) * K] = np.eye(K)
        J[:, S * K :] = phi[s]
        gs.append(np.sqrt(pi[s])[:, None] * (J - pi[s] @ J))
    vals = []
    for s in range(S):
        for t in range(S):
            if s != t:
                gram = gs[s] @ gs[t].T  # Theta_st, K x K
                den = np.sqrt(np.linalg.norm(gs[s] @ gs[s].T) * np.linalg.norm(gs[t] @ gs[t].T))
                vals.append(np.linalg.norm(gram) / den if den > 0 else 0.0)
    return float(np.mean(vals)) if vals else 0.0
