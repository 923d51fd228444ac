"""Layer-by-layer probes of a model of L layers trained on fact sentences: what the residual stream holds after each
block, which block's attention or MLP the recall needs, and bits per parameter [recon].

The model is the book's :class:`~georecall.model.transformer.Transformer` at any depth L, trained on a
:class:`~georecall.tasks.sentences.SentenceTask`; its residual stream after block l is x_l (l = 0 .. L), with
x_0 = W_E[w] + W_pos (hook ``blocks.0.hook_resid_pre``) and x_{l+1} = block l's output (``blocks.l.hook_resid_post``).
Two tokens are read (:func:`residual_vectors`):

- ``"subject"``: the subject's own position, in the forward training sentences whose subject comes *before* the
  relation word. Attention is causal, so these vectors cannot know which relation the sentence asks; they are
  averaged per subject over those sentences (every subject is written in the same templates, so the average is a
  function of the subject alone):  h_l(s) = mean over those sentences of s of x_l[subject position], [L+1, N, d].
- ``"last"``: the last token before the answer (whose next-token prediction is the answer), in every forward
  training sentence, averaged per fact over the training templates:  g_l(s, r), [L+1, N, R, d].

Probes (Chapter 4's, on held-out subjects from ``probe.storage.subject_split(N, seed)``; attribute vectors
u_a = ``attribute_codes(W_U[:, :N])``, the model's own unembedding columns of the N entity words):

- ``superposition_r2``: the tied superposition fit h_l(s) ~ sum_r A_r u_{pi_r(s)} + b (ridge, the penalty chosen on
  validation subjects), held-out R^2 = 1 - sum ||h - h_hat||^2 / sum ||h - mean h||^2 (``probe.storage.
  superposition_fit``). At the last token the same fit of g_l(s, r) for each relation, averaged over r. NaN where the
  vectors do not depend on the subject (the last token's x_0 is a template word's embedding).
- ``decoder_accuracy``: per relation r a ridge map D_r with D_r h_l(s) ~ u_{pi_r(s)}; the share of held-out s with
  argmax_a <u_a, D_r h_l(s)> = pi_r(s) (chance 1/N), averaged over r (``probe.storage.relation_decoders``). At the
  last token D_r reads g_l(s, r).
- ``logit_lens`` (last token only, nothing fitted): the share of facts (s, r) with argmax_{a < N} <W_U[:, a],
  g_l(s, r)> = pi_r(s), the model's own entity readout applied to layer l (at l = L: the averaged sentences' answer).
  NaN at the subject token, which does not know the relation.

Controls (:data:`CONTROLS`): ``trained`` (the model and its facts), ``random_network`` (the same architecture
untrained, ``probe.transfer.random_network``: its own vectors and its own W_U codes) and ``shuffled_labels`` (the
trained model's vectors with the attribute tuples permuted across subjects, pi'_r(s) = pi_r(sigma(s)) for one seeded
permutation sigma: the geometry kept, the facts broken).

:func:`mean_ablation` replaces one block's attention or MLP output by its mean over the training sentences (per
position) and measures recall on the trained forward facts; :func:`bits_per_parameter` counts
N R log2 N bits of facts against every parameter.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .. import repro
from .._checks import ArgumentTypeError, check_budget, check_choice, check_int
from ..model.compat import check_model
from ..model.recall import DEFAULT_MAX_BYTES
from ..model.transformer import Transformer, check_model_and_data
from ..tasks.sentences import SentenceSet, SentenceTask
from .inputs import F64
from .storage import attribute_codes, relation_decoders, superposition_fit
from .transfer import random_network

__all__ = [
    "TOKENS",
    "METRICS",
    "CONTROLS",
    "COMPONENTS",
    "LITERATURE_BITS_PER_PARAM",
    "ResidualVectors",
    "check_layer_inputs",
    "residual_sites",
    "residual_stream",
    "subject_first",
    "residual_vectors",
    "entity_codes",
    "shuffled_perms",
    "probe_vectors",
    "layer_probes",
    "sentence_recall",
    "component_means",
    "ablated_recall",
    "mean_ablation",
    "bits_per_parameter",
]

TOKENS = ("subject", "last")  # the subject's position (before the relation word), the last token before the answer
METRICS = ("superposition_r2", "decoder_accuracy", "logit_lens")
CONTROLS = ("trained", "random_network", "shuffled_labels")
COMPONENTS = ("attn", "mlp")
# Allen-Zhu & Li 2024, "Physics of Language Models: Part 3.3" (the book's label: [secondary]): about 2 bits per
# parameter for trained language models storing synthetic biographies
LITERATURE_BITS_PER_PARAM = 2.0


@dataclass(frozen=True, eq=False)  # eq=False: tensors have no single truth value
class ResidualVectors:
    """The residual stream x_0 .. x_L at the two tokens (module docstring), float64 on CPU.

    ``subject`` [L+1, N, d]: h_l(s), averaged over ``n_subject_sentences`` sentences per subject;
    ``last`` [L+1, N, R, d]: g_l(s, r), averaged over ``n_last_sentences`` sentences per fact."""

    subject: torch.Tensor
    last: torch.Tensor
    n_subject_sentences: int
    n_last_sentences: int

    @property
    def n_layers(self) -> int:
        """L: the vectors hold layers 0 .. L."""
        return self.subject.shape[0] - 1

    def at(self, token: str) -> torch.Tensor:
        """The vectors of ``token`` (one of :data:`TOKENS`)."""
        check_choice("token", token, TOKENS)
        return self.subject if token == "subject" else self.last


def check_layer_inputs(model, task) -> torch.Tensor:
    """Raise unless ``model`` is a Transformer with finite weights (any depth) that reads ``task``'s sentences (a
    :class:`~georecall.tasks.sentences.SentenceTask`: vocabulary, classes, context and format); returns the
    bijections perms [R, N] with perms[r, s] = pi_r(s)."""
    check_model(model)
    if not isinstance(task, SentenceTask):
        raise ArgumentTypeError(f"task must be a georecall.tasks.sentences.SentenceTask, got {type(task).__name__}")
    check_model_and_data(model, task.split("train").lm_facts(), name="task's sentences")
    return task.facts.perms


def residual_sites(n_layers: int) -> tuple[str, ...]:
    """The hook names of x_0 .. x_L: ``blocks.0.hook_resid_pre``, then ``blocks.l.hook_resid_post`` for l < L.

    >>> residual_sites(2)
    ('blocks.0.hook_resid_pre', 'blocks.0.hook_resid_post', 'blocks.1.hook_resid_post')
    """
    check_int("n_layers", n_layers, 1)
    return ("blocks.0.hook_resid_pre", *(f"blocks.{layer}.hook_resid_post" for layer in range(n_layers)))


@torch.no_grad()
def residual_stream(model: Transformer, tokens: torch.Tensor) -> torch.Tensor:
    """x_0 .. x_L of every position of ``tokens`` [B, T], one forward pass with ``run_with_cache``: [L+1, B, T, d]
    float64 on CPU."""
    check_model(model)
    L = model.config.n_layers
    B, T = tokens.shape if isinstance(tokens, torch.Tensor) and tokens.ndim == 2 else (0, 0)
    check_budget(f"the residual stream of {B} sentences", 8 * (L + 1) * B * T * model.config.d_model, DEFAULT_MAX_BYTES)
    sites = residual_sites(L)
    _, cache = model.run_with_cache(tokens.to(model.device), sites)
    return torch.stack([cache[s].to("cpu", F64) for s in sites])  # [L+1, B, T, d]


def subject_first(task: SentenceTask, sentences: SentenceSet) -> torch.Tensor:
    """[n] bool: forward sentences whose subject (``known_at``) comes before the relation word."""
    c = task.config
    words = sentences.words
    is_rel = (words >= c.n_entities) & (words < task.first_filler)  # [n, T + 1]: one relation word per sentence
    rel_at = is_rel.int().argmax(dim=1)  # [n]
    return ~sentences.inverse & (sentences.known_at < rel_at)


def _mean_by(values: torch.Tensor, index: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-group means of rows ``values`` [L+1, k, d] grouped by ``index`` [k] in [0, n): ([L+1, n, d], counts [n])."""
    sums = torch.zeros(values.shape[0], n, values.shape[2], dtype=F64).index_add_(1, index, values)
    counts = torch.zeros(n, dtype=F64).index_add_(0, index, torch.ones(len(index), dtype=F64))
    return sums / counts.clamp(min=1)[None, :, None], counts


