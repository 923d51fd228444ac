"""The one-layer transformer (:mod:`.transformer`), recall of any model on a fact set (:mod:`.recall`), and h-hop
queries, decoding and scoring (:mod:`.multihop`).
"""

from . import multihop, recall, transformer
from .recall import (
    DEFAULT_MAX_BYTES,
    FORWARD,
    FUSED,
    Readout,
    RecallEvaluation,
    evaluate_recall,
    gate_matrix,
    hidden_activations,
    last_residual,
    readout_support,
)
from .transformer import (
    HOOK_NAMES,
    MLP,
    Attention,
    Block,
    Embed,
    HookPoint,
    ModelConfig,
    PosEmbed,
    Transformer,
    Unembed,
    check_model_and_data,
    config_for,
)

__all__ = [
    "multihop",
    "recall",
    "transformer",
    "ModelConfig",
    "HookPoint",
    "Transformer",
    "HOOK_NAMES",
    "check_model_and_data",
    "config_for",
    "Embed",
    "PosEmbed",
    "Attention",
    "MLP",
    "Block",
    "Unembed",
    "DEFAULT_MAX_BYTES",
    "FORWARD",
    "FUSED",
    "RecallEvaluation",
    "evaluate_recall",
    "readout_support",
    "Readout",
    "last_residual",
    "hidden_activations",
    "gate_matrix",
]
