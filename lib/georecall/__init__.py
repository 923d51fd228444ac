"""georecall: geometric factual recall in one-layer transformers, as executable notes."""

__version__ = "0.1.0"
# Bump when a cached artifact's meaning changes; old entries are then recomputed.
# 2: batched cross-entropy backward; 3: the fused training step (float round-off moves runs near threshold).
CACHE_VERSION = 3
