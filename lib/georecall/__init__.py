"""georecall: geometric factual recall in one-layer transformers, as executable notes."""

__version__ = "0.1.0"
# bump when a cached artifact's meaning or format changes; old entries are then recomputed
# (2: batched CE backward; 3: whole-entry checksum, a `failed` scalar per sweep point)
CACHE_VERSION = 3
