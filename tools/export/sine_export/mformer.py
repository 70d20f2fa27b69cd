"""SINE's M-Former ("transformer_decoder" in the checkpoint), written for this project.

From the paper (Liu et al., NeurIPS 2024, sec. 3) and the facts of the reference
implementation: module and parameter names, shapes, and the order of operations.
Sequences are [length, batch, channels] throughout, as in the reference.

Inputs: the target's features F [1,C,h,w] (h == w) and N ID tokens [1,N,C] (masked
means of reference features, one per object id; here they also serve as the
semantic prototypes, as in SINE's video and one-shot inference). Outputs:

    id_logits  [1,N,2]        per object: (present, absent) logits
    id_masks   [1,N,4h,4w]    per object mask logits
    ins_logits [1,Q,N+1]      per instance query: scaled cosine to each prototype and the negative class
    ins_masks  [1,Q,4h,4w]    per instance query mask logits
"""
import math

import torch
import torch.nn.functional as F
from torch import nn

from .norms import ChannelLayerNorm


class Attention(nn.Module):
    """Multi-head attention with packed input projections, the parameter layout of
    torch.nn.MultiheadAttention (in_proj_weight, in_proj_bias, out_proj)."""

    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * dim, dim))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * dim))
        self.out_proj = nn.Linear(dim, dim)
        nn.init.xavier_uniform_(self.in_proj_weight)

    def forward(self, query, key, value, mask=None):
        """query [Lq,B,C], key/value [Lk,B,C]; mask: bool, True = may not attend,
        [Lq,Lk] or [B*heads,Lq,Lk]."""
        lq, b, c = query.shape
        lk = key.shape[0]
        heads, d = self.num_heads, self.head_dim
        w, bias = self.in_proj_weight, self.in_proj_bias
        q = F.linear(query, w[:c], bias[:c])
        k = F.linear(key, w[c:2 * c], bias[c:2 * c])
        v = F.linear(value, w[2 * c:], bias[2 * c:])
        q = q.reshape(lq, b * heads, d).transpose(0, 1) / math.sqrt(d)
        k = k.reshape(lk, b * heads, d).transpose(0, 1)
        v = v.reshape(lk, b * heads, d).transpose(0, 1)
        scores = q @ k.transpose(1, 2)                                   # B*heads, Lq, Lk
        if mask is not None:
            scores = scores.masked_fill(mask, float("-inf"))
        out = scores.softmax(dim=-1) @ v                                 # B*heads, Lq, d
        out = out.transpose(0, 1).reshape(lq, b, c)
        return self.out_proj(out)


class SelfAttentionLayer(nn.Module):
    def __init__(self, dim, heads, pre_norm):
        super().__init__()
        self.self_attn = Attention(dim, heads)
        self.norm = nn.LayerNorm(dim)
        self.pre_norm = pre_norm

    def forward(self, x, mask=None, pos=None):
        if self.pre_norm:
            y = self.norm(x)
            qk = y if pos is None else y + pos
            return x + self.self_attn(qk, qk, y, mask)
        qk = x if pos is None else x + pos
        return self.norm(x + self.self_attn(qk, qk, x, mask))


class CrossAttentionLayer(nn.Module):
    def __init__(self, dim, heads, pre_norm):
        super().__init__()
        self.multihead_attn = Attention(dim, heads)
        self.norm = nn.LayerNorm(dim)
        self.pre_norm = pre_norm

    def forward(self, x, memory, mask=None, pos=None, query_pos=None):
        key = memory if pos is None else memory + pos
        if self.pre_norm:
            y = self.norm(x)
            q = y if query_pos is None else y + query_pos
            return x + self.multihead_attn(q, key, memory, mask)
        q = x if query_pos is None else x + query_pos
        return self.norm(x + self.multihead_attn(q, key, memory, mask))


class FFNLayer(nn.Module):
    def __init__(self, dim, hidden, pre_norm):
        super().__init__()
        self.linear1 = nn.Linear(dim, hidden)
        self.linear2 = nn.Linear(hidden, dim)
        self.norm = nn.LayerNorm(dim)
        self.pre_norm = pre_norm

    def forward(self, x):
        if self.pre_norm:
            return x + self.linear2(F.relu(self.linear1(self.norm(x))))
        return self.norm(x + self.linear2(F.relu(self.linear1(x))))