def residual_vectors(model: Transformer, task: SentenceTask) -> ResidualVectors:
    """h_l(s) at the subject token and g_l(s, r) at the last token before the answer (module docstring), from the
    forward training sentences of ``task`` through ``model``."""
    perms = check_layer_inputs(model, task)
    R, N = perms.shape
    train = task.split("train")
    forward = train.subset(~train.inverse)
    first = subject_first(task, forward)
    if not bool(first.any()):
        raise ValueError(
            "task has no training template with the subject before the relation word, so no subject vector can be "
            "read that does not know the relation; use another seed or more n_templates"
        )
    x = residual_stream(model, forward.words[:, :-1])  # [L+1, n, T, d]
    rows = torch.arange(len(forward))
    at_subject = x[:, rows[first], forward.known_at[first]]  # [L+1, n_first, d]
    subject, counts = _mean_by(at_subject, forward.subjects[first], N)
    if bool((counts == 0).any()):  # every subject is written in every training template; a guard, not a rule
        raise ValueError("some subjects have no subject-first training sentence")
    at_last = x[:, rows, forward.query_at]  # [L+1, n, d]
    last, per_fact = _mean_by(at_last, forward.subjects * R + forward.relations, N * R)
    return ResidualVectors(
        subject=subject,
        last=last.reshape(x.shape[0], N, R, -1),
        n_subject_sentences=int(counts.min()),
        n_last_sentences=int(per_fact.min()),
    )


