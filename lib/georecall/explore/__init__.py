"""What a reader runs live in a chapter: the explorers (ipywidgets controls that recompute and redraw), and the
building blocks the chapters call in their cells, re-exported from the stages below so that a chapter imports from
at most four subpackages (``theory``, ``analyse``, ``plot`` and this one, or ``construct`` / ``sweep`` instead).

Explorers of Chapters 1 to 3 and the shared controls are in :mod:`.bijection`; one module per study:
:mod:`.probing`, :mod:`.crossset`, :mod:`.multihop`, :mod:`.disjoint`, :mod:`.layers`.
"""

from ..construct import (
    block_recipe,
    build,
    build_block,
    built_param_counts,
    compare_weights,
    dense_accuracy_sweep,
    dense_accuracy_table,
    exactness_table,
    sign_codes,
    snapshot,
    superposition_parts,
    weight_summary,
)
from ..construct.disjoint import construction_margins
from ..construct.multihop import build_cot, build_no_cot
from ..model import ModelConfig, Transformer, evaluate_recall, hidden_activations
from ..model.multihop import (
    chain,
    cot_gate_steps,
    cot_sequences,
    evaluate_multihop,
    no_cot_facts,
    no_cot_tokens,
    path_gate_matrix,
    paths,
)
from ..probe import attribute_codes, superposition_fit
from ..tasks import make_disjoint_task, make_task
from ..train import BOOK_RECIPE, TrainConfig, fit, train
from . import crossset, disjoint, layers, multihop, probing
from .bijection import (
    budget_explorer,
    capacity_inspector,
    construction_explorer,
    construction_twin,
    construction_view,
    explorer,
    int_slider,
    log2_slider,
    train_live,
    training_explorer,
)

__all__ = [
    "disjoint",
    "crossset",
    "layers",
    "multihop",
    "probing",
    "budget_explorer",
    "capacity_inspector",
    "construction_explorer",
    "construction_twin",
    "construction_view",
    "explorer",
    "int_slider",
    "log2_slider",
    "train_live",
    "training_explorer",
    # the live building blocks
    "make_task",
    "make_disjoint_task",
    "ModelConfig",
    "Transformer",
    "evaluate_recall",
    "hidden_activations",
    "chain",
    "cot_gate_steps",
    "cot_sequences",
    "evaluate_multihop",
    "no_cot_facts",
    "no_cot_tokens",
    "path_gate_matrix",
    "paths",
    "build_cot",
    "build_no_cot",
    "construction_margins",
    "sign_codes",
    "block_recipe",
    "build",
    "build_block",
    "snapshot",
    "exactness_table",
    "superposition_parts",
    "weight_summary",
    "compare_weights",
    "built_param_counts",
    "dense_accuracy_sweep",
    "dense_accuracy_table",
    "TrainConfig",
    "BOOK_RECIPE",
    "fit",
    "train",
    "attribute_codes",
    "superposition_fit",
]
