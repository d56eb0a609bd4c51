"""The building blocks of the MobileViTv2 family, in dependency order.

Every block takes plain typed scalars, never a spec. Module attribute names are checkpoint keys and
equal timm's (`conv1_1x1.conv`, `transformer.0.attn.qkv_proj`, ...), so a timm state dict maps one
to one.

Token layouts inside a MobileViT block (B batch, C channels, d attention dim, P = patch_size**2
pixels per patch, N patches):
- separable (v2) layers run channels-first on `B x d x P x N` with 1x1 convs, as in timm/cvnets;
- mha (v1) and additive (SwiftFormer) layers run channels-last on `(B*P) x N x d` with linear
  layers.
In both, attention mixes the N patches of one pixel position; the P positions are independent
sequences.

References:
    .. [MobileViTv2] Mehta & Rastegari, Separable Self-attention for Mobile Vision
        Transformers, arXiv 2206.02680.
    .. [MobileViT] Mehta & Rastegari, MobileViT, arXiv 2110.02178.
    .. [SwiftFormer] Shaker et al., SwiftFormer, arXiv 2303.15446.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "ConvNormAct",
    "InvertedResidual",
    "LinearSelfAttention",
    "LinearTransformerBlock",
    "MultiHeadAttention",
    "TransformerBlock",
    "AdditiveAttention",
    "AdditiveTransformerBlock",
    "MobileViTBlock",
    "attention_layer",
    "fold_patches",
    "unfold_patches",
]


class ConvNormAct(nn.Module):
    """Conv2d (no bias) -> BatchNorm2d -> optional SiLU, with 'same' padding for odd kernels."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 1,
        stride: int = 1,
        groups: int = 1,
        act: bool = True,
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(
            in_channels,
            out_channels,
            kernel_size,
            stride,
            kernel_size // 2,
            groups=groups,
            bias=False,
        )
        self.bn = nn.BatchNorm2d(out_channels)
        self.act = nn.SiLU() if act else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


class InvertedResidual(nn.Module):
    """MobileNetV2 block: 1x1 expand -> 3x3 depthwise (stride) -> 1x1 project (linear).

    The identity shortcut is added when `stride == 1` and `in_channels == out_channels`.
    """

    def __init__(
        self, in_channels: int, out_channels: int, stride: int, hidden_channels: int
    ) -> None:
        super().__init__()
        self.conv1_1x1 = ConvNormAct(in_channels, hidden_channels, 1)
        self.conv2_kxk = ConvNormAct(
            hidden_channels, hidden_channels, 3, stride, groups=hidden_channels
        )
        self.conv3_1x1 = ConvNormAct(hidden_channels, out_channels, 1, act=False)
        self.has_shortcut = stride == 1 and in_channels == out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv3_1x1(self.conv2_kxk(self.conv1_1x1(x)))
        return x + out if self.has_shortcut else out


