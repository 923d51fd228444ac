"""The superposition construction for disjoint attribute sets, as an ordinary ``models.Transformer`` [recon].

Relation r answers a_r(s) in [0, D) from its own block of D output classes (class r*D + a; see
``georecall.tasks.disjoint``). The block construction of the shared-attribute case carries over with codes for
the D answers of one relation instead of all N attributes, so the width depends on R and log D, not on S:

    k = ceil(log2 D)   (k = 0 when D = 1),      d = R k + R + k,      m = 2 R k   (the model keeps >= 1 unit)

    residual coordinates:  [ subject blocks S_1..S_R (R k) | gates (R) | output block O (k) ]
    W_E[s]      = e_s = sum_r Q_r u_{a_r(s)},  u_a = sign code of a in {±1/sqrt(k)}^k, Q_r = isometry onto S_r
    W_E[S + r]  = v_r, the unit vector on gate coordinate r
    W_pos = 0,  W_Q = W_K = 0 (uniform attention over [s, r]),  W_V W_O = 2 Pi_S
        => resid_mid at the last position = e_s + v_r
    MLP (ReLU pair selector), b_in = -B with B = 1/sqrt(k):
        h^±_{r'j} = ReLU(±<Q_{r'} eps_j, x> + B <v_{r'}, x> - B),   W_out: h^+ - h^- -> P_O eps_j
        gate open (r' = r): h^+ - h^- = (Q_r^T x)_j = u_{a_r(s)}[j];  closed (r' != r): both 0 since |z| <= B
        => resid_post = e_s + v_r + P_O u_{a_r(s)}
    Unembedding, class (r', a'):  W_U[:, r' D + a'] = P_O u_{a'} + lambda v_{r'},   lambda = 2 / max(k, 1)
        => logit(r', a') = <u_{a'}, u_{a_r(s)}> + lambda [r' = r]

Separating the relations costs no coordinate: the attention copies only the subject space and the MLP
writes only O, so v_r is still in the residual at the readout and the gate coordinate doubles as a relation
tag. Margins: the correct class scores 1 + lambda; a wrong answer of the same relation at most
1 - 2/k + lambda (distinct sign codes differ in >= 1 of k coordinates); any answer of another relation at
most 1. So every fact is recalled with margin >= 2 / max(k, 1), and the bound is attained (some answer's
code has a Hamming-1 neighbour among the first D codes, and with R >= 2 the same answer of another relation
scores exactly 1).

Edge cases. D not a power of two: the first D of the 2^k sign codes are used; nothing else changes. D = 1:
k = 0, the subject rows are zero (each relation has one answer: the task holds no bits), d = R, the MLP is one
all-zero unit, and the tag alone gives margin lambda = 2. A longer code (``k`` > ceil(log2 D), e.g. k = 1 at
D = 1) also works, with margin 2/k. D = S with bijections is the shared-attribute block construction
with R*S disjoint classes (the subject rows equal ``construct.build_block``'s for the same table).

Only W_E[:S] depends on the fact table; every other weight depends on (R, D, k) alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .._checks import check_int
from ..model.recall import evaluate_recall
from ..model.transformer import ModelConfig, Transformer
from ..tasks.disjoint import DisjointTask, make_disjoint_task
from ..theory.bijection import gated_dimension, gated_width
from .bijection import sign_codes

__all__ = [
    "DisjointRecipe",
    "disjoint_recipe",
    "disjoint_codes",
    "disjoint_subject_embeddings",
    "build_disjoint",
    "construction_margins",
    "MARGIN_EDGES",
]

_MAX_K = 62  # sign codes index answers by their bits; int64 answers have at most 62 useful bits here


def _min_code_length(D: int) -> int:
    """ceil(log2 D), 0 at D = 1 (same as ``theory.disjoint.disjoint_code_length``)."""
    return (D - 1).bit_length()


def disjoint_codes(D: int, k: int, *, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """The first D sign codes of length k, [D, k], u_a[j] = (2 bit_j(a) - 1) / sqrt(k); [D, 0] when k = 0.

    >>> disjoint_codes(3, 2) * 2**0.5
    tensor([[-1., -1.],
            [ 1., -1.],
            [-1.,  1.]], dtype=torch.float64)
    >>> disjoint_codes(1, 0).shape
    torch.Size([1, 0])
    """
    check_int("D (n_answers)", D, 1)
    check_int("k (code length)", k, 0, _MAX_K)
    if D > 2**k:
        raise ValueError(
            f"k (code length) = {k} gives only 2^{k} = {2**k} sign codes, fewer than D = {D}; "
            f"use k >= {_min_code_length(D)}"
        )
    if k == 0:
        return torch.zeros(D, 0, dtype=dtype)
    return sign_codes(D, k, dtype=dtype)


@dataclass(frozen=True, kw_only=True)
class DisjointRecipe:
    """Everything in the construction except the fact table: R, D, the code length k and the derived sizes."""

    n_relations: int  # R
    n_answers: int  # D
    k: int  # code length, >= ceil(log2 D); 0 allowed only at D = 1

    def __post_init__(self) -> None:
        check_int("n_relations (R)", self.n_relations, 1)
        check_int("n_answers (D)", self.n_answers, 1)
        lo = _min_code_length(self.n_answers)
        check_int("k (code length)", self.k, lo, _MAX_K)
        if self.n_relations * self.n_answers < 2:
            raise ValueError("n_relations (R) * n_answers (D) must be >= 2 (a model needs two output classes)")

    @property
    def R(self) -> int:
        return self.n_relations

    @property
    def D(self) -> int:
        return self.n_answers

    @property
    def d_model(self) -> int:
        """d = R k + R + k."""
        return gated_dimension(self.R, self.k)

    @property
    def d_mlp(self) -> int:
        """max(1, 2 R k): one ReLU pair per (relation, code coordinate); one idle unit when k = 0."""
        return max(1, gated_width(self.R, self.k))

    @property
    def gate(self) -> float:
        """B = 1/sqrt(k) = max |u_a[j]|: closed gates stay shut (0 when k = 0: there are no units to gate)."""
        return 1.0 / math.sqrt(self.k) if self.k else 0.0

    @property
    def tag(self) -> float:
        """lambda = 2 / max(k, 1), the weight of the relation tag v_r in W_U."""
        return 2.0 / max(self.k, 1)

    @property
    def min_margin(self) -> float:
        """2 / max(k, 1): the smallest correct-minus-best-wrong logit over all facts (see the module docstring)."""
        return 2.0 / max(self.k, 1)

    def describe(self) -> str:
        return (
            f"disjoint block construction: R={self.R}, D={self.D}, k={self.k}, d={self.d_model}, m={self.d_mlp}, "
            f"B={self.gate:.3g}, lambda={self.tag:.3g}, margin={self.min_margin:.3g}"
        )


def disjoint_recipe(n_relations: int, n_answers: int, *, k: int | None = None) -> DisjointRecipe:
    """The recipe for R relations with D answers each; k = ceil(log2 D) by default (0 at D = 1)."""
    check_int("n_answers (D)", n_answers, 1)
    return DisjointRecipe(
        n_relations=n_relations, n_answers=n_answers, k=_min_code_length(n_answers) if k is None else k
    )


def _answers_of(task) -> tuple[torch.Tensor, int]:
    if isinstance(task, DisjointTask):
        return task.answers, task.D
    raise TypeError(f"task must be a DisjointTask, got {type(task).__name__}")


def disjoint_subject_embeddings(
    recipe: DisjointRecipe, answers: torch.Tensor, *, dtype: torch.dtype = torch.float64
) -> torch.Tensor:
    """e_s = sum_r Q_r u_{a_r(s)}, [S, R k]: relation r's code of a_r(s) on block r. The only table-dependent part."""
    answers = torch.as_tensor(answers)
    if answers.ndim != 2 or answers.shape[0] != recipe.R:
        raise ValueError(f"answers must be [R, S] with R = {recipe.R}, got {tuple(answers.shape)}")
    if answers.numel() and (int(answers.min()) < 0 or int(answers.max()) >= recipe.D):
        raise ValueError(f"answers must lie in [0, {recipe.D - 1}] (D = {recipe.D})")
    u = disjoint_codes(recipe.D, recipe.k, dtype=dtype)  # [D, k]
    return u[answers].permute(1, 0, 2).reshape(answers.shape[1], recipe.R * recipe.k)  # [S, R k], block r = u_{a_r(s)}


