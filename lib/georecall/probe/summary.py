"""Every probe's headline number for one model in one call: a tidy record for sweeps and tables [recon].

The probes themselves, with their formulas, are in :mod:`georecall.probe.storage` (representation: superposition,
decoders, the unembedding) and :mod:`georecall.probe.selector` (the MLP as a relation-gated selector).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from .. import repro
from ..model.recall import DEFAULT_MAX_BYTES
from ..model.transformer import Transformer
from . import selector
from .storage import (
    attribute_codes,
    bits_per_weight,
    check_probe_inputs,
    query_activations,
    relation_decoders,
    superposition,
    unembed_fact_decoding,
)

__all__ = ["ProbeSummary", "probe_all"]


@dataclass(frozen=True, kw_only=True)
class ProbeSummary:
    """Headline numbers of every probe (see :func:`probe_all`); ``asdict()`` gives a tidy record."""

    N: int
    R: int
    d: int
    m: int
    accuracy: float  # recall on all N R facts
    superposition_r2: float  # P1 held-out R^2
    superposition_r2_null: float  # P1 against unrelated bijections
    k_prime: int
    decode_accuracy: float  # P2 held-out, mean over relations, dot-product rule (chance 1/N)
    decode_accuracy_nearest: float  # the same with the nearest-code rule
    top_R: float  # P3 (chance about R/N)
    unembed_facts: float  # W_U alone predicts co-subject attributes (chance 1/N)
    unembed_facts_null: float
    bits_subject_table: float
    selectivity: float  # mean sigma_j over active units (1/R indiscriminate, 1 single-relation)
    selectivity_normalised: float  # (sigma - 1/R) / (1 - 1/R), 0 .. 1
    selectivity_random_net: float  # sigma of an untrained network of the same shape: the baseline, not 1/R
    selectivity_tau: float  # mean tau_j: share of a unit's subject variance under its top relation
    active_units: int
    var_relation: float  # shares of activation variance over the N x R grid
    var_subject: float
    var_interaction: float
    linear_branch_r2: float  # P7 held-out, mean over relations
    restricted_accuracy: float  # only each relation's preferred units kept
    gate_ablation_accuracy: float  # relation main effect removed at resid_mid
    gate_ablation_blind_share: float  # ... answer still one of the subject's R attributes
    swap_success: float  # relation swap r -> r' by patching resid_mid: argmax = pi_r'(s)
    unit_ablation_max_drop: float  # largest accuracy drop from zeroing one unit
    unit_ablation_selectivity: float  # share of a unit's drop on its most affected relation (mean over units)
    chance: float  # 1 / N

    def asdict(self) -> dict:
        return asdict(self)


def probe_all(model: Transformer, task, *, seed: int = 0, max_bytes: int = DEFAULT_MAX_BYTES) -> ProbeSummary:
    """Every probe's headline number for one model in one call (a few seconds at N = 256, R = 4).

    The model, the task and the probes' memory (within ``max_bytes``) are checked before anything is computed
    (:func:`~georecall.probe.storage.check_probe_inputs`). Runs on one torch thread: multi-threaded reductions change
    the last bits between calls, and the same seed must give the same numbers."""
    with repro.torch_threads(1):
        return _probe_all(model, task, seed=seed, max_bytes=max_bytes)


def _probe_all(model: Transformer, task, *, seed: int, max_bytes: int) -> ProbeSummary:
    perms = check_probe_inputs(model, task, max_bytes)
    R, N = perms.shape
    acts = query_activations(model, perms)
    E = model.W_E[:N]
    codes = attribute_codes(model.W_U)
    sup = superposition(model, perms, seed=seed)
    dec = relation_decoders(E, perms, codes, seed=seed)
    dec_nearest = relation_decoders(E, perms, codes, seed=seed, rule="nearest")
    wu = unembed_fact_decoding(model.W_U, perms, seed=seed)
    sel = selector.selectivity(acts)
    random_net = Transformer(replace(model.config, init_seed=repro.stream_seed(seed, "probe-random-net") % 2**31))
    sel_random = selector.selectivity(query_activations(random_net, perms))
    var = selector.variance_split(acts)
    swap = selector.relation_swap(model, perms, acts=acts)
    gate = selector.gate_ablation(model, perms, acts=acts)
    abl = selector.unit_ablation(model, perms, acts=acts)
    return ProbeSummary(
        N=N,
        R=R,
        d=model.config.d_model,
        m=model.config.d_mlp,
        accuracy=selector.accuracy_from_logits(acts.logits, perms),
        superposition_r2=sup["r2_heldout"],
        superposition_r2_null=sup["r2_null"],
        k_prime=sup["k_prime"],
        decode_accuracy=dec["accuracy_mean"],
        decode_accuracy_nearest=dec_nearest["accuracy_mean"],
        top_R=dec["top_R"],
        unembed_facts=wu["accuracy"],
        unembed_facts_null=wu["null"],
        bits_subject_table=bits_per_weight(N, R, model.config.d_model)["subject_table"],
        selectivity=sel["mean"],
        selectivity_normalised=sel["normalised"],
        selectivity_random_net=sel_random["mean"],
        selectivity_tau=sel["tau"],
        active_units=sel["active_units"],
        var_relation=var["relation"],
        var_subject=var["subject"],
        var_interaction=var["interaction"],
        linear_branch_r2=selector.linear_branch(acts, seed=seed)["r2_mean"],
        restricted_accuracy=selector.restricted_accuracy(model, perms, acts=acts)["accuracy"],
        gate_ablation_accuracy=gate["accuracy"],
        gate_ablation_blind_share=gate["blind_share"],
        swap_success=swap["success"],
        unit_ablation_max_drop=abl["max_drop"],
        unit_ablation_selectivity=abl["selectivity"],
        chance=1.0 / N,
    )
