"""SINE's image encoder: a frozen DINOv2 ViT and a small trained neck.

Parameter names follow SINE's checkpoint: `encoder.*` (the ViT) and `neck.{0,1,2,3}.*`
(1x1 conv without bias, channel LayerNorm, 3x3 conv without bias, channel LayerNorm).
"""
from torch import nn

from .norms import ChannelLayerNorm


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