def build_disjoint(task: DisjointTask, *, k: int | None = None, dtype: torch.dtype = torch.float64) -> Transformer:
    """The exact construction for ``task``: a ``models.Transformer`` (one head, n_ctx = 2, d = R k + R + k,
    d_mlp = max(1, 2 R k)) in ``dtype`` that answers every fact ``[s, S + r]`` with class r*D + a_r(s) at
    margin >= 2 / max(k, 1). See the module docstring for the weights and the proof.

    >>> from georecall.tasks.disjoint import make_disjoint_task
    >>> model = build_disjoint(make_disjoint_task(100, 4, 5, seed=0))
    >>> model.config.d_model, model.config.d_mlp, model.config.d_vocab_out
    (19, 24, 20)
    """
    answers, D = _answers_of(task)
    R, S = answers.shape
    recipe = disjoint_recipe(R, D, k=k)
    k, d, m, B, lam = recipe.k, recipe.d_model, recipe.d_mlp, recipe.gate, recipe.tag
    d_s = R * k
    gates = torch.arange(d_s, d_s + R)  # gate coordinate of relation r (also its tag)
    out = torch.arange(d_s + R, d)  # output block O, k coordinates
    cfg = ModelConfig(d_vocab=S + R, d_vocab_out=R * D, n_ctx=2, d_model=d, n_heads=1, d_mlp=m)
    model = Transformer(cfg).to(dtype)
    u = disjoint_codes(D, k, dtype=dtype)  # [D, k]
    eye = torch.eye(k, dtype=dtype)
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        model.embed.W_E[:S, :d_s] = disjoint_subject_embeddings(recipe, answers, dtype=dtype)  # e_s
        model.embed.W_E[S + torch.arange(R), gates] = 1.0  # v_r
        attn = model.blocks[0].attn  # W_Q = W_K = 0: weights 1/2 on [s, r]; W_V W_O = 2 Pi_S
        attn.W_V[0, torch.arange(d_s), torch.arange(d_s)] = 1.0
        attn.W_O[0] = 2.0 * torch.eye(d, dtype=dtype)
        mlp = model.blocks[0].mlp
        for r in range(R if k else 0):
            block = slice(r * k, (r + 1) * k)  # Q_r: isometry onto subject block r
            plus = slice(r * 2 * k, r * 2 * k + k)  # units h^+_{r, 0..k-1}
            minus = slice(r * 2 * k + k, (r + 1) * 2 * k)  # units h^-_{r, 0..k-1}
            mlp.W_in[block, plus] = eye
            mlp.W_in[block, minus] = -eye
            mlp.W_in[gates[r], r * 2 * k : (r + 1) * 2 * k] = B
            mlp.W_out[plus, out] = eye
            mlp.W_out[minus, out] = -eye
        if k:
            mlp.b_in.fill_(-B)
        W_U = model.unembed.W_U  # [d, R D]
        for r in range(R):
            cols = slice(r * D, (r + 1) * D)
            W_U[out, cols] = u.T  # P_O u_a
            W_U[gates[r], cols] = lam  # relation tag
    model.eval()
    return model


