"""Elastic attention layers: one weight set per attention type (SPOS choice), a shared FFN.

One `ElasticAttentionLayer` stands for layer `l` of a stage's transformer, whatever its type:

- per attention type: the attention itself (`attn.separable`: `qkv_proj`, `out_proj`;
  `attn.mha`: `qkv`, `proj`; `attn.additive`: `to_query`, `to_key`, `w_g`, `proj`, `final`);
- per norm kind: the two pre-norms (`group_norm` = GroupNorm(1) for separable, `layer_norm` =
  LayerNorm for mha and additive, which both normalise each token the same way);
- shared by every type: the FFN (`mlp.fc1`, `mlp.fc2`). The channels-first FFN of separable
  (1x1 convs, `h x d x 1 x 1`) and the channels-last FFN of mha/additive (linears, `h x d`) are the
  same map, so they share one `h x d` / `d x h` weight pair.

Each attention runs on the token layout of its stand-alone layer (`B x d x P x N` separable,
`(B*P) x N x d` mha and additive; see `mv2search.arch.blocks`). The mha head count is fixed by the
supernet; slicing the width to `d` regroups the first `d` channels of Q, K and V into heads of
`d / num_heads`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from mv2search.supernet.elastic import (
    ElasticConv2d,
    ElasticGroupNorm,
    ElasticLayerNorm,
    ElasticLinear,
    prefixed,
)

__all__ = [
    "NORM_KIND",
    "ElasticSeparableAttention",
    "ElasticMultiHeadAttention",
    "ElasticAdditiveAttention",
    "ElasticMlp",
    "ElasticAttentionLayer",
    "elastic_attention",
    "elastic_norms",
]

# The norm kind each attention type is normalised with (pre-norms and a MobileViT block's final).
NORM_KIND = {"separable": "group_norm", "mha": "layer_norm", "additive": "layer_norm"}


def elastic_norms(dim: int, attn_types: Sequence[str]) -> nn.ModuleDict:
    """One sliced norm of width `dim` per norm kind that `attn_types` need."""
    kinds = sorted({NORM_KIND[kind] for kind in attn_types})
    return nn.ModuleDict(
        {k: ElasticGroupNorm(dim) if k == "group_norm" else ElasticLayerNorm(dim) for k in kinds}
    )


class ElasticSeparableAttention(nn.Module):
    """Separable self-attention (`LinearSelfAttention`) of largest width `D`, on `B x d x P x N`.

    `qkv_proj` (`1 + 2D` rows: [I; K; V]) keeps rows `[0] + [1, 1 + d) + [1 + D, 1 + D + d)`.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.qkv_proj = ElasticConv2d(dim, 1 + 2 * dim, 1, bias=True, out_parts=(1, dim, dim))
        self.out_proj = ElasticConv2d(dim, dim, 1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """`B x d x P x N` -> same shape."""
        dim = x.shape[1]
        query, key, value = self.qkv_proj(x, (1, dim, dim)).split([1, dim, dim], dim=1)
        scores = query.softmax(dim=-1)  # B x 1 x P x N
        context = (key * scores).sum(dim=-1, keepdim=True)  # B x d x P x 1
        return self.out_proj(F.relu(value) * context, dim)

    def state(self, dim: int) -> dict[str, torch.Tensor]:
        """Tensors of the stand-alone `LinearSelfAttention(dim)`."""
        return {
            **prefixed("qkv_proj", self.qkv_proj.state(dim, (1, dim, dim))),
            **prefixed("out_proj", self.out_proj.state(dim, dim)),
        }


class ElasticMultiHeadAttention(nn.Module):
    """Multi-head attention (`MultiHeadAttention`) of largest width `D`, on `B' x N x d`.

    `qkv` (`3D` rows: [Q; K; V]) keeps the first `d` rows of each of Q, K and V.
    """

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.qkv = ElasticLinear(dim, 3 * dim, out_parts=(dim, dim, dim))
        self.proj = ElasticLinear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """`B' x N x d` -> same shape."""
        batch, tokens, dim = x.shape
        # B' x N x 3d -> 3 x B' x heads x N x head_dim
        qkv = self.qkv(x, (dim, dim, dim)).reshape(
            batch, tokens, 3, self.num_heads, dim // self.num_heads
        )
        query, key, value = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        out = F.scaled_dot_product_attention(query, key, value)  # B' x heads x N x head_dim
        return self.proj(out.transpose(1, 2).reshape(batch, tokens, dim), dim)

    def state(self, dim: int) -> dict[str, torch.Tensor]:
        """Tensors of the stand-alone `MultiHeadAttention(dim, num_heads)`."""
        return {
            **prefixed("qkv", self.qkv.state(dim, (dim, dim, dim))),
            **prefixed("proj", self.proj.state(dim, dim)),
        }


class ElasticAdditiveAttention(nn.Module):
    """Efficient additive attention (`AdditiveAttention`) of largest width `D`, on `B' x N x d`.

    The scale is `d**-0.5` of the active width; `w_g` (`D x 1`) keeps its first `d` rows.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.to_query = ElasticLinear(dim, dim)
        self.to_key = ElasticLinear(dim, dim)
        self.w_g = nn.Parameter(torch.randn(dim, 1))
        self.proj = ElasticLinear(dim, dim)
        self.final = ElasticLinear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """`B' x N x d` -> same shape."""
        dim = x.shape[-1]
        query = F.normalize(self.to_query(x, dim), dim=-1)  # B' x N x d
        key = F.normalize(self.to_key(x, dim), dim=-1)
        scores = torch.matmul(query, self.w_g[:dim]) * dim**-0.5
        alpha = F.normalize(scores, dim=1)  # B' x N x 1
        global_query = torch.matmul(alpha.transpose(1, 2), query)  # B' x 1 x d
        return self.final(self.proj(global_query * key, dim) + query, dim)

    def state(self, dim: int) -> dict[str, torch.Tensor]:
        """Tensors of the stand-alone `AdditiveAttention(dim)`."""
        return {
            **prefixed("to_query", self.to_query.state(dim, dim)),
            **prefixed("to_key", self.to_key.state(dim, dim)),
            "w_g": self.w_g[:dim],
            **prefixed("proj", self.proj.state(dim, dim)),
            **prefixed("final", self.final.state(dim, dim)),
        }


def elastic_attention(attn_type: str, dim: int, num_heads: int) -> nn.Module:
    """The elastic attention of `attn_type` ("separable", "mha" or "additive"), largest `dim`."""
    if attn_type == "separable":
        return ElasticSeparableAttention(dim)
    if attn_type == "mha":
        return ElasticMultiHeadAttention(dim, num_heads)
    if attn_type == "additive":
        return ElasticAdditiveAttention(dim)
    raise ValueError(f"attn_type: {attn_type!r}; allowed: 'separable', 'mha', 'additive'")


class ElasticMlp(nn.Module):
    """The FFN `d -> h -> d` (SiLU) of largest `D -> H`, shared by every attention type.

    Channels-first (`B x d x P x N`, separable) it runs as 1x1 convs, channels-last
    (`B' x N x d`) as linears, with the same sliced weights `h x d` and `d x h`.
    """

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = ElasticLinear(dim, hidden)
        self.fc2 = ElasticLinear(hidden, dim)

    def forward(self, x: torch.Tensor, hidden: int, channels_first: bool) -> torch.Tensor:
        """`B x d x P x N` (channels-first) or `B' x N x d` -> same shape, via `hidden` units."""
        dim = x.shape[1] if channels_first else x.shape[-1]
        (w1, b1), (w2, b2) = self.fc1.sliced(dim, hidden), self.fc2.sliced(hidden, dim)
        if channels_first:
            hidden_act = F.silu(F.conv2d(x, w1[:, :, None, None], b1))
            return F.conv2d(hidden_act, w2[:, :, None, None], b2)
        return F.linear(F.silu(F.linear(x, w1, b1)), w2, b2)

    def state(self, dim: int, hidden: int, channels_first: bool) -> dict[str, torch.Tensor]:
        """Tensors of the stand-alone `ConvMlp` (channels-first) or `Mlp`."""
        state = {**prefixed("fc1", self.fc1.state(dim, hidden))}
        state.update(prefixed("fc2", self.fc2.state(hidden, dim)))
        if channels_first:
            state = {k: v[:, :, None, None] if v.dim() == 2 else v for k, v in state.items()}
        return state


class ElasticAttentionLayer(nn.Module):
    """One pre-norm attention layer of any allowed type: x + attn(norm(x)); x + FFN(norm(x)).

    Args:
        dim: Largest attention dim `D`.
        hidden: Largest FFN hidden width `H`.
        attn_types: The attention types this layer can take.
        num_heads: Heads of mha.
    """

    def __init__(self, dim: int, hidden: int, attn_types: Sequence[str], num_heads: int) -> None:
        super().__init__()
        self.norm1 = elastic_norms(dim, attn_types)
        self.attn = nn.ModuleDict(
            {kind: elastic_attention(kind, dim, num_heads) for kind in attn_types}
        )
        self.norm2 = elastic_norms(dim, attn_types)
        self.mlp = ElasticMlp(dim, hidden)

    def forward(self, x: torch.Tensor, attn_type: str, hidden: int) -> torch.Tensor:
        """`B x d x P x N` (separable) or `B' x N x d` (mha, additive) -> same shape."""
        norm = NORM_KIND[attn_type]
        x = x + self.attn[attn_type](self.norm1[norm](x))
        channels_first = attn_type == "separable"
        return x + self.mlp(self.norm2[norm](x), hidden, channels_first)

    def state(self, attn_type: str, dim: int, hidden: int) -> dict[str, torch.Tensor]:
        """Tensors of the stand-alone layer `attention_layer(attn_type, dim, hidden, heads)`."""
        norm = NORM_KIND[attn_type]
        return {
            **prefixed("norm1", self.norm1[norm].state(dim)),
            **prefixed("attn", self.attn[attn_type].state(dim)),
            **prefixed("norm2", self.norm2[norm].state(dim)),
            **prefixed("mlp", self.mlp.state(dim, hidden, attn_type == "separable")),
        }
