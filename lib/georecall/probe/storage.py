"""Probes of what a one-layer model stores where: tied superposition fits, decoders, and the unembedding [recon].

Every probe takes any :class:`georecall.model.transformer.Transformer` (trained or hand-built) and the bijections it was
meant to store (a ``BijectionTask`` or a perms tensor [R, N] with perms[r, s] = pi_r(s)), and reads the model
through its hook points: :func:`query_activations` runs every query ``[s, N + r]`` once with
``run_with_cache``. All fits run in float64 on CPU, with subjects split into train / validation / held-out
test sets from ``repro.generator(seed, "probe")``; the ridge penalty is chosen on the validation split and the
reported scores are on the held-out subjects.

Attribute vectors. The model's own attribute vectors are the columns of the unembedding, W_U[:, a] in R^d.
The probes use them reduced to their top k' principal directions (uncentred, so dot products are kept):

    u_a = V_{k'}^T W_U[:, a]  in R^{k'},   V_{k'} = the top k' right singular vectors of W_U^T [N, d],
    k' = min(numerical rank of W_U, 2 * ceil(log2 N)),

so <u_a, u_b> = <W_U[:, a], W_U[:, b]> whenever k' >= rank(W_U) (always for the constructions),
and the
fits have R*k' features instead of R*d (an unreduced fit memorises when R*d approaches the training subjects).
A different code (e.g. a construction's own codes) can be passed as ``codes`` [N, k'] to the array-level fits.

Why the superposition fit is *tied*. Regressing e_s on one-hot indicators of its (relation, attribute) pairs,
e_s = sum_r w_{r, pi_r(s)}, has a free vector per pair; for bijections each pair occurs in exactly one subject,
so that regression fits any table exactly (R^2 = 1 on random embeddings, :func:`one_hot_fit_r2`) and cannot
score a held-out subject. The tied fit shares u_a across subjects and relations, so held-out R^2 means something.

The MLP probes (selectivity, ablations, relation swap) are in :mod:`georecall.probe.selector`, the one-call summary
:func:`georecall.probe.summary.probe_all` in :mod:`georecall.probe.summary`, and zero-shot transfer in
:mod:`georecall.probe.transfer`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .. import repro
from .._checks import check_budget, check_finite, check_float, check_int
from ..model.recall import DEFAULT_MAX_BYTES
from ..model.transformer import Transformer
from .inputs import F64, check_codes, check_embeddings, check_probe_inputs, check_xy, perms_of

__all__ = [
    "LAMBDAS",
    "QueryActivations",
    "RidgeFit",
    "Split",
    "attribute_codes",
    "bits_per_weight",
    "check_probe_inputs",
    "code_scores",
    "nearest_code",
    "one_hot_fit_r2",
    "perms_of",
    "query_activations",
    "r2_score",
    "relation_decoders",
    "ridge",
    "ridge_solve",
    "subject_split",
    "superposition",
    "superposition_fit",
    "unembed_fact_decoding",
]

LAMBDAS = (0.0, 1e-6, 1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0)  # ridge penalties, in units of the mean feature variance


# --- inputs ------------------------------------------------------------------------------------------------------


# --- activations --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)  # eq=False: tensors have no single truth value
class QueryActivations:
    """Activations at the query position of ``[s, N + r]`` for every subject s and relation r, float64.

    Shapes: ``embed`` [N, d] (e_s = W_E[s], read at hook_embed), ``resid_mid`` / ``mlp_out`` / ``resid_post``
    [N, R, d], ``pre`` / ``post`` [N, R, m] (MLP pre- and post-ReLU), ``logits`` [N, R, V].
    """

    embed: torch.Tensor
    resid_mid: torch.Tensor
    pre: torch.Tensor
    post: torch.Tensor
    mlp_out: torch.Tensor
    resid_post: torch.Tensor
    logits: torch.Tensor

    @property
    def N(self) -> int:
        return self.embed.shape[0]

    @property
    def R(self) -> int:
        return self.resid_mid.shape[1]


def query_tokens(N: int, R: int) -> torch.Tensor:
    """All queries ``[s, N + r]``, subject-major: row s*R + r. [N*R, 2]."""
    s = torch.arange(N).repeat_interleave(R)
    r = torch.arange(R).repeat(N)
    return torch.stack([s, N + r], dim=1)


_SITES = (
    "blocks.0.hook_resid_mid",
    "blocks.0.mlp.hook_pre",
    "blocks.0.mlp.hook_post",
    "blocks.0.hook_mlp_out",
    "blocks.0.hook_resid_post",
)


@torch.no_grad()
def query_activations(model: Transformer, task) -> QueryActivations:
    """Run every query ``[s, N + r]`` through ``model`` once (``run_with_cache``, last position only)."""
    perms = check_probe_inputs(model, task)
    R, N = perms.shape
    tokens = query_tokens(N, R).to(model.device)
    logits, cache = model.run_with_cache(tokens, ["hook_embed", *_SITES], last_only=True)

    def grid(x: torch.Tensor) -> torch.Tensor:
        return x[:, -1].to("cpu", F64).reshape(N, R, -1)  # [N, R, .]

    embed = cache["hook_embed"][:, 0].to("cpu", F64).reshape(N, R, -1)[:, 0]  # [N, d]: e_s at position 0
    return QueryActivations(
        embed=embed,
        resid_mid=grid(cache["blocks.0.hook_resid_mid"]),
        pre=grid(cache["blocks.0.mlp.hook_pre"]),
        post=grid(cache["blocks.0.mlp.hook_post"]),
        mlp_out=grid(cache["blocks.0.hook_mlp_out"]),
        resid_post=grid(cache["blocks.0.hook_resid_post"]),
        logits=grid(logits),
    )


# --- splits and ridge ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Split:
    """Disjoint subject index sets: ``train`` (fit), ``val`` (choose the ridge penalty), ``test`` (score)."""

    train: torch.Tensor
    val: torch.Tensor
    test: torch.Tensor

    @property
    def fit(self) -> torch.Tensor:
        """train + val: the final fit after the penalty is chosen."""
        return torch.cat([self.train, self.val])


def subject_split(N: int, *, seed: int = 0, test: float = 0.2, val: float = 0.2) -> Split:
    """A seeded random split of N subjects: ``test`` share held out, then ``val`` share of the rest for validation.

    >>> sp = subject_split(10, seed=0)
    >>> len(sp.train), len(sp.val), len(sp.test)
    (6, 2, 2)
    """
    check_int("N (n_subjects)", N, 5)
    for name, share in (("test", test), ("val", val)):
        if not (isinstance(share, float) and 0.0 < share < 1.0):
            raise ValueError(f"{name} must be a float in (0, 1), got {share!r}")
    order = torch.randperm(N, generator=repro.generator(seed, "probe"))
    n_test = max(1, round(test * N))
    n_val = max(1, round(val * (N - n_test)))
    if N - n_test - n_val < 2:
        raise ValueError(f"N (n_subjects) = {N} leaves fewer than 2 training subjects with test={test}, val={val}")
    return Split(train=order[n_test + n_val :], val=order[n_test : n_test + n_val], test=order[:n_test])


@dataclass(frozen=True, eq=False)
class RidgeFit:
    """Y ~ X W + b, fitted with penalty ``lam`` (in units of the mean feature variance). ``predict(X)``."""

    W: torch.Tensor  # [p, q]
    b: torch.Tensor  # [q]
    lam: float

    def predict(self, X: torch.Tensor) -> torch.Tensor:
        return X @ self.W + self.b


def ridge_solve(X: torch.Tensor, Y: torch.Tensor, lam: float) -> RidgeFit:
    """min_{W,b} ||Y - X W - b||^2 + lam * (tr(Xc^T Xc) / p) ||W||^2 with Xc the centred X; lam = 0: min-norm lstsq."""
    X, Y = check_xy(X, Y)
    lam = check_float("lam (ridge penalty)", lam, 0.0)
    mx, my = X.mean(0), Y.mean(0)
    Xc, Yc = X - mx, Y - my  # [n, p], [n, q]
    p = Xc.shape[1]
    if lam > 0:
        scale = float((Xc * Xc).sum()) / p
        Xa = torch.cat([Xc, math.sqrt(lam * max(scale, 1e-300)) * torch.eye(p, dtype=F64)])  # [n + p, p]
        Ya = torch.cat([Yc, torch.zeros(p, Yc.shape[1], dtype=F64)])
    else:
        Xa, Ya = Xc, Yc
    W = torch.linalg.lstsq(Xa, Ya, driver="gelsd").solution  # [p, q]
    return RidgeFit(W=W, b=my - mx @ W, lam=lam)


def ridge(X: torch.Tensor, Y: torch.Tensor, split: Split, lambdas=LAMBDAS) -> RidgeFit:
    """Ridge regression of Y [n, q] on X [n, p] (rows indexed by subject): the penalty with the smallest squared
    error on ``split.val`` after fitting on ``split.train``, then refitted on train + val."""
    X, Y = check_xy(X, Y)
    if not isinstance(split, Split):
        raise TypeError(f"split must be a Split (from subject_split), got {type(split).__name__}")
    if int(torch.cat([split.train, split.val, split.test]).max()) >= X.shape[0]:
        raise ValueError(f"split indexes rows past X's {X.shape[0]} (make it with subject_split(n) for these rows)")
    if not lambdas or any(not (isinstance(x, (int, float)) and x >= 0) for x in lambdas):
        raise ValueError(f"lambdas must be a non-empty sequence of numbers >= 0, got {lambdas!r}")
    errors = []
    for lam in lambdas:
        fit = ridge_solve(X[split.train], Y[split.train], float(lam))
        errors.append(float(((fit.predict(X[split.val]) - Y[split.val]) ** 2).sum()))
    best = float(lambdas[min(range(len(lambdas)), key=errors.__getitem__)])
    return ridge_solve(X[split.fit], Y[split.fit], best)


def r2_score(Y: torch.Tensor, Y_hat: torch.Tensor) -> float:
    """Pooled R^2 = 1 - sum ||y - y_hat||^2 / sum ||y - mean(y)||^2 over rows (NaN when y is constant)."""
    if not isinstance(Y, torch.Tensor) or not isinstance(Y_hat, torch.Tensor) or Y.shape != Y_hat.shape:
        raise ValueError(
            f"Y and Y_hat must be tensors of the same shape, got {tuple(getattr(Y, 'shape', ()))}, "
            f"{tuple(getattr(Y_hat, 'shape', ()))}"
        )
    check_finite("Y", Y), check_finite("Y_hat", Y_hat)
    sst = float(((Y - Y.mean(0)) ** 2).sum())
    sse = float(((Y - Y_hat) ** 2).sum())
    return 1.0 - sse / sst if sst > 0 else float("nan")


# --- attribute codes ----------------------------------------------------------------------------------------------


def attribute_codes(W_U: torch.Tensor, k_prime: int | None = None, *, rtol: float = 1e-6) -> torch.Tensor:
    """u_a = V_{k'}^T W_U[:, a], W_U's columns in its top k' right singular directions (uncentred), [N, k'] float64.

    Default k' = min(numerical rank, 2 * ceil(log2 N)); numerical rank counts singular values above
    ``rtol`` times the largest.
    """
    if not isinstance(W_U, torch.Tensor) or W_U.ndim != 2:
        raise ValueError(f"W_U must be a [d, N] tensor, got {type(W_U).__name__} {getattr(W_U, 'shape', '')}")
    check_finite("W_U", W_U)
    check_float("rtol", rtol, 0.0, 1.0)
    U = W_U.detach().to("cpu", F64).T  # [N, d]
    _, S, Vh = torch.linalg.svd(U, full_matrices=False)  # S [min(N, d)], Vh [min, d]
    rank = int((S > rtol * S[0]).sum()) if S.numel() and S[0] > 0 else 0
    if rank == 0:
        raise ValueError("W_U is zero: there are no attribute vectors to probe with")
    cap = 2 * max(1, (U.shape[0] - 1).bit_length())
    if k_prime is None:
        k_prime = min(rank, cap)
    check_int("k_prime", k_prime, 1, Vh.shape[0])
    return U @ Vh[:k_prime].T  # [N, k']


def nearest_code(Y: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
    """argmin_a ||y - u_a||^2 for every row y of Y [n, k'] over codes [N, k'], as int64 [n]."""
    if not (isinstance(Y, torch.Tensor) and isinstance(codes, torch.Tensor) and Y.ndim == codes.ndim == 2) or (
        Y.shape[1] != codes.shape[1] or codes.shape[0] < 1
    ):
        raise ValueError(
            f"Y and codes must be [n, k'] and [N, k'] with the same k', got {getattr(Y, 'shape', Y)}, "
            f"{getattr(codes, 'shape', codes)}"
        )
    check_finite("Y", Y), check_finite("codes", codes)
    d2 = (Y * Y).sum(1, keepdim=True) - 2 * Y @ codes.T + (codes * codes).sum(1)  # [n, N]
    return d2.argmin(dim=1)


def _features(perms: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
    """phi(s) = [u_{pi_1(s)}; ...; u_{pi_R(s)}], [N, R*k']."""
    return torch.cat([codes[perms[r]] for r in range(perms.shape[0])], dim=1)


# --- P1: tied superposition ---------------------------------------------------------------------------------------


def superposition_fit(
    E: torch.Tensor, perms: torch.Tensor, codes: torch.Tensor, *, seed: int = 0, lambdas=LAMBDAS
) -> dict:
    """Tied superposition regression e_s ~ sum_r Q_r u_{pi_r(s)} + c on raw arrays.

    E [N, d] subject embeddings, perms [R, N], codes [N, k'] the u_a. Ridge on phi(s) = [u_{pi_r(s)}]_r with the
    penalty chosen on validation subjects (:func:`ridge`); returns held-out and training R^2, the penalty, and
    the fitted ``Q`` [R, d, k'] and intercept ``c`` [d] (``Q``, ``c`` are what transfer protocol (a) reuses).
    """
    perms = perms_of(perms)
    R, N = perms.shape
    E, codes = check_embeddings(E, N), check_codes(codes, N)
    split = subject_split(N, seed=seed)
    X = _features(perms, codes)  # [N, R k']
    fit = ridge(X, E, split, lambdas)
    k = codes.shape[1]
    Q = fit.W.T.reshape(E.shape[1], R, k).permute(1, 0, 2)  # [R, d, k']
    return {
        "r2_heldout": r2_score(E[split.test], fit.predict(X[split.test])),
        "r2_train": r2_score(E[split.fit], fit.predict(X[split.fit])),
        "lam": fit.lam,
        "k_prime": k,
        "Q": Q,
        "c": fit.b,
    }


def superposition(model: Transformer, task, *, seed: int = 0, k_prime: int | None = None) -> dict:
    """P1 on a model: e_s = W_E[s] regressed on the model's own attribute vectors u_a (the top-k' principal
    coordinates of W_U's columns, :func:`attribute_codes`), tied across subjects; scored on held-out subjects.

    Also returns ``r2_null``: the same fit against random bijections unrelated to the model (about 0).
    """
    perms = check_probe_inputs(model, task)
    R, N = perms.shape
    E = model.W_E[:N]
    codes = attribute_codes(model.W_U, k_prime)
    out = superposition_fit(E, perms, codes, seed=seed)
    g = repro.generator(seed, "probe-null")
    null = torch.stack([torch.randperm(N, generator=g) for _ in range(R)])
    out["r2_null"] = superposition_fit(E, null, codes, seed=seed)["r2_heldout"]
    return out


def one_hot_fit_r2(E: torch.Tensor, perms: torch.Tensor) -> float:
    """R^2 of the *untied* regression e_s = sum_r w_{r, pi_r(s)} (a free vector per (relation, attribute)),
    fitted by minimum-norm least squares on all subjects. For bijections it has N*R free vectors for N rows and
    fits any table exactly; it is kept only to show why the probes do not use it."""
    perms = perms_of(perms)
    R, N = perms.shape
    E = check_embeddings(E, N)
    check_budget(f"the one-hot design [N, R N] (N={N}, R={R})", 8 * N * R * N, DEFAULT_MAX_BYTES)
    X = torch.zeros(N, R * N, dtype=F64)
    for r in range(R):
        X[torch.arange(N), r * N + perms[r]] = 1.0
    W = torch.linalg.lstsq(X, E, driver="gelsd").solution
    return r2_score(E, X @ W)


# --- P2, P3: per-relation decoders and top-R recovery -------------------------------------------------------------


def code_scores(Y: torch.Tensor, codes: torch.Tensor, rule: str = "dot") -> torch.Tensor:
    """Scores [n, N] of every code for every row of Y [n, k']: ``"dot"`` <y, u_a> (the model's own readout rule:
    logits are dot products with W_U's columns) or ``"nearest"`` -||y - u_a||^2. The decoded attribute is the argmax."""
    if not isinstance(Y, torch.Tensor) or not isinstance(codes, torch.Tensor) or Y.ndim != 2 or codes.ndim != 2:
        raise ValueError(
            f"Y and codes must be 2-D tensors [n, k'] and [N, k'], got {type(Y).__name__}, {type(codes).__name__}"
        )
    if Y.shape[1] != codes.shape[1]:
        raise ValueError(f"Y and codes must share k' columns, got {tuple(Y.shape)} and {tuple(codes.shape)}")
    check_finite("Y", Y), check_finite("codes", codes)
    if rule == "dot":
        return Y @ codes.T
    if rule == "nearest":
        return -((Y * Y).sum(1, keepdim=True) - 2 * Y @ codes.T + (codes * codes).sum(1))
    raise ValueError(f"rule must be 'dot' or 'nearest', got {rule!r}")


def relation_decoders(
    E: torch.Tensor, perms: torch.Tensor, codes: torch.Tensor, *, seed: int = 0, lambdas=LAMBDAS, rule: str = "dot"
) -> dict:
    """P2 and P3 on raw arrays. For each relation r, a ridge map D_r with D_r e_s ~ u_{pi_r(s)} (fitted on
    training subjects); on held-out subjects, with score_a(y) = <u_a, y> (``rule="dot"``, default) or
    -||y - u_a||^2 (``rule="nearest"``), :func:`code_scores`:

        accuracy_r = share of s with argmax_a score_a(D_r e_s) = pi_r(s)          (chance 1/N)
        top_R      = share of {pi_r(s)}_r among the R attributes ranked first by max_r score_a(D_r e_s)
                     (chance about R/N)
    """
    perms = perms_of(perms)
    R, N = perms.shape
    E, codes = check_embeddings(E, N), check_codes(codes, N)
    code_scores(codes[:1], codes, rule)  # validates rule
    split = subject_split(N, seed=seed)
    test = split.test
    acc, scores = [], []
    for r in range(R):
        fit = ridge(E, codes[perms[r]], split, lambdas)
        score = code_scores(fit.predict(E[test]), codes, rule)  # [n_test, N]
        acc.append(float((score.argmax(1) == perms[r, test]).double().mean()))
        scores.append(score)
    best = torch.stack(scores).amax(dim=0)  # [n_test, N]
    top = best.topk(R, dim=1).indices  # [n_test, R]
    truth = perms[:, test].T  # [n_test, R]
    hits = [len(set(t.tolist()) & set(p.tolist())) / len(set(t.tolist())) for t, p in zip(truth, top)]
    return {"accuracy": acc, "accuracy_mean": sum(acc) / R, "top_R": sum(hits) / len(hits), "chance": 1.0 / N}


def unembed_fact_decoding(W_U: torch.Tensor, perms: torch.Tensor, *, seed: int = 0, k_prime: int | None = None) -> dict:
    """Does the unembedding alone carry facts? For every ordered pair of relations r != r', a ridge map from
    u_{pi_r(s)} to u_{pi_r'(s)} (the attribute vectors of one subject, W_U alone, no W_E), fitted on training
    subjects; held-out nearest-code accuracy (chance 1/N). ``null``: the same with W_U's columns shuffled by a
    seeded permutation, which keeps the geometry and breaks any tie between vectors and facts. A W_U chosen
    without the bijections (the construction's codes) scores chance; R = 1 has no pair and returns NaN."""
    perms = perms_of(perms)
    R, N = perms.shape
    codes = attribute_codes(W_U, k_prime)
    if codes.shape[0] != N:
        raise ValueError(f"W_U has {codes.shape[0]} attribute columns but the task has N={N}")
    split = subject_split(N, seed=seed)
    shuffle = torch.randperm(N, generator=repro.generator(seed, "probe-shuffle"))

    def score(u: torch.Tensor) -> float:
        if R == 1:
            return float("nan")
        accs = []
        for r in range(R):
            for q in range(R):
                if q != r:
                    fit = ridge(u[perms[r]], u[perms[q]], split)
                    pred = nearest_code(fit.predict(u[perms[r, split.test]]), u)
                    accs.append(float((pred == perms[q, split.test]).double().mean()))
        return sum(accs) / len(accs)

    return {"accuracy": score(codes), "null": score(codes[shuffle]), "chance": 1.0 / N}


def bits_per_weight(N: int, R: int, d: int) -> dict:
    """Information R log2(N!) per weight of the tables that can hold it: ``subject_table`` = H / (N d) (all facts
    in the subject rows of W_E, as in the construction) and ``both_tables`` = H / (2 N d) (W_E and W_U)."""
    check_int("N (n_subjects)", N, 2)
    check_int("R (n_relations)", R, 1)
    check_int("d (d_model)", d, 1)
    H = R * math.lgamma(N + 1) / math.log(2)
    return {"information_bits": H, "subject_table": H / (N * d), "both_tables": H / (2 * N * d)}
