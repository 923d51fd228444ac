"""georecall: geometric factual recall in one-layer transformers, as executable notes."""

__version__ = "0.1.0"
# Bump when a cached artifact's meaning or format changes; old entries are then recomputed.
# 2: batched cross-entropy backward; 3: the fused training step (float round-off moves runs near threshold);
# 4: entries carry a whole-entry checksum and sweep points a `failed` scalar; 5: the faster fused step (short
# sequences position by position, narrow products transposed, denormals flushed): float round-off again.
CACHE_VERSION = 5
