"""GEN-VLKT's paired instance decoder: human and object queries decoded together.

Each of the ``Q`` query pairs has a human query, an object query and a shared position-guided
embedding (GEN-VLKT eq. 1: ``Q_h = E_h + P``, ``Q_o = E_o + P``) that ties the two members of a
pair. The ``2Q`` queries attend to each other and to the encoder memory in one DETR decoder.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from openhoi.models.spatial_prior import SpatialPrior
from openhoi.models.transformer import TransformerDecoder


class InstanceDecoder(nn.Module):
    """Decode ``Q`` human-object query pairs into per-layer human and object features.

    The decoder content starts at zero and the query embeddings enter as ``query_pos`` at every
    layer, as in DETR and GEN-VLKT's ``GEN.forward`` (``models/gen.py``).

    Args:
        decoder: a ``TransformerDecoder`` of width ``D``.
        num_queries: number of pairs ``Q``.
        spatial_prior: give every query a learned centre that biases its cross-attention
            (``openhoi.models.spatial_prior``; not in GEN-VLKT, off in its recipes).
        prior_sigma: initial width of that prior.

    Attributes:
        query_h, query_o: ``nn.Embedding(Q, D)`` human / object query embeddings ``E_h, E_o``
            (default normal init, GEN-VLKT's ``query_embed_h/o``).
        pos_guided: ``nn.Embedding(Q, D)`` position-guided embedding ``P``, uniform init in
            [0, 1) (GEN-VLKT's ``pos_guided_embedd`` and its ``reset_parameters``).
        prior: the ``SpatialPrior`` of the ``2Q`` queries, or None.
    """

    def __init__(self, decoder: TransformerDecoder, num_queries: int,
                 spatial_prior: bool = False, prior_sigma: float = 0.12) -> None:
        super().__init__()
        dim = decoder.norm.normalized_shape[0]
        self.decoder = decoder
        self.num_queries = num_queries
        self.query_h = nn.Embedding(num_queries, dim)
        self.query_o = nn.Embedding(num_queries, dim)
        self.pos_guided = nn.Embedding(num_queries, dim)
        nn.init.uniform_(self.pos_guided.weight)
        self.prior = SpatialPrior(2 * num_queries, prior_sigma) if spatial_prior else None

    def query_pos(self, batch_size: int) -> Tensor:
        """``[B, 2Q, D]``: human queries then object queries, each plus ``P`` (eq. 1)."""
        guided = self.pos_guided.weight
        queries = torch.cat([self.query_h.weight + guided, self.query_o.weight + guided])
        return queries.unsqueeze(0).expand(batch_size, -1, -1)

    def forward(self, memory: Tensor, memory_padding_mask: Tensor | None,
                memory_pos: Tensor, feature_size: tuple[int, int] | None = None
                ) -> tuple[Tensor, Tensor]:
        """Decode the pairs.

        Args:
            memory: ``[B, N, D]`` encoder output.
            memory_padding_mask: ``[B, N]`` True on padding.
            memory_pos: ``[B, N, D]`` position encoding of the memory.
            feature_size: ``(h, w)`` of the memory grid (``N = h * w``); needed with the
                spatial prior.

        Returns:
            ``h_hs, o_hs``, each ``[L, B, Q, D]`` (normed output of every decoder layer).
        """
        query_pos = self.query_pos(memory.shape[0])  # [B, 2Q, D]
        tgt = torch.zeros_like(query_pos)
        bias = None
        if self.prior is not None:
            if feature_size is None:
                raise ValueError("the spatial prior needs the memory's feature_size")
            if memory_padding_mask is None:
                memory_padding_mask = memory.new_zeros(memory.shape[:2], dtype=torch.bool)
            heads = self.decoder.layers[0].cross_attn.num_heads
            bias = self.prior.attention_bias(memory_padding_mask, feature_size, heads)
            bias = bias.to(memory.dtype)
        hs = self.decoder(tgt, memory, memory_padding_mask, memory_pos, query_pos,
                          bias)  # [L, B, 2Q, D]
        return hs[:, :, : self.num_queries], hs[:, :, self.num_queries:]