class ConvMlp(nn.Module):
    """Channels-first FFN: 1x1 conv d->h, SiLU, 1x1 conv h->d (both with bias)."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(dim, hidden, 1)
        self.act = nn.SiLU()
        self.fc2 = nn.Conv2d(hidden, dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Mlp(nn.Module):
    """Channels-last FFN: Linear d->h, SiLU, Linear h->d."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.SiLU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class LinearSelfAttention(nn.Module):
    """Separable self-attention [MobileViTv2] on `B x d x P x N`, linear in N.

    qkv_proj gives [I (1 channel), K (d), V (d)]; c_s = softmax_N(I); c_v = sum_N(c_s * K)
    (`B x d x P x 1`); y = out_proj(ReLU(V) * c_v). Parameters: 3d^2 + 4d + 1.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim
        self.qkv_proj = nn.Conv2d(dim, 1 + 2 * dim, 1)
        self.out_proj = nn.Conv2d(dim, dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        query, key, value = self.qkv_proj(x).split([1, self.dim, self.dim], dim=1)
        scores = query.softmax(dim=-1)  # B x 1 x P x N
        context = (key * scores).sum(dim=-1, keepdim=True)  # B x d x P x 1
        return self.out_proj(F.relu(value) * context)


class LinearTransformerBlock(nn.Module):
    """Pre-norm layer of MobileViTv2: x + attn(GN(x)); x + FFN(GN(x)), GN = GroupNorm(1, d)."""

    def __init__(self, dim: int, ffn_hidden: int) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(1, dim)
        self.attn = LinearSelfAttention(dim)
        self.norm2 = nn.GroupNorm(1, dim)
        self.mlp = ConvMlp(dim, ffn_hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class MultiHeadAttention(nn.Module):
    """Multi-head scaled dot-product attention [MobileViT] on `B' x N x d`, quadratic in N.

    One qkv linear d->3d and one output linear d->d, both with bias. Parameters: 4d^2 + 4d.
    """

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, tokens, dim = x.shape
        # B' x N x 3d -> 3 x B' x heads x N x head_dim
        qkv = self.qkv(x).reshape(batch, tokens, 3, self.num_heads, dim // self.num_heads)
        query, key, value = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        out = F.scaled_dot_product_attention(query, key, value)  # B' x heads x N x head_dim
        return self.proj(out.transpose(1, 2).reshape(batch, tokens, dim))


class TransformerBlock(nn.Module):
    """Pre-norm ViT layer of MobileViTv1: x + MHA(LN(x)); x + FFN(LN(x)). Parameters: 8d^2 + 11d
    (h=2d)."""

    def __init__(self, dim: int, ffn_hidden: int, num_heads: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = MultiHeadAttention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, ffn_hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class AdditiveAttention(nn.Module):
    """Efficient additive attention [SwiftFormer] on `B' x N x d`, linear in N.

    Q, K = L2-normalised (over d) linear maps; alpha = normalize_N(Q w_g / sqrt(d)); global query
    g = sum_N alpha_n Q_n; y = final(proj(g * K) + Q). Parameters: 4d^2 + 5d.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.scale = dim**-0.5
        self.to_query = nn.Linear(dim, dim)
        self.to_key = nn.Linear(dim, dim)
        self.w_g = nn.Parameter(torch.randn(dim, 1))
        self.proj = nn.Linear(dim, dim)
        self.final = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        query = F.normalize(self.to_query(x), dim=-1)  # B' x N x d
        key = F.normalize(self.to_key(x), dim=-1)
        alpha = F.normalize(torch.matmul(query, self.w_g) * self.scale, dim=1)  # B' x N x 1
        global_query = torch.matmul(alpha.transpose(1, 2), query)  # B' x 1 x d
        return self.final(self.proj(global_query * key) + query)


