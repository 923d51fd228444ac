"""The transformer of the book, one layer by default, L = ``n_layers`` in general, with TransformerLens-style names
and hook points. Block l (l = 0 .. L-1) reads the residual stream x_l and writes x_{l+1}:

    x_0        = W_E[t] + W_pos                        (hook_embed + hook_pos_embed)
    resid_pre  = x_l                                   (blocks.l.hook_resid_pre)
    attn_out   = sum_h softmax_causal(q_h k_h^T / sqrt(d_head)) v_h W_O[h]
    resid_mid  = resid_pre + attn_out                  (blocks.l.hook_resid_mid)
    mlp_out    = ReLU(resid_mid W_in + b_in) W_out     (blocks.l.hook_mlp_out)
    x_{l+1}    = resid_mid + mlp_out                   (blocks.l.hook_resid_post)
    logits     = x_L W_U                               (hook_logits)

No LayerNorm, no attention biases, untied unembedding (``tie_embed`` sets W_U = W_E[:V_out]^T). Trained and
hand-built models (``georecall.construct.bijection``) are instances of the same :class:`Transformer`. At L = 1 the
weights are drawn in the same order from the same stream as the one-layer model always was (W_E, W_pos, block 0,
W_U), so a config that does not name ``n_layers`` gives the same weights and logits; deeper models draw blocks
1 .. L-1 after block 0, before W_U.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from torch import nn

from .. import repro
from .._checks import ArgumentTypeError, check_bool, check_float, check_int, check_seed
from ..tasks.bijection import FactSet, check_tokens

__all__ = ["ModelConfig", "HookPoint", "Transformer", "HOOK_NAMES", "MAX_LAYERS", "BLOCK_HOOKS", "hook_names"]
__all__ += ["check_model_and_data", "config_for"]

MAX_LAYERS = 64  # far beyond what a 2-core CPU trains; a guard against a typo, not a scientific limit
BLOCK_HOOKS = tuple(  # the HookPoints of one block, relative to blocks.l, in forward order
    "hook_resid_pre attn.hook_pattern attn.hook_z hook_attn_out hook_resid_mid mlp.hook_pre mlp.hook_post "
    "hook_mlp_out hook_resid_post".split()
)


def hook_names(n_layers: int = 1) -> tuple[str, ...]:
    """The module paths of an ``n_layers``-layer model's HookPoints, in forward order (a test checks they match):
    hook_embed, hook_pos_embed, then ``blocks.l.<name>`` for l = 0 .. L-1 and every name of ``BLOCK_HOOKS``, then
    hook_logits."""
    check_int("n_layers", n_layers, 1, MAX_LAYERS)
    per_block = (f"blocks.{layer}.{name}" for layer in range(n_layers) for name in BLOCK_HOOKS)
    return ("hook_embed", "hook_pos_embed", *per_block, "hook_logits")


HOOK_NAMES = hook_names(1)  # the one-layer model's names


@dataclass(frozen=True, kw_only=True)
class ModelConfig:
    """Shape and switches of an ``n_layers``-layer transformer. Build one for a task with :meth:`for_task`.

    Initialisation: every weight ~ N(0, (init_scale * sigma)^2) with sigma = d^-1/2 (W_E, W_pos, W_Q, W_K, W_V,
    W_U, W_in), (H d_head)^-1/2 (W_O) and m^-1/2 (W_out); b_in = 0. ``freeze_embed`` keeps W_E and W_U at
    init, ``freeze_unembed`` keeps only W_U (the attribute codes stay random, the subject table learns).
    """

    d_vocab: int = 68  # input tokens: N entities + R relations (+ extras for some formats)
    d_vocab_out: int = 64  # output classes: the N attributes
    n_ctx: int = 2  # sequence length; [s, r] needs 2
    d_model: int = 32  # residual width d: the quantity whose scaling the book studies
    n_heads: int = 1  # one head routes single-hop; h heads for h-hop without CoT
    d_mlp: int = 128  # MLP width m; 4*d by convention, the construction needs 2*R*k
    freeze_embed: bool = False  # keep W_E and W_U at init (the associative-memory control, E2)
    tie_embed: bool = False  # W_U = W_E[:d_vocab_out]^T (a multi-hop ablation)
    freeze_unembed: bool = False  # keep only W_U at init: fixed random attribute codes, learned W_E
    init_scale: float = 1.0  # every initial weight's standard deviation times this
    init_seed: int = 0  # init stream, independent of the task's bijections
    n_layers: int = 1  # L blocks; 1 is the book's model (Chapters 1-6), every construction and the fused trainer
    data_format: str | None = None  # the format of the data the model reads ("single_hop", "noisy", ...); None: any

    def __post_init__(self) -> None:
        check_int("d_vocab", self.d_vocab, 2)
        check_int("d_vocab_out", self.d_vocab_out, 2)
        check_int("n_ctx", self.n_ctx, 1)
        check_int("d_model (d)", self.d_model, 1)
        check_int("n_heads", self.n_heads, 1)
        check_int("d_mlp", self.d_mlp, 1)
        check_bool("freeze_embed", self.freeze_embed)
        check_bool("tie_embed", self.tie_embed)
        check_seed("init_seed", self.init_seed)
        check_int("n_layers", self.n_layers, 1, MAX_LAYERS)
        if self.data_format is not None and not (isinstance(self.data_format, str) and self.data_format):
            raise ArgumentTypeError(f"data_format must be a non-empty str or None, got {self.data_format!r}")
        if self.d_model % self.n_heads:
            raise ValueError(f"n_heads must divide d_model; got d_model={self.d_model}, n_heads={self.n_heads}")
        check_bool("freeze_unembed", self.freeze_unembed)
        if self.freeze_unembed and self.tie_embed:
            raise ValueError("freeze_unembed needs an untied unembedding (tie_embed=False): a tied W_U is W_E's rows")
        check_float("init_scale", self.init_scale, 0.0, 100.0, lo_open=True)
        if self.tie_embed and self.d_vocab_out > self.d_vocab:
            raise ValueError(
                f"tie_embed needs d_vocab_out <= d_vocab; got d_vocab_out={self.d_vocab_out}, d_vocab={self.d_vocab}"
            )

    @property
    def d_head(self) -> int:
        return self.d_model // self.n_heads

    @classmethod
    def for_task(cls, task, d_model: int, *, d_mlp: int | None = None, n_ctx: int = 2, **kwargs) -> "ModelConfig":
        """A config sized for ``task`` (a ``BijectionTask``, ``TaskConfig`` or ``FactSet``); d_mlp defaults to 4*d.

        A ``FactSet`` also fixes ``n_ctx`` (its ``seq_len``) and the model's ``data_format`` (its ``data_format``),
        so the model later refuses data in another format; a task gives the ``[s, r]`` format when n_ctx = 2."""
        cfg = getattr(task, "config", task)
        check_int("d_model (d)", d_model, 1)
        if not all(hasattr(cfg, a) for a in ("d_vocab", "d_vocab_out")):
            raise ArgumentTypeError(f"task must be a BijectionTask, TaskConfig or FactSet, got {type(task).__name__}")
        if hasattr(cfg, "seq_len"):
            n_ctx = cfg.seq_len
            kwargs.setdefault("data_format", cfg.data_format)
        elif n_ctx == 2:
            kwargs.setdefault("data_format", "single_hop")
        return cls(
            d_vocab=cfg.d_vocab,
            d_vocab_out=cfg.d_vocab_out,
            n_ctx=n_ctx,
            d_model=d_model,
            d_mlp=4 * d_model if d_mlp is None else d_mlp,
            **kwargs,
        )

    def check_fits(self, d_vocab: int, d_vocab_out: int, seq_len: int, data_format: str | None = None) -> None:
        """Raise ``ValueError`` if data with these sizes (and this format, when both the data and the model name
        one) cannot run through this model."""
        if data_format is not None and self.data_format is not None and data_format != self.data_format:
            raise ValueError(
                f"the data is in the {data_format!r} format but the model reads {self.data_format!r} data "
                "(ModelConfig.data_format); build a model for this format"
            )
        if d_vocab > self.d_vocab:
            raise ValueError(f"the data uses {d_vocab} input tokens but the model embeds only d_vocab={self.d_vocab}")
        if d_vocab_out != self.d_vocab_out:
            raise ValueError(
                f"the data has {d_vocab_out} output classes but the model has d_vocab_out={self.d_vocab_out}"
            )
        if seq_len > self.n_ctx:
            raise ValueError(f"sequences have length {seq_len} but the model's n_ctx={self.n_ctx}")


class HookPoint(nn.Module):
    """An identity layer that names an activation, so hooks can read or replace it. Its ``name`` is its module
    path in the model (e.g. ``blocks.0.mlp.hook_post``), set once by :class:`Transformer`."""

    def __init__(self):
        super().__init__()
        self.name = ""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def _normal(g: torch.Generator, *shape: int, std: float) -> nn.Parameter:
    return nn.Parameter(torch.randn(*shape, generator=g) * std)


class Embed(nn.Module):
    def __init__(self, W_E: nn.Parameter):
        super().__init__()
        self.W_E = W_E  # [d_vocab, d_model]

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.W_E[tokens]  # [B, T, d]


class PosEmbed(nn.Module):
    def __init__(self, W_pos: nn.Parameter):
        super().__init__()
        self.W_pos = W_pos  # [n_ctx, d_model]

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.W_pos[: tokens.shape[-1]]  # [T, d]


class Attention(nn.Module):
    def __init__(self, cfg: ModelConfig, g: torch.Generator):
        super().__init__()
        H, d, dh = cfg.n_heads, cfg.d_model, cfg.d_head
        self.W_Q = _normal(g, H, d, dh, std=d**-0.5)
        self.W_K = _normal(g, H, d, dh, std=d**-0.5)
        self.W_V = _normal(g, H, d, dh, std=d**-0.5)
        self.W_O = _normal(g, H, dh, d, std=(H * dh) ** -0.5)
        self.scale = 1.0 / math.sqrt(dh)
        self.hook_pattern = HookPoint()
        self.hook_z = HookPoint()

    def forward(self, x: torch.Tensor, last_only: bool) -> torch.Tensor:
        T = x.shape[-2]
        x_q = x[..., -1:, :] if last_only else x  # [B, Tq, d]
        q = torch.einsum("btd,hde->bhte", x_q, self.W_Q)  # [B, H, Tq, dh]
        k = torch.einsum("btd,hde->bhte", x, self.W_K)  # [B, H, T, dh]
        v = torch.einsum("btd,hde->bhte", x, self.W_V)  # [B, H, T, dh]
        scores = torch.einsum("bhqe,bhke->bhqk", q, k) * self.scale  # [B, H, Tq, T]
        q_pos = torch.arange(T - q.shape[-2], T, device=x.device)
        causal = q_pos[:, None] >= torch.arange(T, device=x.device)[None, :]  # [Tq, T]
        scores = scores.masked_fill(~causal, float("-inf"))
        pattern = self.hook_pattern(scores.softmax(dim=-1))  # [B, H, Tq, T]
        z = self.hook_z(torch.einsum("bhqk,bhke->bhqe", pattern, v))  # [B, H, Tq, dh]
        return torch.einsum("bhqe,hed->bqd", z, self.W_O)  # [B, Tq, d]


class MLP(nn.Module):
    def __init__(self, cfg: ModelConfig, g: torch.Generator):
        super().__init__()
        self.W_in = _normal(g, cfg.d_model, cfg.d_mlp, std=cfg.d_model**-0.5)
        self.b_in = nn.Parameter(torch.zeros(cfg.d_mlp))
        self.W_out = _normal(g, cfg.d_mlp, cfg.d_model, std=cfg.d_mlp**-0.5)
        self.hook_pre = HookPoint()
        self.hook_post = HookPoint()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = self.hook_pre(x @ self.W_in + self.b_in)  # [B, T, m]
        post = self.hook_post(torch.relu(pre))  # [B, T, m]
        return post @ self.W_out  # [B, T, d]


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig, g: torch.Generator):
        super().__init__()
        self.attn = Attention(cfg, g)
        self.mlp = MLP(cfg, g)
        self.hook_resid_pre = HookPoint()
        self.hook_attn_out = HookPoint()
        self.hook_resid_mid = HookPoint()
        self.hook_mlp_out = HookPoint()
        self.hook_resid_post = HookPoint()

    def forward(self, resid_pre: torch.Tensor, last_only: bool) -> torch.Tensor:
        resid_pre = self.hook_resid_pre(resid_pre)  # [B, T, d]
        attn_out = self.hook_attn_out(self.attn(resid_pre, last_only))  # [B, Tq, d]
        skip = resid_pre[..., -1:, :] if last_only else resid_pre
        resid_mid = self.hook_resid_mid(skip + attn_out)  # [B, Tq, d]
        mlp_out = self.hook_mlp_out(self.mlp(resid_mid))  # [B, Tq, d]
        return self.hook_resid_post(resid_mid + mlp_out)  # [B, Tq, d]


class Unembed(nn.Module):
    def __init__(self, W_U: nn.Parameter | None, embed: Embed, d_vocab_out: int):
        super().__init__()
        if W_U is not None:
            self.W_U = W_U  # [d_model, d_vocab_out]
        self._embed = [embed]  # a list, so the tied embedding is not registered twice
        self.d_vocab_out = d_vocab_out
        self.tied = W_U is None

    @property
    def weight(self) -> torch.Tensor:
        """W_U, the tied view W_E[:d_vocab_out]^T when tied."""
        return self._embed[0].W_E[: self.d_vocab_out].T if self.tied else self.W_U

    def forward(self, resid: torch.Tensor) -> torch.Tensor:
        return resid @ self.weight  # [B, T, V_out]


class Transformer(nn.Module):
    """The transformer of ``config.n_layers`` blocks; ``forward(tokens)`` returns logits [B, T, d_vocab_out].

    >>> cfg = ModelConfig(d_vocab=10, d_vocab_out=8, n_ctx=2, d_model=4, d_mlp=8)
    >>> Transformer(cfg)(torch.tensor([[0, 9]])).shape
    torch.Size([1, 2, 8])
    """

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        g = repro.generator(config.init_seed, "init")
        d = config.d_model
        self.embed = Embed(_normal(g, config.d_vocab, d, std=d**-0.5))
        self.pos_embed = PosEmbed(_normal(g, config.n_ctx, d, std=d**-0.5))
        self.blocks = nn.ModuleList([Block(config, g) for _ in range(config.n_layers)])  # drawn in layer order
        W_U = None if config.tie_embed else _normal(g, d, config.d_vocab_out, std=d**-0.5)
        self.unembed = Unembed(W_U, self.embed, config.d_vocab_out)
        self.hook_embed = HookPoint()
        self.hook_pos_embed = HookPoint()
        self.hook_logits = HookPoint()
        for name, module in self.named_modules():  # hook names are the module paths (TransformerLens names)
            if isinstance(module, HookPoint):
                module.name = name
        if config.init_scale != 1.0:  # std -> init_scale * std for every drawn weight (b_in starts at zero)
            with torch.no_grad():
                for p in self.parameters():
                    p.mul_(config.init_scale)
        if config.freeze_embed:
            self.embed.W_E.requires_grad_(False)
        if (config.freeze_embed or config.freeze_unembed) and not config.tie_embed:
            self.unembed.W_U.requires_grad_(False)

    # --- weights under their mathematical names -------------------------------------------------
    @property
    def W_E(self) -> torch.Tensor:
        return self.embed.W_E

    @property
    def W_pos(self) -> torch.Tensor:
        return self.pos_embed.W_pos

    @property
    def W_U(self) -> torch.Tensor:
        return self.unembed.weight

    @property
    def W_in(self) -> torch.Tensor:
        return self.one_layer("W_in").mlp.W_in

    @property
    def b_in(self) -> torch.Tensor:
        return self.one_layer("b_in").mlp.b_in

    @property
    def W_out(self) -> torch.Tensor:
        return self.one_layer("W_out").mlp.W_out

    def one_layer(self, what: str) -> Block:
        """The only block, for ``what`` (an analysis or a name that reads one layer); ``ValueError`` when L > 1."""
        if self.config.n_layers != 1:
            raise ValueError(
                f"{what} reads a one-layer model, but this model has n_layers={self.config.n_layers}; "
                "read the layer you mean through model.blocks[l] or the hooks blocks.l.*"
            )
        return self.blocks[0]

    @property
    def dtype(self) -> torch.dtype:
        return self.embed.W_E.dtype

    @property
    def device(self) -> torch.device:
        return self.embed.W_E.device

    def forward(self, tokens: torch.Tensor, *, last_only: bool = False) -> torch.Tensor:
        """Logits [B, T, V_out], or [B, 1, V_out] at the last position when ``last_only``."""
        return self.hook_logits(self.unembed(self.resid_post(tokens, last_only=last_only)))  # [B, Tq, V_out]

    def check_tokens(self, tokens) -> None:
        """Raise unless ``tokens`` is an integer tensor [B, T] with 1 <= T <= n_ctx and ids in [0, d_vocab)."""
        check_tokens("tokens", tokens, self.config.d_vocab, max_len=self.config.n_ctx)

    def resid_post(self, tokens: torch.Tensor, *, last_only: bool = False) -> torch.Tensor:
        """The forward pass up to the unembedding: the last block's resid_post [B, T, d] (or [B, 1, d] when
        ``last_only``: every block but the last runs on all positions, which later blocks' attention reads)."""
        self.check_tokens(tokens)
        check_bool("last_only", last_only)
        embed = self.hook_embed(self.embed(tokens))  # [B, T, d]
        pos = self.hook_pos_embed(self.pos_embed(tokens))  # [T, d]
        x = embed + pos  # [B, T, d]
        for block in self.blocks[:-1]:
            x = block(x, False)  # [B, T, d]
        return self.blocks[-1](x, last_only)  # [B, Tq, d]

    # --- hooks ------------------------------------------------------------------------------------
    def hook_points(self) -> dict[str, HookPoint]:
        """Every hook point by its TransformerLens name."""
        return {m.name: m for m in self.modules() if isinstance(m, HookPoint)}

    @contextlib.contextmanager
    def hooks(self, fwd_hooks: dict[str, Callable[[torch.Tensor, str], torch.Tensor | None]]) -> Iterator[None]:
        """Temporarily attach ``fn(activation, name)`` at named hook points; a returned tensor replaces it.

        Hooks are always removed on exit, also after an exception.
        """
        points = self.hook_points()
        unknown = sorted(set(fwd_hooks) - set(points))
        if unknown:
            raise KeyError(f"unknown hook point(s) {unknown}; valid names: {sorted(points)}")
        handles = []
        try:
            for name, fn in fwd_hooks.items():
                handles.append(points[name].register_forward_hook(lambda mod, inp, out, fn=fn: fn(out, mod.name)))
            yield
        finally:
            for h in handles:
                h.remove()

    @torch.no_grad()
    def run_with_cache(
        self, tokens: torch.Tensor, names: tuple[str, ...] | list[str] | None = None, *, last_only: bool = False
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Run the model and return ``(logits, cache)`` with the activation at every (or each named) hook point."""
        cache: dict[str, torch.Tensor] = {}

        def store(x: torch.Tensor, name: str) -> None:
            cache[name] = x.detach()

        wanted = list(self.hook_points() if names is None else names)
        with self.hooks({n: store for n in wanted}):
            logits = self(tokens, last_only=last_only)
        return logits, cache

    def n_params(self, *, trainable_only: bool = False, include_embeddings: bool = True) -> int:
        """Parameter count; ``include_embeddings=False`` drops W_E, W_U and W_pos (the N-dependent tables)."""
        total = 0
        for name, p in self.named_parameters():
            if trainable_only and not p.requires_grad:
                continue
            if not include_embeddings and name in ("embed.W_E", "unembed.W_U", "pos_embed.W_pos"):
                continue
            total += p.numel()
        return total


def check_model_and_data(model, data, *, name: str = "data") -> None:
    """Raise unless ``model`` is a :class:`Transformer` and ``data`` a ``FactSet`` it can read: vocabulary,
    classes, sequence length and format (:meth:`ModelConfig.check_fits`)."""
    if not isinstance(model, Transformer):
        raise ArgumentTypeError(f"model must be a georecall.model.transformer.Transformer, got {type(model).__name__}")
    if not isinstance(data, FactSet):
        raise ArgumentTypeError(f"{name} must be a georecall.tasks.bijection.FactSet, got {type(data).__name__}")
    model.config.check_fits(data.d_vocab, data.d_vocab_out, data.seq_len, data.data_format)


def config_for(data: FactSet, d_model: int, *, n_heads: int = 1, d_mlp: int | None = None, **kwargs) -> ModelConfig:
    """A ``models.ModelConfig`` sized for ``data`` (either format): d_vocab, d_vocab_out and n_ctx from the data,
    d_mlp = 4*d by default, ``n_heads`` heads of width d_model / n_heads. Extra keywords (``freeze_embed``,
    ``init_seed``, ...) pass through.

    ``n_heads`` must be an int in [1, d_model] that divides d_model (each head needs d_head >= 1 coordinates).
    """
    if not isinstance(data, FactSet):
        raise TypeError(
            f"data must be a tasks.FactSet (from DisjointTask.single_hop or noisy_*), got {type(data).__name__}"
        )
    check_int("d_model (d)", d_model, 1)
    check_int("n_heads", n_heads, 1, d_model)
    if d_model % n_heads:
        divisors = [h for h in range(1, d_model + 1) if d_model % h == 0]
        raise ValueError(f"n_heads must divide d_model = {d_model} (allowed: {divisors}), got {n_heads}")
    d_mlp = 4 * d_model if d_mlp is None else check_int("d_mlp", d_mlp, 1)
    return ModelConfig(
        d_vocab=data.d_vocab,
        d_vocab_out=data.d_vocab_out,
        n_ctx=data.seq_len,
        data_format=kwargs.pop("data_format", data.data_format),
        d_model=d_model,
        n_heads=n_heads,
        d_mlp=d_mlp,
        **kwargs,
    )
