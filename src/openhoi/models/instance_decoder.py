"""GEN-VLKT's paired instance decoder: human and object queries decoded together.

Each of the ``Q`` query pairs has a human query, an object query and a shared position-guided
embedding (GEN-VLKT eq. 1: ``Q_h = E_h + P``, ``Q_o = E_o + P``) that ties the two members of a
pair. The ``2Q`` queries attend to each other and to the encoder memory in one DETR decoder.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from openhoi.models.transformer import TransformerDecoder


class InstanceDecoder(nn.Module):
    """Decode ``Q`` human-object query pairs into per-layer human and object features.

    The decoder content starts at zero and the query embeddings enter as ``query_pos`` at every
    layer, as in DETR and GEN-VLKT's ``GEN.forward`` (``models/gen.py``).

    Args:
        decoder: a ``TransformerDecoder`` of width ``D``.
        num_queries: number of pairs ``Q``.

    Attributes:
        query_h, query_o: ``nn.Embedding(Q, D)`` human / object query embeddings ``E_h, E_o``
            (default normal init, GEN-VLKT's ``query_embed_h/o``).
        pos_guided: ``nn.Embedding(Q, D)`` position-guided embedding ``P``, uniform init in
            [0, 1) (GEN-VLKT's ``pos_guided_embedd`` and its ``reset_parameters``).
    """

    def __init__(self, decoder: TransformerDecoder, num_queries: int) -> None:
        super().__init__()
        dim = decoder.norm.normalized_shape[0]
        self.decoder = decoder
        self.num_queries = num_queries
        self.query_h = nn.Embedding(num_queries, dim)
        self.query_o = nn.Embedding(num_queries, dim)
        self.pos_guided = nn.Embedding(num_queries, dim)
        nn.init.uniform_(self.pos_guided.weight)

    def query_pos(self, batch_size: int) -> Tensor:
        """``[B, 2Q, D]``: human queries then object queries, each plus ``P`` (eq. 1)."""
        guided = self.pos_guided.weight
        queries = torch.cat([self.query_h.weight + guided, self.query_o.weight + guided])
        return queries.unsqueeze(0).expand(batch_size, -1, -1)

    def forward(self, memory: Tensor, memory_padding_mask: Tensor | None,
                memory_pos: Tensor) -> tuple[Tensor, Tensor]:
        """Decode the pairs.

        Args:
            memory: ``[B, N, D]`` encoder output.
            memory_padding_mask: ``[B, N]`` True on padding.
            memory_pos: ``[B, N, D]`` position encoding of the memory.

        Returns:
            ``h_hs, o_hs``, each ``[L, B, Q, D]`` (normed output of every decoder layer).
        """
        query_pos = self.query_pos(memory.shape[0])  # [B, 2Q, D]
        tgt = torch.zeros_like(query_pos)
        hs = self.decoder(tgt, memory, memory_padding_mask, memory_pos, query_pos)  # [L, B, 2Q, D]
        return hs[:, :, : self.num_queries], hs[:, :, self.num_queries:]
