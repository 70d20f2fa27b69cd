"""DINOv2 vision transformer, as far as SINE's image encoder uses it.

Written for this project from the published architecture (Oquab et al., "DINOv2",
2023) and the module/parameter layout of facebookresearch/dinov2, so that a DINOv2
state dict (`dinov2_vitl14_pretrain.pth`) loads with strict=True:

    cls_token [1,1,D], pos_embed [1,1+G*G,D], mask_token [1,D],
    patch_embed.proj (Conv2d 3->D, kernel = stride = patch),
    blocks.<i>.{norm1, attn.qkv, attn.proj, ls1.gamma, norm2, mlp.fc1, mlp.fc2, ls2.gamma},
    norm (final LayerNorm; SINE reads the tokens before it).

Only inference is implemented (no drop path, no masking, no register tokens).
"""
import math

import torch
import torch.nn.functional as F
from torch import nn


class PatchEmbed(nn.Module):
    def __init__(self, patch_size: int, embed_dim: int, in_chans: int = 3):
        super().__init__()
        self.patch_size = patch_size
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x):
        x = self.proj(x)                      # B, D, gh, gw
        return x.flatten(2).transpose(1, 2)   # B, gh*gw, D


class SelfAttention(nn.Module):
    """Multi-head self-attention with a fused qkv projection (names: qkv, proj)."""

    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.qkv = nn.Linear(dim, 3 * dim, bias=True)
        self.proj = nn.Linear(dim, dim, bias=True)

    def forward(self, x):
        b, n, d = x.shape
        heads = self.num_heads
        qkv = self.qkv(x).reshape(b, n, 3, heads, d // heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0] * self.scale, qkv[1], qkv[2]
        weights = (q @ k.transpose(-2, -1)).softmax(dim=-1)
        out = (weights @ v).transpose(1, 2).reshape(b, n, d)
        return self.proj(out)


class LayerScale(nn.Module):
    def __init__(self, dim: int, init_value: float):
        super().__init__()
        self.gamma = nn.Parameter(torch.full((dim,), init_value))

    def forward(self, x):
        return x * self.gamma


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """Pre-norm transformer block with LayerScale on both residual branches."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float, init_value: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = SelfAttention(dim, num_heads)
        self.ls1 = LayerScale(dim, init_value)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.ls2 = LayerScale(dim, init_value)

    def forward(self, x):
        x = x + self.ls1(self.attn(self.norm1(x)))
        return x + self.ls2(self.mlp(self.norm2(x)))


class VisionTransformer(nn.Module):
    """DINOv2 ViT with a learned position table for img_size/patch_size patches a side."""

    def __init__(self, embed_dim: int, depth: int, num_heads: int, patch_size: int = 14,
                 img_size: int = 518, mlp_ratio: float = 4.0, init_value: float = 1e-5):
        super().__init__()
        self.embed_dim = embed_dim
        self.patch_size = patch_size
        grid = img_size // patch_size
        self.patch_embed = PatchEmbed(patch_size, embed_dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + grid * grid, embed_dim))
        self.mask_token = nn.Parameter(torch.zeros(1, embed_dim))   # training only; kept for strict loading
        self.blocks = nn.ModuleList(Block(embed_dim, num_heads, mlp_ratio, init_value) for _ in range(depth))
        self.norm = nn.LayerNorm(embed_dim, eps=1e-6)                 # unused by SINE (it reads x_prenorm)

    def position_table(self, height: int, width: int) -> torch.Tensor:
        """The position embedding for a height x width input, [1, 1 + gh*gw, D].

        DINOv2 resizes its square table of patch positions bicubically by the scale
        factor ((input/patch) + 0.1) / table side (not to an exact size); the table is
        returned unchanged when it already fits a square input. It depends on the input
        size only, so for a fixed input size it is a constant."""
        table = self.pos_embed.float()
        n = table.shape[1] - 1
        gh, gw = height // self.patch_size, width // self.patch_size
        if gh * gw == n and gh == gw:
            return self.pos_embed
        side = int(math.sqrt(n))
        patches = table[:, 1:].reshape(1, side, side, -1).permute(0, 3, 1, 2)
        patches = F.interpolate(patches, scale_factor=((gh + 0.1) / math.sqrt(n), (gw + 0.1) / math.sqrt(n)),
                                mode="bicubic")
        assert patches.shape[-2:] == (gh, gw), patches.shape
        patches = patches.permute(0, 2, 3, 1).reshape(1, gh * gw, -1)
        return torch.cat([table[:, :1], patches], dim=1).to(self.pos_embed.dtype)

    def tokens_prenorm(self, x: torch.Tensor, position: torch.Tensor = None) -> torch.Tensor:
        """x [B,3,H,W] -> tokens after the last block, before the final norm: [B, 1 + gh*gw, D]."""
        b, _, h, w = x.shape
        if position is None:
            position = self.position_table(h, w)
        t = self.patch_embed(x)
        t = torch.cat([self.cls_token.expand(b, -1, -1), t], dim=1) + position
        for block in self.blocks:
            t = block(t)
        return t


def vit_large(**kw):
    return VisionTransformer(embed_dim=1024, depth=24, num_heads=16, **kw)


def vit_small(depth=12, **kw):
    return VisionTransformer(embed_dim=384, depth=depth, num_heads=6, **kw)
