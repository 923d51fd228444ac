"""Zero-shot transfer: keep the network, store new bijections by re-initialising only the subject embeddings [recon].

The paper (Ravfogel, Yehudai, Bruna & Bietti, arXiv 2605.12426) states that a trained MLP "transfers zero-shot to
entirely new bijections when subject embeddings are appropriately re-initialized"; which re-initialisation is not
public, so every protocol here is our reconstruction. Each one deep-copies the model (the input is never changed),
freezes attention, MLP, relation embeddings, positions and W_U, draws new bijections pi'_r over the same
attribute set from an explicit seed (:func:`new_bijections`) and replaces the subject rows W_E[:N]:

    (a) superposition:     fit e_s ~ sum_r Q_r u_{pi_r(s)} + c on the old facts (u = the model's attribute
                           vectors, ``probes.attribute_codes``), then e'_s = sum_r Q_r u_{pi'_r(s)} + c
    (b) selector inverse:  fit each branch y(s, r) ~ L_r e_s + c_r on the old subjects (y = mlp_out at the query,
                           ``selector.linear_branch``), then e'_s = argmin_e sum_r ||L_r e + c_r - t_r(pi'_r(s))||^2
                           with t_r(a) = y(pi_r^{-1}(a), r), the old branch output that answered a (min-norm lstsq)
    (c) trained:           Adam on the subject rows only, from random rows; NOT zero-shot, an upper reference,
                           returned as a curve against steps
    (c') random network:   (c) through an untrained network of the same shape: embeddings alone can store facts
                           through a fixed random network, so (c) means something only above (c')
    (d) random:            rows ~ N(0, 1/d): chance, about 1/N
    lookup:                e'_s = e_{pi_1^{-1}(pi'_1(s))}, the old subject with the same first-relation attribute:
                           about 1/R + (1 - 1/R)/N, showing that transfer needs compositional embeddings

:func:`where_facts_live` uses the (c) machinery on the *old* facts to ask whether W_U carries facts: re-store them in
fresh subject rows through the frozen network with W_U as trained, with its attribute columns shuffled, or replaced
by a bijection-independent Gaussian code with the columns' mean and covariance.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, replace

import torch
import torch.nn.functional as F

from .. import repro
from .._checks import check_finite, check_float, check_int
from ..model.compat import check_model
from ..model.transformer import Transformer
from .storage import (
    F64,
    attribute_codes,
    check_probe_inputs,
    perms_of,
    query_activations,
    query_tokens,
    ridge,
    ridge_solve,
    subject_split,
)

__all__ = [
    "TransferResult",
    "new_bijections",
    "random_network",
    "recall_accuracy",
    "reinit_lookup",
    "reinit_random",
    "reinit_selector_inverse",
    "reinit_superposition",
    "train_subject_embeddings",
    "transfer_all",
    "where_facts_live",
    "with_subject_embeddings",
]


def _check_transfer_model(model, task) -> torch.Tensor:
    perms = check_probe_inputs(model, task)
    if model.unembed.tied:
        raise ValueError(
            "model has tie_embed=True: W_U is W_E's subject rows, so it cannot stay frozen while they are "
            "replaced; transfer needs an untied unembedding"
        )
    return perms


def _check_new(new_perms, perms: torch.Tensor) -> torch.Tensor:
    new = perms_of(new_perms)
    if new.shape != perms.shape:
        raise ValueError(f"new_perms must be [R, N] = {list(perms.shape)} like the old task, got {list(new.shape)}")
    return new


def new_bijections(N: int, R: int, *, seed: int) -> torch.Tensor:
    """R fresh uniform bijections of [0, N) as perms [R, N], from ``repro.generator(seed, "transfer")``."""
    check_int("N (n_subjects)", N, 2)
    check_int("R (n_relations)", R, 1)
    g = repro.generator(seed, "transfer")
    return torch.stack([torch.randperm(N, generator=g) for _ in range(R)])


def with_subject_embeddings(model: Transformer, E: torch.Tensor) -> Transformer:
    """A deep copy of ``model`` with W_E[:N] = E [N, d]; every other weight is copied unchanged."""
    N = model.config.d_vocab_out
    if not isinstance(E, torch.Tensor) or E.shape != (N, model.config.d_model):
        raise ValueError(f"E must be [N, d] = [{N}, {model.config.d_model}], got {getattr(E, 'shape', type(E))}")
    check_model(model)
    check_finite("E (subject embeddings)", E)
    out = copy.deepcopy(model)
    with torch.no_grad():
        out.embed.W_E[:N] = E.to(out.device, out.dtype)
    out.eval()
    return out


@torch.no_grad()
def recall_accuracy(model: Transformer, perms: torch.Tensor, *, chunk: int = 8192) -> float:
    """Share of the N R queries ``[s, N + r]`` whose argmax is perms[r, s]."""
    perms = check_probe_inputs(model, perms)
    check_int("chunk", chunk, 1)
    R, N = perms.shape
    tokens = query_tokens(N, R)
    target = perms.T.reshape(-1)  # subject-major, like the tokens
    right = 0
    for i in range(0, len(tokens), chunk):
        logits = model(tokens[i : i + chunk].to(model.device), last_only=True)[:, -1]
        right += int((logits.argmax(-1).cpu() == target[i : i + chunk]).sum())
    return right / len(tokens)


def _fit_on(X: torch.Tensor, Y: torch.Tensor, subjects: torch.Tensor, seed: int):
    """Ridge on the rows ``subjects``: penalty chosen on a validation split of them, then refitted on all of them."""
    split = subject_split(len(subjects), seed=seed)
    lam = ridge(X[subjects], Y[subjects], split).lam
    return ridge_solve(X[subjects], Y[subjects], lam)


def _fit_subjects(N: int, n_fit: int | None, seed: int) -> torch.Tensor:
    if n_fit is None:
        return torch.arange(N)
    check_int("n_fit", n_fit, 5, N)
    return torch.randperm(N, generator=repro.generator(seed, "transfer-fit"))[:n_fit]


def reinit_superposition(
    model: Transformer, task, new_perms, *, seed: int = 0, k_prime: int | None = None, n_fit: int | None = None
) -> torch.Tensor:
    """Protocol (a): new subject rows [N, d] from the superposition map fitted on ``n_fit`` old subjects (all by
    default): e'_s = sum_r Q_r u_{pi'_r(s)} + c with u = ``probes.attribute_codes(W_U, k_prime)``."""
    perms = _check_transfer_model(model, task)
    new = _check_new(new_perms, perms)
    R, N = perms.shape
    codes = attribute_codes(model.W_U, k_prime)  # [N, k']
    E = model.W_E[:N].detach().to("cpu", F64)

    def phi(p: torch.Tensor) -> torch.Tensor:
        return torch.cat([codes[p[r]] for r in range(R)], dim=1)  # [N, R k']

    fit = _fit_on(phi(perms), E, _fit_subjects(N, n_fit, seed), seed)
    return fit.predict(phi(new))


def reinit_selector_inverse(
    model: Transformer, task, new_perms, *, seed: int = 0, site: str = "mlp_out", n_fit: int | None = None
) -> torch.Tensor:
    """Protocol (b): new subject rows [N, d] by inverting the linearised branches (module docstring), fitted on
    ``n_fit`` old subjects (all by default). ``site="resid_post"`` linearises the whole query residual instead."""
    perms = _check_transfer_model(model, task)
    new = _check_new(new_perms, perms)
    R, N = perms.shape
    acts = query_activations(model, perms)
    if site not in ("mlp_out", "resid_post"):
        raise ValueError(f"site must be 'mlp_out' or 'resid_post', got {site!r}")
    Y = getattr(acts, site)  # [N, R, d]
    subjects = _fit_subjects(N, n_fit, seed)
    fits = [_fit_on(acts.embed, Y[:, r], subjects, seed) for r in range(R)]
    inverse = torch.argsort(perms, dim=1)  # inverse[r, a] = pi_r^{-1}(a)
    A = torch.cat([f.W for f in fits], dim=1)  # [d, R d]: e A = [e L_1^T, ..., e L_R^T]
    T = torch.cat([Y[inverse[r, new[r]], r] - fits[r].b for r in range(R)], dim=1)  # [N, R d]
    return torch.linalg.lstsq(A.T, T.T, driver="gelsd").solution.T  # [N, d], min-norm


def reinit_random(model: Transformer, *, seed: int = 0) -> torch.Tensor:
    """Protocol (d): subject rows ~ N(0, 1/d), [N, d], from ``repro.generator(seed, "transfer-random")``."""
    check_model(model)
    N, d = model.config.d_vocab_out, model.config.d_model
    return torch.randn(N, d, generator=repro.generator(seed, "transfer-random"), dtype=F64) / d**0.5


def reinit_lookup(model: Transformer, task, new_perms) -> torch.Tensor:
    """Lookup baseline: e'_s = e_{pi_1^{-1}(pi'_1(s))}, the old row whose first-relation attribute is the new one."""
    perms = _check_transfer_model(model, task)
    new = _check_new(new_perms, perms)
    N = perms.shape[1]
    inverse = torch.argsort(perms[0])
    return model.W_E[:N].detach().to("cpu", F64)[inverse[new[0]]]


def train_subject_embeddings(
    model: Transformer,
    perms,
    *,
    steps: int = 1000,
    lr: float = 1e-2,
    seed: int = 0,
    eval_every: int = 100,
    unembed: torch.Tensor | None = None,
) -> dict:
    """Protocol (c): Adam (no weight decay, full batch, mean cross-entropy over the N R queries) on the subject rows
    W_E[:N] only, from :func:`reinit_random` rows, on a deep copy; every other weight frozen. ``unembed`` [d, N]
    replaces W_U in the copy first. Returns ``steps`` and ``accuracy`` lists (evaluated every ``eval_every`` steps
    and at the end), the final ``final`` accuracy and the trained ``model``."""
    perms = _check_transfer_model(model, perms)
    check_int("steps", steps, 0)
    check_int("eval_every", eval_every, 1)
    check_float("lr", lr, 0.0, lo_open=True)
    R, N = perms.shape
    net = with_subject_embeddings(model, reinit_random(model, seed=seed))
    if unembed is not None:
        if not isinstance(unembed, torch.Tensor) or unembed.shape != tuple(model.W_U.shape):
            raise ValueError(
                f"unembed must be a tensor shaped like W_U {tuple(model.W_U.shape)}, "
                f"got {getattr(unembed, 'shape', type(unembed))}"
            )
        check_finite("unembed", unembed)
        with torch.no_grad():
            net.unembed.W_U.copy_(unembed.to(net.device, net.dtype))
    for p in net.parameters():
        p.requires_grad_(False)
    W_E = net.embed.W_E
    W_E.requires_grad_(True)
    mask = torch.zeros(W_E.shape[0], 1, dtype=W_E.dtype, device=W_E.device)
    mask[:N] = 1.0
    W_E.register_hook(lambda grad: grad * mask)  # relation rows get zero gradient, so Adam leaves them exactly
    opt = torch.optim.Adam([W_E], lr=lr)
    tokens = query_tokens(N, R).to(net.device)
    target = perms.T.reshape(-1).to(net.device)
    curve_steps, curve_acc = [], []

    def record(step: int) -> None:
        net.eval()
        curve_steps.append(step)
        curve_acc.append(recall_accuracy(net, perms))

    record(0)
    net.train()
    for step in range(1, steps + 1):
        loss = F.cross_entropy(net(tokens, last_only=True)[:, -1], target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % eval_every == 0 or step == steps:
            record(step)
            net.train()
    W_E.requires_grad_(False)
    net.eval()
    return {"steps": curve_steps, "accuracy": curve_acc, "final": curve_acc[-1], "model": net}


def random_network(model: Transformer, seed: int) -> Transformer:
    """An untrained network of the same config and dtype (init seed derived from ``seed``)."""
    init_seed = repro.stream_seed(seed, "transfer-random-net") % 2**31
    return Transformer(replace(model.config, init_seed=init_seed, freeze_embed=False)).to(model.dtype).eval()


def where_facts_live(model: Transformer, task, *, steps: int = 1000, lr: float = 1e-2, seed: int = 0) -> dict:
    """Re-store the model's own facts in fresh subject rows (protocol (c)) through the frozen network with W_U
    ``as_trained``, ``shuffled`` (attribute columns permuted by a seeded permutation: the same geometry with a
    relabelling that ignores the facts) and ``gaussian`` (columns drawn from N(mean, covariance) of the trained
    columns: a bijection-independent code fitted to W_U's second moments). If ``as_trained`` clearly beats
    ``shuffled``, W_U's labelling is co-adapted to the bijections, i.e. W_U carries facts."""
    perms = _check_transfer_model(model, task)
    N = perms.shape[1]
    W_U = model.W_U.detach().to("cpu", F64)  # [d, N]
    g = repro.generator(seed, "where-facts")
    shuffled = W_U[:, torch.randperm(N, generator=g)]
    mean = W_U.mean(1, keepdim=True)
    cov = torch.cov(W_U) + 1e-12 * torch.eye(W_U.shape[0], dtype=F64)
    gaussian = mean + torch.linalg.cholesky(cov) @ torch.randn(W_U.shape[0], N, generator=g, dtype=F64)
    out = {}
    for name, U in (("as_trained", None), ("shuffled", shuffled), ("gaussian", gaussian)):
        out[name] = train_subject_embeddings(
            model, perms, steps=steps, lr=lr, seed=seed, eval_every=max(steps, 1), unembed=U
        )["final"]
    return out


@dataclass(frozen=True, kw_only=True)
class TransferResult:
    """Accuracy on the new facts per protocol (module docstring); ``asdict()`` gives a tidy record."""

    old_accuracy: float  # the model on its own facts
    superposition: float  # (a)
    selector_inverse: float  # (b)
    random: float  # (d), chance about 1/N
    lookup: float  # about 1/R + (1 - 1/R)/N
    trained: float  # (c), final
    random_network: float  # (c'), final
    trained_steps: tuple[int, ...]
    trained_curve: tuple[float, ...]
    random_network_curve: tuple[float, ...]
    chance: float

    def asdict(self) -> dict:
        return asdict(self)


def transfer_all(
    model: Transformer, task, *, seed: int = 0, steps: int = 1000, lr: float = 1e-2, eval_every: int = 100
) -> TransferResult:
    """Every protocol on one draw of new bijections (``new_bijections(N, R, seed=seed)``); ``steps = 0`` skips the
    training protocols (c) and (c'), whose curves then hold only step 0."""
    perms = _check_transfer_model(model, task)
    R, N = perms.shape
    new = new_bijections(N, R, seed=seed)

    def acc(E: torch.Tensor) -> float:
        return recall_accuracy(with_subject_embeddings(model, E), new)

    trained = train_subject_embeddings(model, new, steps=steps, lr=lr, seed=seed, eval_every=eval_every)
    control = train_subject_embeddings(
        random_network(model, seed), new, steps=steps, lr=lr, seed=seed, eval_every=eval_every
    )
    return TransferResult(
        old_accuracy=recall_accuracy(model, perms),
        superposition=acc(reinit_superposition(model, perms, new, seed=seed)),
        selector_inverse=acc(reinit_selector_inverse(model, perms, new, seed=seed)),
        random=acc(reinit_random(model, seed=seed)),
        lookup=acc(reinit_lookup(model, perms, new)),
        trained=trained["final"],
        random_network=control["final"],
        trained_steps=tuple(trained["steps"]),
        trained_curve=tuple(trained["accuracy"]),
        random_network_curve=tuple(control["accuracy"]),
        chance=1.0 / N,
    )
