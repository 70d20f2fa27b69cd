"""SINE's image encoder: a frozen DINOv2 ViT and a small trained neck.

Parameter names follow SINE's checkpoint: `encoder.*` (the ViT) and `neck.{0,1,2,3}.*`
(1x1 conv without bias, channel LayerNorm, 3x3 conv without bias, channel LayerNorm).
"""
import torch
from torch import nn


class ChannelLayerNorm(nn.Module):
    """LayerNorm over the channels of an NCHW map (per pixel), with affine weight/bias."""

    def __init__(self, channels: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x):
        mean = x.mean(1, keepdim=True)
        var = (x - mean).pow(2).mean(1, keepdim=True)
        x = (x - mean) / torch.sqrt(var + self.eps)
        return self.weight[:, None, None] * x + self.bias[:, None, None]


class ImageEncoder(nn.Module):
    def __init__(self, vit: nn.Module, out_channels: int = 256):
        super().__init__()
        self.encoder = vit
        self.patch_size = vit.patch_size
        d = vit.embed_dim
        self.neck = nn.Sequential(
            nn.Conv2d(d, out_channels, kernel_size=1, bias=False),
            ChannelLayerNorm(out_channels),
            nn.Conv2d(out_channels, out_channels, kernel_size=3, padding=1, bias=False),
            ChannelLayerNorm(out_channels),
        )

    def forward(self, image, position=None):
        """image [B,3,H,W] (normalised, padded) -> features [B, C, H/14, W/14]."""
        b, _, h, w = image.shape
        gh, gw = h // self.patch_size, w // self.patch_size
        tokens = self.encoder.tokens_prenorm(image, position)[:, 1:]          # class token dropped
        grid = tokens.permute(0, 2, 1).reshape(b, -1, gh, gw)
        return self.neck(grid)