class FusionLayer(nn.Module):
    """Post-norm self-attention, cross-attention, FFN (no position embeddings)."""

    def __init__(self, dim, heads, hidden):
        super().__init__()
        self.transformer_self_attention_layer = SelfAttentionLayer(dim, heads, pre_norm=False)
        self.transformer_cross_attention_layer = CrossAttentionLayer(dim, heads, pre_norm=False)
        self.transformer_ffn_layer = FFNLayer(dim, hidden, pre_norm=False)

    def forward(self, x, other):
        x = self.transformer_self_attention_layer(x)
        x = self.transformer_cross_attention_layer(x, other)
        return self.transformer_ffn_layer(x)


class DecoderLayer(nn.Module):
    """One M-Former layer over [ID queries; instance queries; semantic prototypes]:
    shared self-attention (block mask), masked cross-attention to the image for ID and
    instance queries, an FFN for queries and another for prototypes."""

    def __init__(self, dim, heads, hidden, pre_norm=True):
        super().__init__()
        self.transformer_self_attention_layer = SelfAttentionLayer(dim, heads, pre_norm)
        self.transformer_cross_attention_layer = CrossAttentionLayer(dim, heads, pre_norm)
        self.transformer_ffn_layer1 = FFNLayer(dim, hidden, pre_norm)
        self.transformer_ffn_layer2 = FFNLayer(dim, hidden, pre_norm)

    def forward(self, queries, image, queries_pos, image_pos, n_query, sa_mask, ca_mask):
        """queries [nq_all,1,C] with the first n_query rows being ID + instance queries."""
        queries = self.transformer_self_attention_layer(queries, sa_mask, queries_pos)
        attending, prototypes = queries[:n_query], queries[n_query:]
        attending = self.transformer_cross_attention_layer(attending, image, ca_mask, image_pos, queries_pos[:n_query])
        return torch.cat([self.transformer_ffn_layer1(attending), self.transformer_ffn_layer2(prototypes)], dim=0)


class MLP(nn.Module):
    def __init__(self, dim_in, hidden, dim_out, layers):
        super().__init__()
        dims = [dim_in] + [hidden] * (layers - 1)
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims, dims[1:] + [dim_out]))

    def forward(self, x):
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < last:
                x = F.relu(x)
        return x


def sine_position_embedding(channels: int, h: int, w: int) -> torch.Tensor:
    """DETR-style normalised sine embedding of an h x w grid, [1, channels, h, w]:
    first half from the row coordinate, second half from the column; within each
    half, sin on even and cos on odd features (temperature 10000, scale 2 pi)."""
    half = channels // 2
    ys = torch.arange(1, h + 1, dtype=torch.float32)[:, None].expand(h, w)
    xs = torch.arange(1, w + 1, dtype=torch.float32)[None, :].expand(h, w)
    eps, scale = 1e-6, 2 * math.pi
    ys = ys / (h + eps) * scale
    xs = xs / (w + eps) * scale
    dim_t = torch.arange(half, dtype=torch.float32)
    dim_t = 10000 ** (2 * torch.div(dim_t, 2, rounding_mode="floor") / half)

    def encode(coord):
        p = coord[:, :, None] / dim_t                                   # h, w, half
        return torch.stack([p[:, :, 0::2].sin(), p[:, :, 1::2].cos()], dim=3).flatten(2)

    return torch.cat([encode(ys), encode(xs)], dim=2).permute(2, 0, 1)[None]


