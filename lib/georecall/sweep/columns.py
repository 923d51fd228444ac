"""The columns of every committed table, in the order they are written (no torch, no pandas): the sweep tables'
(one row per trained point), each study's point and measurement columns, and the dense construction's table.
:mod:`georecall.sweep.tables` registers the tables that use them."""

from __future__ import annotations

__all__ = [
    "SWEEP_COLUMNS",
    "POINT_COLUMNS",
    "PROBE_FIELDS",
    "PROBING_COLUMNS",
    "TRANSFER_COLUMNS",
    "GATES_COLUMNS",
    "CROSSSET_POINT_COLUMNS",
    "CROSSSET_COLUMNS",
    "CROSSSET_GATES_COLUMNS",
    "LAYERS_POINT_COLUMNS",
    "LAYERS_COLUMNS",
    "LAYER_PROBES_COLUMNS",
    "LAYER_ABLATION_COLUMNS",
    "DISJOINT_COLUMNS",
    "MULTIHOP_COLUMNS",
    "HELDOUT_POINT_COLUMNS",
    "HELDOUT_COLUMNS",
    "SENTENCE_COLUMNS",
    "DENSE_COLUMNS",
]

SWEEP_COLUMNS = (
    "n_subjects",
    "n_relations",
    "d_model",
    "d_mlp",
    "freeze_embed",
    "data_format",
    "lr",
    "max_steps",
    "seed",
    "device",
    "n_facts",
    "n_params",
    "n_params_trainable",
    "n_params_nonembed",
    "accuracy",
    "loss",
    "steps",
    "reached_target",
    "heldout_accuracy",
    "failed",  # empty, or why training failed (a NaN or infinite loss): such a point never counts as a success
)
# the probing study (preset "probing"; georecall.run.study writes the rows): a point's identity, then its measurements
POINT_COLUMNS = (
    "source",
    "n_subjects",
    "n_relations",
    "d_model",
    "d_mlp",
    "init_scale",
    "tie_embed",
    "freeze_unembed",
    "lr",
    "weight_decay",
    "max_steps",
    "early_stop",
    "seed",
    "device",
)
PROBE_FIELDS = (  # georecall.probe.summary.ProbeSummary's fields but N, R, d, m (a test keeps the two in step)
    "accuracy",
    "superposition_r2",
    "superposition_r2_null",
    "k_prime",
    "decode_accuracy",
    "decode_accuracy_nearest",
    "top_R",
    "unembed_facts",
    "unembed_facts_null",
    "bits_subject_table",
    "selectivity",
    "selectivity_normalised",
    "selectivity_random_net",
    "selectivity_tau",
    "active_units",
    "var_relation",
    "var_subject",
    "var_interaction",
    "linear_branch_r2",
    "restricted_accuracy",
    "gate_ablation_accuracy",
    "gate_ablation_blind_share",
    "swap_success",
    "unit_ablation_max_drop",
    "unit_ablation_selectivity",
    "chance",
)
PROBING_COLUMNS = (*POINT_COLUMNS, "loss", "steps", "steps_to_target", *PROBE_FIELDS, "transfer_steps", "where_facts")
TRANSFER_COLUMNS = (*POINT_COLUMNS, "protocol", "step", "accuracy")
GATES_COLUMNS = (*POINT_COLUMNS, "unit", "relation", "activation")
# the cross-set study (preset "crossset"; georecall.run.crossset writes the rows)
CROSSSET_POINT_COLUMNS = (
    "n_subjects",
    "n_relations",
    "d_model",
    "n_sets",  # K, or "inf"
    "parameterization",
    "steps",
    "lr",
    "sets_per_step",
    "penalty",
    "protocol_steps",
    "seed",
    "device",
)
CROSSSET_COLUMNS = (
    *CROSSSET_POINT_COLUMNS,
    "train_accuracy",
    "train_min_set_accuracy",
    "loss",
    "zs_encoder",  # zero-shot on a fresh draw through the learned encoder (free tables: their joint fit)
    "encoder_fit_r2",
    "zs_superposition",  # Chapter 5's protocols on the shared network, set 0 as the old facts: (a)
    "zs_selector_inverse",  # (b)
    "zs_random",  # (d)
    "zs_lookup",
    "zs_trained",  # (c)
    "zs_random_network",  # (c')
    "zs_untrained_encoder",
    "zs_old_facts",
    "trained_rows_r2",  # held-out superposition R^2 of the rows (c) found
    "chance",
    *(f"probe_{k}" for k in PROBE_FIELDS if k != "chance"),
)
CROSSSET_GATES_COLUMNS = (*CROSSSET_POINT_COLUMNS, "unit", "relation", "activation")
# the layers study (preset "layers"; georecall.run.layers writes the rows): models of L layers on fact sentences
LAYERS_POINT_COLUMNS = (
    "n_entities",
    "n_relations",
    "n_layers",
    "d_model",
    "n_templates",
    "n_heldout",
    "inverse_share",
    "steps",
    "lr",
    "seed",
    "device",
)
LAYERS_COLUMNS = (
    *LAYERS_POINT_COLUMNS,
    "loss",
    "failed",
    "recall_train",  # the trained forward facts, at the answer token
    "recall_heldout_templates",
    "recall_inverse",  # inverse questions of the subjects trained one way only
    "recall_inverse_trained",
    "n_facts",
    "n_params",  # every parameter, embeddings included
    "n_params_nonembed",
    "bits_per_param",  # n_facts log2 N / n_params
    "literature_bits_per_param",
    "n_subject_sentences",  # subject-first training sentences per subject behind the subject-token vectors
)
LAYER_PROBES_COLUMNS = (*LAYERS_POINT_COLUMNS, "layer", "token", "metric", "control", "value")
LAYER_ABLATION_COLUMNS = (*LAYERS_POINT_COLUMNS, "layer", "component", "recall", "drop")
# the disjoint-attribute tables add D, the heads, the (fresh) batch size and what success is judged on
DISJOINT_COLUMNS = SWEEP_COLUMNS + ("n_answers", "n_heads", "batch_size")
MULTIHOP_COLUMNS = (
    "n_subjects",
    "n_relations",
    "hops",
    "data_format",
    "d_model",
    "d_mlp",
    "n_heads",
    "lr",
    "max_steps",
    "seed",
    "device",
    "n_facts",  # N R^h queries
    "n_params",
    "n_params_trainable",
    "n_params_nonembed",
    "accuracy",  # final answer y_h, autoregressively decoded with CoT
    "train_accuracy",  # the trainer's (teacher-forced with CoT: every y_i right)
    "step_accuracy",  # "a_1;...;a_h": decoded accuracy of each generated token (CoT), the final one (no CoT)
    "min_margin",  # smallest correct-minus-best-other logit of the final answer over all queries
    "loss",
    "failed",
    "steps",
    "reached_target",
)
# held-out chains (preset "multihop", experiment "multihop_heldout"; georecall.run.heldout writes the rows)
HELDOUT_POINT_COLUMNS = (  # the fields of sweep.multihop.HeldOutChains
    "n_subjects",
    "n_relations",
    "hops",
    "data_format",
    "d_model",
    "d_mlp",
    "train_fraction",
    "lr",
    "weight_decay",
    "max_steps",
    "eval_every",
    "early_stop",
    "seed",
    "device",
)
HELDOUT_COLUMNS = (
    *HELDOUT_POINT_COLUMNS,
    "n_train",
    "n_heldout",
    "heldout_accuracy",
    "train_accuracy",
    "single_hop_accuracy",
    "chance",
    "last_hop_seen",
    "heldout_min_margin",
    "steps",
    "reached_target",
)
SENTENCE_COLUMNS = (  # the sentence-format capacity sweep (preset "sentences"; georecall.run.sentences scores)
    "n_subjects",
    "n_relations",
    "n_layers",
    "d_model",
    "d_mlp",
    "n_heads",
    "n_templates",
    "n_heldout",
    "n_synonyms",
    "n_fillers",
    "inverse_share",
    "lr",
    "max_steps",
    "seed",
    "device",
    "n_facts",  # N R facts
    "n_params",  # every weight (embeddings, positions, L blocks, unembedding)
    "n_params_trainable",
    "n_params_nonembed",
    "accuracy",  # recall at the answer token on every training sentence (what the run stopped on and is judged on)
    "heldout_templates_accuracy",  # recall on the templates never trained (empty without them)
    "inverse_accuracy",  # recall of the facts asked in the untrained direction (empty without an inverse split)
    "loss",  # cross-entropy at the answer token, training sentences
    "failed",
    "steps",
    "reached_target",
)
DENSE_COLUMNS = ("N", "R", "k", "d_model", "d_subject", "accuracy", "min_margin", "n_facts", "gate")
