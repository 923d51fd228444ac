"""Probes of the MLP as a relation-conditioned selector [recon]: gating, linear branches, ablations, swaps.

All functions read the activations of every query ``[s, N + r]`` (:func:`georecall.probe.storage.query_activations`,
one ``run_with_cache`` call, float64) and, where they intervene, either recompute the readout analytically from
the cache (the model has no LayerNorm, so logits = resid_post W_U and resid_post = resid_mid + post W_out) or
patch ``blocks.0.hook_resid_mid`` through the model's hooks. Notation: a[s, r, j] is the post-ReLU activation
of hidden unit j on query (s, r), x(s, r) the residual at the query position after attention (resid_mid).

What the hand-built selector scores (tested): every active unit serves one relation (sigma_j = 1), the branch
mlp_out(s, r) is exactly linear in e_s, keeping only each relation's own units keeps every fact, swapping the
relation signal moves every answer to pi_r'(s), and removing it drops accuracy far below 1/R. A random untrained
network is at chance on every readout-based probe (restricted accuracy, swap, ablations), but NOT on the activation
statistics: at the query position the residual is dominated by the relation token's own embedding, so random
ReLU units are already partly relation-gated (sigma about 0.6-0.7 at R = 4, against 1/R = 0.25; the relation
main effect holds most of the activation variance) and a random MLP is close to linear in e_s (branch R^2 about
0.9). Those statistics must be compared with a random network of the same shape, not with 1/R.
"""

from __future__ import annotations

import torch

from .._checks import check_finite
from ..model.transformer import Transformer
from .storage import (
    F64,
    QueryActivations,
    check_probe_inputs,
    perms_of,
    query_activations,
    query_tokens,
    r2_score,
    ridge,
    subject_split,
)

__all__ = [
    "accuracy_from_logits",
    "gate_ablation",
    "linear_branch",
    "patched_logits",
    "relation_swap",
    "restricted_accuracy",
    "selectivity",
    "unit_ablation",
    "variance_split",
]


def _acts(model: Transformer, task, acts: QueryActivations | None) -> tuple[torch.Tensor, QueryActivations]:
    perms = check_probe_inputs(model, task)
    if acts is None:
        acts = query_activations(model, perms)
    elif not isinstance(acts, QueryActivations) or (acts.R, acts.N) != tuple(perms.shape):
        raise ValueError("acts must be the QueryActivations of this model on this task (query_activations)")
    return perms, _check_acts(acts)


def _check_acts(acts) -> QueryActivations:
    if not isinstance(acts, QueryActivations):
        raise TypeError(f"acts must be QueryActivations (probes.query_activations), got {type(acts).__name__}")
    for name in ("embed", "post", "mlp_out", "resid_post", "logits"):
        check_finite(f"acts.{name}", getattr(acts, name))
    return acts


def accuracy_from_logits(logits: torch.Tensor, perms: torch.Tensor) -> float:
    """Share of queries with argmax_a logits[s, r, a] = pi_r(s); logits [N, R, V], perms [R, N]."""
    perms = perms_of(perms)
    R, N = perms.shape
    if not isinstance(logits, torch.Tensor) or logits.ndim != 3 or tuple(logits.shape[:2]) != (N, R):
        raise ValueError(f"logits must be [N, R, V] = [{N}, {R}, V], got {tuple(getattr(logits, 'shape', ()))}")
    check_finite("logits", logits)
    return float((logits.argmax(-1) == perms.T).double().mean())


def _readout(model: Transformer) -> tuple[torch.Tensor, torch.Tensor]:
    """(W_out [m, d], W_U [d, V]) in float64 on CPU."""
    return model.W_out.detach().to("cpu", F64), model.W_U.detach().to("cpu", F64)


