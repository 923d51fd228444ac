"""georecall: geometric factual recall in one-layer transformers, as executable notes."""

__version__ = "0.1.0"
CACHE_VERSION = 3  # bump when a cached artifact's meaning changes; old entries are then recomputed (2: batched CE backward; 3: fused step, round-off)