class AdditiveTransformerBlock(nn.Module):
    """Pre-norm layer with additive attention: x + EAA(LN(x)); x + FFN(LN(x)). Params: 8d^2 + 12d
    (h=2d)."""

    def __init__(self, dim: int, ffn_hidden: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = AdditiveAttention(dim)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, ffn_hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


def attention_layer(attn_type: str, dim: int, ffn_hidden: int, num_heads: int) -> nn.Module:
    """One attention layer of `attn_type` ("separable", "mha" or "additive") of width `dim`."""
    if attn_type == "separable":
        return LinearTransformerBlock(dim, ffn_hidden)
    if attn_type == "mha":
        return TransformerBlock(dim, ffn_hidden, num_heads)
    if attn_type == "additive":
        return AdditiveTransformerBlock(dim, ffn_hidden)
    raise ValueError(f"attn_type: {attn_type!r}; allowed: 'separable', 'mha', 'additive'")


class MobileViTBlock(nn.Module):
    """MobileViT block: local convs -> unfold -> attention layers -> norm -> fold -> projection.

    Style "v2" [MobileViTv2]: depthwise local conv, linear projection, no fusion; an input whose
    side is not a multiple of the patch is first resized up (bilinear, align_corners=True) and the
    output keeps that size. Style "v1" [MobileViT]: full local conv, SiLU after the projection,
    then concat [input, output] -> 3x3 fusion conv; a non-divisible map is resized for the tokens
    only (align_corners=False) and back.
    """

    def __init__(
        self,
        channels: int,
        attn_dim: int,
        depth: int,
        attn_type: str,
        ffn_hidden: int,
        patch_size: int,
        num_heads: int = 4,
        style: str = "v2",
    ) -> None:
        super().__init__()
        self.patch_size, self.style = patch_size, style
        self.channels_last = attn_type != "separable"
        self.conv_kxk = ConvNormAct(channels, channels, 3, groups=channels if style == "v2" else 1)
        self.conv_1x1 = nn.Conv2d(channels, attn_dim, 1, bias=False)
        self.transformer = nn.Sequential(
            *(attention_layer(attn_type, attn_dim, ffn_hidden, num_heads) for _ in range(depth))
        )
        self.norm = nn.LayerNorm(attn_dim) if self.channels_last else nn.GroupNorm(1, attn_dim)
        self.conv_proj = ConvNormAct(attn_dim, channels, 1, act=style == "v1")
        self.conv_fusion = ConvNormAct(2 * channels, channels, 3) if style == "v1" else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        p = self.patch_size
        size = (math.ceil(height / p) * p, math.ceil(width / p) * p)
        resize = size != (height, width)
        if resize and self.style == "v2":
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=True)
        shortcut = x
        x = self.conv_1x1(self.conv_kxk(x))
        if resize and self.style == "v1":
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
        tokens = unfold_patches(x, self.patch_size, self.channels_last)
        x = fold_patches(
            self.norm(self.transformer(tokens)), self.patch_size, size, self.channels_last
        )
        if resize and self.style == "v1":
            x = F.interpolate(x, size=(height, width), mode="bilinear", align_corners=False)
        x = self.conv_proj(x)
        if self.conv_fusion is not None:
            x = self.conv_fusion(torch.cat((shortcut, x), dim=1))
        return x


def unfold_patches(x: torch.Tensor, p: int, channels_last: bool) -> torch.Tensor:
    """`B x d x H x W` -> tokens of `p x p` patches: `(B*P) x N x d` (channels last) or
    `B x d x P x N`, with `P = p*p` pixels per patch and `N` patches (H, W multiples of p)."""
    batch, dim, height, width = x.shape
    # B x d x H x W -> B x d x nh x p x nw x p
    x = x.reshape(batch, dim, height // p, p, width // p, p)
    if channels_last:  # -> B x p x p x nh x nw x d -> (B*P) x N x d
        return x.permute(0, 3, 5, 2, 4, 1).reshape(batch * p * p, -1, dim)
    # -> B x d x p x p x nh x nw -> B x d x P x N
    return x.permute(0, 1, 3, 5, 2, 4).reshape(batch, dim, p * p, -1)


def fold_patches(
    x: torch.Tensor, p: int, size: tuple[int, int], channels_last: bool
) -> torch.Tensor:
    """The inverse of `unfold_patches`: tokens back to `B x d x H x W`, `size = (H, W)`."""
    nh, nw = size[0] // p, size[1] // p
    if channels_last:
        # (B*P) x N x d -> B x p x p x nh x nw x d -> B x d x nh x p x nw x p
        dim = x.shape[-1]
        x = x.reshape(-1, p, p, nh, nw, dim).permute(0, 5, 3, 1, 4, 2)
    else:  # B x d x P x N -> B x d x p x p x nh x nw -> B x d x nh x p x nw x p
        dim = x.shape[1]
        x = x.reshape(-1, dim, p, p, nh, nw).permute(0, 1, 4, 2, 5, 3)
    return x.reshape(-1, dim, size[0], size[1])