def selectivity(acts: QueryActivations) -> dict:
    """P6: per-relation activation pattern abar[j, r] = mean_s a[s, r, j] and the selectivity indices

        sigma_j = max_r abar[j, r] / sum_r abar[j, r]          (1: one relation only; 1/R: indiscriminate)
        tau_j   = max_r var_s a[s, r, j] / sum_r var_s a[s, r, j]   (where the unit's subject information is)

    over the units active on some query (tau: units whose activation varies). Returns ``pattern`` [m, R],
    ``sigma`` [m] (NaN for dead units), ``preferred`` [m] (argmax_r abar), ``mean`` sigma, ``normalised``
    (mean - 1/R) / (1 - 1/R), ``tau`` (mean tau_j) and ``active_units``. See the module docstring for why a
    random network is the right baseline, not 1/R.
    """
    acts = _check_acts(acts)
    pattern = acts.post.mean(dim=0).T  # [m, R]
    total = pattern.sum(1)
    active = total > 0
    sigma = torch.full_like(total, float("nan"))
    sigma[active] = pattern[active].amax(1) / total[active]
    R = acts.R
    mean = float(sigma[active].mean()) if active.any() else float("nan")
    normalised = (mean - 1 / R) / (1 - 1 / R) if R > 1 else float("nan")
    var = acts.post.var(dim=0).T  # [m, R]
    var_total = var.sum(1)
    varies = var_total > 0
    tau = float((var[varies].amax(1) / var_total[varies]).mean()) if varies.any() else float("nan")
    return {
        "pattern": pattern,
        "sigma": sigma,
        "preferred": pattern.argmax(1),
        "mean": mean,
        "normalised": normalised,
        "tau": tau,
        "active_units": int(active.sum()),
    }


def variance_split(acts: QueryActivations) -> dict:
    """Two-way split of the activation variance over the N x R query grid, summed over units:

    SS_rel = N sum_r (abar_r - abar)^2,  SS_subj = R sum_s (abar_s - abar)^2,
    SS_int = sum_{s,r} (a_sr - abar_s - abar_r + abar)^2,   shares = SS_* / (SS_rel + SS_subj + SS_int).
    """
    a = _check_acts(acts).post  # [N, R, m]
    N, R = a.shape[:2]
    mu = a.mean(dim=(0, 1))  # [m]
    a_r, a_s = a.mean(0), a.mean(1)  # [R, m], [N, m]
    ss_rel = float(N * ((a_r - mu) ** 2).sum())
    ss_subj = float(R * ((a_s - mu) ** 2).sum())
    ss_int = float(((a - a_s[:, None] - a_r[None] + mu) ** 2).sum())
    total = ss_rel + ss_subj + ss_int
    if total == 0:
        return {"relation": float("nan"), "subject": float("nan"), "interaction": float("nan")}
    return {"relation": ss_rel / total, "subject": ss_subj / total, "interaction": ss_int / total}


def linear_branch(acts: QueryActivations, *, seed: int = 0, site: str = "mlp_out") -> dict:
    """P7: for each relation r a ridge fit of the branch output on the subject embedding,

        y(s, r) ~ L_r e_s + c_r,    y = mlp_out (default) or resid_post at the query position,

    fitted on training subjects (penalty on validation subjects); ``r2`` per relation on held-out subjects and
    ``fits`` (``probes.RidgeFit``: W = L_r^T [d, d], b = c_r), which transfer protocol (b) inverts."""
    acts = _check_acts(acts)
    if site not in ("mlp_out", "resid_post"):
        raise ValueError(f"site must be 'mlp_out' or 'resid_post', got {site!r}")
    Y = getattr(acts, site)  # [N, R, d]
    split = subject_split(acts.N, seed=seed)
    fits, r2 = [], []
    for r in range(acts.R):
        fit = ridge(acts.embed, Y[:, r], split)
        fits.append(fit)
        r2.append(r2_score(Y[split.test, r], fit.predict(acts.embed[split.test])))
    return {"r2": r2, "r2_mean": sum(r2) / len(r2), "fits": fits}


def restricted_accuracy(model: Transformer, task, *, acts: QueryActivations | None = None) -> dict:
    """Accuracy when the MLP of each query (s, r) keeps only the units whose preferred relation is r
    (argmax_r abar[j, r], :func:`selectivity`) and every other unit is zeroed:
    logits = (x(s, r) + sum_{j: pref(j) = r} a[s, r, j] W_out[j]) W_U."""
    perms, acts = _acts(model, task, acts)
    W_out, W_U = _readout(model)
    keep = torch.stack([selectivity(acts)["preferred"] == r for r in range(acts.R)]).to(F64)  # [R, m]
    post = acts.post * keep[None]  # [N, R, m]
    logits = (acts.resid_mid + post @ W_out) @ W_U  # [N, R, V]
    return {"accuracy": accuracy_from_logits(logits, perms), "per_relation_units": keep.sum(1).tolist()}