MARGIN_EDGES = tuple(i / 20 for i in range(0, 61))  # margin histogram bins on [0, 3] (clipped), width 0.05


def construction_margins(
    n_subjects: int, n_relations: int, n_answers: int, *, k: int | None = None, seed: int = 0
) -> dict:
    """Build the construction for ``make_disjoint_task(S, R, D, seed)`` and score every fact through the model's
    forward pass (``recall.evaluate_recall``): the explorer's one computation.

    Returns ``{"recipe", "accuracy", "min_margin", "n_facts", "counts", "edges"}``: ``counts`` is the histogram of the
    per-fact margins (correct minus best wrong logit, clipped to [0, 3]) over ``MARGIN_EDGES``."""
    task = make_disjoint_task(n_subjects, n_relations, n_answers, seed=seed)
    model = build_disjoint(task, k=k)
    ev = evaluate_recall(model, task.single_hop(), return_margins=True)
    edges = torch.tensor(MARGIN_EDGES, dtype=torch.float64)
    clipped = ev.margins.clamp(edges[0], edges[-1])
    counts = torch.histc(clipped, bins=len(edges) - 1, min=float(edges[0]), max=float(edges[-1]))
    return dict(
        recipe=disjoint_recipe(n_relations, n_answers, k=k),
        accuracy=ev.accuracy,
        min_margin=ev.min_margin,
        n_facts=ev.n_facts,
        counts=[int(c) for c in counts],
        edges=MARGIN_EDGES,
    )