def entity_codes(model: Transformer, N: int, k_prime: int | None = None) -> torch.Tensor:
    """The model's attribute vectors u_a, a < N: Chapter 4's ``attribute_codes`` of the entity words' unembedding
    columns W_U[:, :N] (a sentence model's unembedding covers the whole vocabulary), [N, k']."""
    check_model(model)
    check_int("N (n_entities)", N, 2, model.config.d_vocab_out)
    return attribute_codes(model.W_U[:, :N], k_prime)


def shuffled_perms(perms: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """pi'_r(s) = pi_r(sigma(s)) for one permutation sigma of the subjects from ``repro.generator(seed,
    "layers-shuffle")``: every subject gets another subject's attribute tuple (the shuffled-label control)."""
    sigma = torch.randperm(perms.shape[1], generator=repro.generator(seed, "layers-shuffle"))
    return perms[:, sigma]


def _check_layer(vectors: ResidualVectors, layer) -> int:
    return check_int("layer", layer, 0, vectors.n_layers)


def probe_vectors(
    vectors: ResidualVectors,
    perms: torch.Tensor,
    codes: torch.Tensor,
    *,
    token: str,
    layer: int,
    seed: int = 0,
    unembed: torch.Tensor | None = None,
) -> dict:
    """The probes of layer ``layer`` (0 .. L) at ``token`` (module docstring):

        subject:  superposition_r2 = held-out R^2 of h_l(s) ~ sum_r A_r u_{pi_r(s)} + b
                  decoder_accuracy = mean_r held-out share of argmax_a <u_a, D_r h_l(s)> = pi_r(s)
        last:     the same with g_l(s, r) for relation r (one fit per r, R^2 and accuracy averaged over r), and
                  logit_lens = share of (s, r) with argmax_{a < N} <W_U[:, a], g_l(s, r)> = pi_r(s)

    ``unembed``: the entity columns W_U[:, :N] [d, N] for the logit lens (NaN without them, and at the subject token).
    Returns ``{"superposition_r2", "decoder_accuracy", "decoder_accuracy_per_relation", "logit_lens"}``."""
    if not isinstance(vectors, ResidualVectors):
        raise ArgumentTypeError(f"vectors must be a ResidualVectors, got {type(vectors).__name__}")
    X = vectors.at(token)
    layer = _check_layer(vectors, layer)
    R, N = perms.shape
    if X.shape[1] != N or (token == "last" and X.shape[2] != R):
        raise ValueError(f"perms is [R, N] = {list(perms.shape)} but the vectors hold N={X.shape[1]} subjects")
    if token == "subject":
        r2 = superposition_fit(X[layer], perms, codes, seed=seed)["r2_heldout"]
        acc = relation_decoders(X[layer], perms, codes, seed=seed)["accuracy"]
    else:
        r2s, acc = [], []
        for r in range(R):
            r2s.append(superposition_fit(X[layer, :, r], perms, codes, seed=seed)["r2_heldout"])
            acc.append(relation_decoders(X[layer, :, r], perms[r : r + 1], codes, seed=seed)["accuracy"][0])
        r2 = sum(r2s) / R  # NaN when g_l does not depend on s
    lens = math.nan
    if token == "last" and unembed is not None:
        if not isinstance(unembed, torch.Tensor) or tuple(unembed.shape) != (X.shape[-1], N):
            raise ValueError(
                f"unembed must be W_U[:, :N], a [{X.shape[-1]}, {N}] tensor, got {getattr(unembed, 'shape', unembed)}"
            )
        logits = X[layer] @ unembed.detach().to("cpu", F64)  # [N, R, N]
        lens = float((logits.argmax(-1) == perms.T).double().mean())
    out = {"superposition_r2": r2, "decoder_accuracy": sum(acc) / R, "decoder_accuracy_per_relation": acc}
    return out | {"logit_lens": lens}


def layer_probes(model: Transformer, task: SentenceTask, *, seed: int = 0) -> list[dict]:
    """Every probe of every layer 0 .. L, token and control: records ``{"control", "token", "layer", "metric",
    "value"}`` in the order of :data:`CONTROLS`, :data:`TOKENS`, layer, :data:`METRICS`. ``seed`` seeds the subject
    split, the random network and the shuffled labels."""
    perms = check_layer_inputs(model, task)
    N = perms.shape[1]
    untrained = random_network(model, seed)
    cases = {
        "trained": (model, perms),
        "random_network": (untrained, perms),
        "shuffled_labels": (model, shuffled_perms(perms, seed)),
    }
    out = []
    for control in CONTROLS:
        net, labels = cases[control]
        vectors = residual_vectors(net, task)
        codes = entity_codes(net, N)
        for token in TOKENS:
            for layer in range(vectors.n_layers + 1):
                W = net.W_U[:, :N]
                got = probe_vectors(vectors, labels, codes, token=token, layer=layer, seed=seed, unembed=W)
                out += [
                    {"control": control, "token": token, "layer": layer, "metric": m, "value": float(got[m])}
                    for m in METRICS
                ]
    return out


# --- where the facts live: mean-ablation -------------------------------------------------------------------------

CHUNK = 4096  # sentences per forward pass in the recall and the means


def _check_sentences(model: Transformer, sentences) -> SentenceSet:
    if not isinstance(sentences, SentenceSet):
        raise ArgumentTypeError(f"sentences must be a tasks.sentences.SentenceSet, got {type(sentences).__name__}")
    if len(sentences) == 0:
        raise ValueError("sentences must not be empty")
    check_model_and_data(model, sentences.lm_facts(), name="sentences")
    return sentences


@torch.no_grad()
def sentence_recall(model: Transformer, sentences: SentenceSet, fwd_hooks: dict | None = None) -> float:
    """The share of ``sentences`` whose answer is the argmax over the whole vocabulary at the position before it
    (``query_at``), with ``fwd_hooks`` (``Transformer.hooks``) attached: ``train.evaluate`` on ``recall_facts()``."""
    check_model(model)
    _check_sentences(model, sentences)
    hits = 0
    with model.hooks(fwd_hooks or {}):
        for start in range(0, len(sentences), CHUNK):
            part = sentences.subset(torch.arange(start, min(start + CHUNK, len(sentences))))
            logits = model(part.words[:, :-1].to(model.device))  # [n, T, V]
            pred = logits[torch.arange(len(part)), part.query_at.to(model.device)].argmax(-1)  # [n]
            hits += int((pred.cpu() == part.answers).sum())
    return hits / len(sentences)


def _component_site(layer: int, component: str) -> str:
    return f"blocks.{layer}.hook_{component}_out"


@torch.no_grad()
def component_means(model: Transformer, sentences: SentenceSet) -> torch.Tensor:
    """mu[l, c, t] = the mean of block l's component c output (``attn`` then ``mlp``, :data:`COMPONENTS`) at position
    t over the ``sentences`` whose input has a word at t (t <= length - 2; the padding after a short sentence's answer
    is left out); [L, 2, T, d] in the model's dtype. A position no sentence reaches gets 0."""
    check_model(model)
    _check_sentences(model, sentences)
    L, T, d = model.config.n_layers, sentences.words.shape[1] - 1, model.config.d_model
    sites = [_component_site(layer, c) for layer in range(L) for c in COMPONENTS]
    sums = torch.zeros(L * len(COMPONENTS), T, d, dtype=F64)
    real = (torch.arange(T)[None, :] <= sentences.query_at[:, None]).to(F64)  # [n, T]
    for start in range(0, len(sentences), CHUNK):
        part = slice(start, start + CHUNK)
        _, cache = model.run_with_cache(sentences.words[part, :-1].to(model.device), sites)
        for i, s in enumerate(sites):
            sums[i] += (cache[s].to("cpu", F64) * real[part, :, None]).sum(0)  # [T, d]
    counts = real.sum(0).clamp(min=1)[None, :, None]  # [1, T, 1]
    return (sums / counts).reshape(L, len(COMPONENTS), T, d).to(model.dtype)


def _check_means(model: Transformer, means) -> torch.Tensor:
    L = model.config.n_layers
    if not isinstance(means, torch.Tensor) or means.ndim != 4 or means.shape[1] != len(COMPONENTS):
        shape = getattr(means, "shape", means)
        raise ValueError(f"means must be a [L, 2, T, d] tensor from component_means, got {shape}")
    if means.shape[0] != L or means.shape[3] != model.config.d_model:
        raise ValueError(
            f"means were taken from a model with L={means.shape[0]} layers and d={means.shape[3]}, but this model has "
            f"n_layers={L} and d_model={model.config.d_model}"
        )
    return means


def ablated_recall(
    model: Transformer, task: SentenceTask, *, layer: int, component: str, means: torch.Tensor | None = None
) -> float:
    """Recall on the trained forward facts (``train`` split, not inverse) with block ``layer``'s ``component`` output
    replaced at every position t by mu[layer, component, t] (:func:`component_means` of the training sentences,
    computed here unless given)."""
    check_layer_inputs(model, task)
    layer = check_int("layer", layer, 0, model.config.n_layers - 1)
    c = COMPONENTS.index(check_choice("component", component, COMPONENTS))
    train = task.split("train")
    means = component_means(model, train) if means is None else _check_means(model, means)
    mu = means[layer, c].to(model.device)  # [T, d]

    def replace(x: torch.Tensor, name: str) -> torch.Tensor:
        return mu[: x.shape[-2]].expand_as(x)

    forward = train.subset(~train.inverse)
    return sentence_recall(model, forward, {_component_site(layer, component): replace})


def mean_ablation(model: Transformer, task: SentenceTask) -> list[dict]:
    """For every block l and component c: ``{"layer", "component", "recall", "drop"}`` with recall on the trained
    forward facts under the mean-ablation of (l, c) (:func:`ablated_recall`) and drop = recall(unablated) - recall;
    layer-major, ``attn`` before ``mlp``."""
    check_layer_inputs(model, task)
    train = task.split("train")
    base = sentence_recall(model, train.subset(~train.inverse))
    means = component_means(model, train)
    out = []
    for layer in range(model.config.n_layers):
        for component in COMPONENTS:
            recall = ablated_recall(model, task, layer=layer, component=component, means=means)
            out.append({"layer": layer, "component": component, "recall": recall, "drop": base - recall})
    return out


def bits_per_parameter(model: Transformer, task: SentenceTask) -> dict:
    """b = (number of trained facts) x log2 N / P with P every parameter of the model (embeddings, positions and
    unembedding included): N R facts (s, r, pi_r(s)), each naming one of N entities. Beside it the literature's
    figure for trained LMs, about 2 bits per parameter (Allen-Zhu & Li 2024, [secondary]). N R log2 N counts each
    answer as a free choice among N; the exact information of R random bijections, R log2 N!, is slightly smaller."""
    perms = check_layer_inputs(model, task)
    R, N = perms.shape
    bits = N * R * math.log2(N)
    P = model.n_params()
    return {
        "n_facts": N * R,
        "bits": bits,
        "n_params": P,
        "bits_per_param": bits / P,
        "literature_bits_per_param": LITERATURE_BITS_PER_PARAM,
    }