def unit_ablation(model: Transformer, task, *, acts: QueryActivations | None = None) -> dict:
    """Zero one hidden unit at a time: logits_j = logits - a[., ., j] (W_out[j] W_U). Returns ``drop`` [m, R]
    (accuracy on relation r's facts lost when unit j is zeroed), ``max_drop``, ``mean_drop`` (over units, all
    facts) and ``selectivity``: the mean over units with some positive drop of max_r drop+ / sum_r drop+ (1 when
    every unit only matters for one relation; NaN when no unit matters alone)."""
    perms, acts = _acts(model, task, acts)
    W_out, W_U = _readout(model)
    logits = acts.resid_post @ W_U  # [N, R, V]
    base = (logits.argmax(-1) == perms.T).double().mean(0)  # [R]
    direction = W_out @ W_U  # [m, V]
    m = direction.shape[0]
    drop = torch.empty(m, acts.R, dtype=F64)
    for j in range(m):
        ablated = logits - acts.post[..., j, None] * direction[j]  # [N, R, V]
        drop[j] = base - (ablated.argmax(-1) == perms.T).double().mean(0)
    pos = drop.clamp(min=0)
    hit = pos.sum(1) > 0
    sel = float((pos[hit].amax(1) / pos[hit].sum(1)).mean()) if hit.any() else float("nan")
    overall = drop.mean(1)
    return {"drop": drop, "max_drop": float(overall.max()), "mean_drop": float(overall.mean()), "selectivity": sel}


@torch.no_grad()
def patched_logits(model: Transformer, task, resid_mid: torch.Tensor) -> torch.Tensor:
    """Logits [N, R, V] (float64) of every query with blocks.0.hook_resid_mid replaced by ``resid_mid`` [N, R, d]."""
    perms = check_probe_inputs(model, task)
    R, N = perms.shape
    if resid_mid.shape != (N, R, model.config.d_model):
        raise ValueError(
            f"resid_mid must be [N, R, d] = [{N}, {R}, {model.config.d_model}], got {tuple(resid_mid.shape)}"
        )
    new = resid_mid.reshape(N * R, 1, -1).to(model.device, model.dtype)
    with model.hooks({"blocks.0.hook_resid_mid": lambda x, name: new}):
        logits = model(query_tokens(N, R).to(model.device), last_only=True)  # [N R, 1, V]
    return logits[:, -1].to("cpu", F64).reshape(N, R, -1)


def _relation_means(acts: QueryActivations) -> torch.Tensor:
    """rho_r = mean_s x(s, r) - mean_{s, r'} x(s, r'): the relation main effect at resid_mid, [R, d]."""
    m = acts.resid_mid.mean(0)  # [R, d]
    return m - m.mean(0)


def gate_ablation(model: Transformer, task, *, acts: QueryActivations | None = None) -> dict:
    """Mean-ablate the relation signal: x(s, r) -> x(s, r) - rho_r (every relation's mean residual set to the grand
    mean), then run the MLP and readout. ``accuracy`` (a relation-blind model can reach at most 1/R) and
    ``blind_share``: the share of answers that are one of the subject's R attributes {pi_r'(s)} (chance about
    R/N). In the block construction every gate then opens a little for every relation, the output is a blend of
    the subject's R codes, and accuracy falls well below 1/R but not to 1/N."""
    perms, acts = _acts(model, task, acts)
    logits = patched_logits(model, perms, acts.resid_mid - _relation_means(acts)[None])
    pred = logits.argmax(-1)  # [N, R]
    blind = (pred[:, :, None] == perms.T[:, None, :]).any(-1)  # [N, R]
    return {"accuracy": accuracy_from_logits(logits, perms), "blind_share": float(blind.double().mean())}


def relation_swap(model: Transformer, task, *, acts: QueryActivations | None = None) -> dict:
    """Swap the relation signal r -> r' at resid_mid, keeping the rest of the query (s, r):

        x'(s, r -> r') = x(s, r) - rho_r + rho_r',

    and report over all s and r != r' the share whose argmax becomes pi_r'(s) (``success``) and the share that
    stays at pi_r(s) (``stay``). R = 1 has nothing to swap (NaN). Replacing the relation *token* would only
    re-measure accuracy on (s, r'); patching its mean signal into the residual of (s, r) tests that the relation
    acts as an additive selection signal on a subject representation that does not depend on r."""
    perms, acts = _acts(model, task, acts)
    R = acts.R
    if R == 1:
        return {"success": float("nan"), "stay": float("nan")}
    rho = _relation_means(acts)
    success, stay = [], []
    for shift in range(1, R):
        target = (torch.arange(R) + shift) % R  # r' for each r
        pred = patched_logits(model, perms, acts.resid_mid - rho[None] + rho[target][None]).argmax(-1)  # [N, R]
        success.append((pred == perms[target].T).double().mean())
        stay.append((pred == perms.T).double().mean())
    return {"success": float(torch.stack(success).mean()), "stay": float(torch.stack(stay).mean())}