class MFormer(nn.Module):
    def __init__(self, dim=256, depth=6, heads=8, mlp_dim=2048, mask_dim=256,
                 fusion_depth=1, num_queries=200, sigma=10.0):
        super().__init__()
        self.dim = dim
        self.heads = heads
        self.num_queries = num_queries
        self.sigma = sigma
        self.temp = nn.Parameter(torch.tensor(30.0))
        self.fusion_layers = nn.ModuleList(FusionLayer(dim, heads, mlp_dim) for _ in range(fusion_depth))
        self.transformer_layers = nn.ModuleList(DecoderLayer(dim, heads, mlp_dim) for _ in range(depth))
        self.decoder_norm = nn.LayerNorm(dim)
        self.mask_feat_layer = nn.Sequential(
            nn.ConvTranspose2d(dim, dim // 2, kernel_size=2, stride=2),
            ChannelLayerNorm(dim // 2),
            nn.GELU(),
            nn.ConvTranspose2d(dim // 2, dim, kernel_size=2, stride=2),
        )
        self.query_feat = nn.Embedding(num_queries, dim)
        self.query_embed = nn.Embedding(num_queries, dim)
        self.query_grained_embed = nn.Embedding(3, dim)
        self.id_class_embed = nn.Linear(dim, 2)
        self.neg_class_embed = nn.Embedding(1, dim)
        self.mask_embed = MLP(dim, dim, mask_dim, 3)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))

    # -- mask pooling -------------------------------------------------------------

    @staticmethod
    def mask_size(features):
        h, w = features.shape[-2:]
        return 4 * h, 4 * w

    @staticmethod
    def pool_sums(features, masks, size):
        """Per mask: the masked sum of the features and the mask's area, both at the
        mask-feature size: features [1,C,h,w] and masks [K,1,S,S] are resized there
        bilinearly (half-pixel) and the masks binarised with > 0. -> sums [K,C], areas [K]."""
        m = F.interpolate(masks, size=size, mode="bilinear", align_corners=False)
        f = F.interpolate(features, size=size, mode="bilinear", align_corners=False)
        m = (m > 0).to(f.dtype).flatten(1)                              # K, P
        return m @ f.flatten(2)[0].transpose(0, 1), m.sum(1)

    def reference_tokens(self, ref_features, ref_masks, ref_labels, size):
        """The reference's own pooling, shot by shot: for every distinct label
        (increasing), its shots' resized features and binarised masks side by side,
        pooled as sum(F * m / (sum(m) + 1e-8)). ref_features [R,C,h,w],
        ref_masks [R,1,S,S] at padded input size, ref_labels: list of R ints."""
        masks = F.interpolate(ref_masks, size=size, mode="bilinear", align_corners=False)
        feats = F.interpolate(ref_features, size=size, mode="bilinear", align_corners=False)
        labels = sorted(set(ref_labels))
        tokens = []
        for label in labels:
            idx = [i for i, l in enumerate(ref_labels) if l == label]
            f = torch.cat([feats[i:i + 1] for i in idx], dim=-1)          # 1, C, mh, mw*shots
            m = (torch.cat([masks[i:i + 1] for i in idx], dim=-1) > 0).to(f.dtype)
            m = m / (m.sum(dim=(-1, -2), keepdim=True) + 1e-8)
            tokens.append(torch.einsum("bchw,bqhw->bqc", f, m))
        return torch.cat(tokens, dim=1), labels                            # 1, N, C

    # -- decoder ------------------------------------------------------------------

    def gaussian_filter(self, corr, side):
        """corr [1,N,side*side]: each row times a Gaussian (sigma) centred on its maximum."""
        center = corr.argmax(dim=2)                                         # 1, N
        cy = torch.div(center, side, rounding_mode="floor").float()
        cx = (center % side).float()
        coords = torch.arange(side, dtype=torch.float32)
        dy = coords[None, None, :] - cy[:, :, None]                         # 1, N, side
        dx = coords[None, None, :] - cx[:, :, None]
        kernel = torch.exp(-(dx[:, :, None, :] ** 2 + dy[:, :, :, None] ** 2) / (2 * self.sigma ** 2))
        return (kernel.flatten(2) * corr)

    def heads_out(self, queries, n_id, n_query, mask_features, attn_size):
        """Prediction heads on the current queries: class logits, masks, and the next
        cross-attention mask ([heads, n_query, h*w], True = blocked)."""
        normed = self.decoder_norm(queries).transpose(0, 1)                 # 1, L, C
        ids, ins, protos = normed[:, :n_id], normed[:, n_id:n_query], normed[:, n_query:]
        id_logits = self.id_class_embed(ids)
        scale = torch.clamp(self.logit_scale.exp(), max=100)
        ins_logits = scale * torch.einsum("bqc,bnc->bqn", F.normalize(ins, dim=-1), F.normalize(protos, dim=-1))
        embed = self.mask_embed(normed[:, :n_query])
        masks = torch.einsum("bqc,bchw->bqhw", embed, mask_features)       # 1, n_query, 4h, 4w
        small = F.interpolate(masks, size=attn_size, mode="bilinear", align_corners=False)
        blocked = small.sigmoid().flatten(2) < 0.5                          # 1, n_query, h*w
        blocked = blocked.expand(self.heads, -1, -1)                        # heads, n_query, h*w (batch 1)
        return id_logits, ins_logits, masks[:, :n_id], masks[:, n_id:], blocked

    def forward(self, features, tokens):
        """features [1,C,h,w] (h == w), tokens [1,N,C] -> (id_logits, id_masks, ins_logits, ins_masks)."""
        _, c, h, w = features.shape
        mask_features = self.mask_feat_layer(features)
        n_id = tokens.shape[1]
        nq = self.num_queries

        # Fusion: reference tokens (as ID queries and as prototypes) and image tokens
        # each attend the other; both updated residually.
        refs = torch.cat([tokens, tokens], dim=1).transpose(0, 1)          # 2N, 1, C
        image = features.flatten(2).permute(2, 0, 1)                        # hw, 1, C
        for layer in self.fusion_layers:
            refs, image = refs + layer(refs, image), image + layer(image, refs)
        id_feat, proto_feat = refs[:n_id], refs[n_id:]

        # ID query positions: where each token correlates best with the fused image,
        # Gaussian-filtered around the peak, softmax with a learned temperature, as
        # weights over the image's sine position embedding.
        image_pos = sine_position_embedding(c, h, w).flatten(2).permute(2, 0, 1)   # hw, 1, C
        corr = torch.einsum("nac,nbc->nab", F.normalize(id_feat.transpose(0, 1), dim=-1),
                            F.normalize(image.transpose(0, 1), dim=-1))            # 1, N, hw
        weights = torch.softmax(self.gaussian_filter(corr, h) * self.temp, dim=-1)
        id_pos = torch.einsum("nab,nbc->nac", weights, image_pos.transpose(0, 1)).transpose(0, 1)

        grained = self.query_grained_embed.weight
        id_q = id_feat + grained[0]
        ins_q = self.query_feat.weight[:, None] + grained[1]
        protos = torch.cat([proto_feat, self.neg_class_embed.weight[:, None]], dim=0) + grained[2]
        queries = torch.cat([id_q, ins_q, protos], dim=0)                   # N + Q + N + 1, 1, C
        queries_pos = torch.cat([id_pos, self.query_embed.weight[:, None], torch.zeros_like(protos)], dim=0)
        n_query = n_id + nq

        # ID queries see ID queries only; instance queries and prototypes see each other.
        index = torch.arange(queries.shape[0])
        is_id = index < n_id
        sa_mask = is_id[:, None] != is_id[None, :]

        # The cross-attention mask comes from the predictions of the queries as they
        # enter the first layer, and the reference keeps that one mask for every layer
        # (unlike Mask2Former, it does not refresh it after each layer). A query whose
        # mask covers nothing attends everywhere.
        outputs = self.heads_out(queries, n_id, n_query, mask_features, (h, w))
        blocked = outputs[4]
        blocked = blocked & ~(blocked.sum(-1, keepdim=True) == blocked.shape[-1])
        for layer in self.transformer_layers:
            queries = layer(queries, image, queries_pos, image_pos, n_query, sa_mask, blocked)
        # (The reference also runs the heads after every layer, for its training losses;
        # at inference only the last ones are read.)
        id_logits, ins_logits, id_masks, ins_masks, _ = self.heads_out(queries, n_id, n_query, mask_features, (h, w))
        return id_logits, id_masks, ins_logits, ins_masks
