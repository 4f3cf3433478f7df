"""GEN-VLKT's paired instance decoder: human and object queries decoded together.

Each of the ``Q`` query pairs has a human query, an object query and a shared position-guided
embedding (GEN-VLKT eq. 1: ``Q_h = E_h + P``, ``Q_o = E_o + P``) that ties the two members of a
pair. The ``2Q`` queries attend to each other and to the encoder memory in one DETR decoder.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor, nn

from openhoi.models.detr.query_selection import CentreSelection, Selection
from openhoi.models.detr.spatial_prior import SpatialPrior, gaussian_bias
from openhoi.models.detr.transformer import TransformerDecoder


class InstanceDecoder(nn.Module):
    """Decode ``Q`` human-object query pairs into per-layer human and object features.

    The decoder content starts at zero and the query embeddings enter as ``query_pos`` at every
    layer, as in DETR and GEN-VLKT's ``GEN.forward`` (``models/gen.py``); with
    ``query_selection`` the content starts from the memory feature of each pair's selected cell.

    Args:
        decoder: a ``TransformerDecoder`` of width ``D``.
        num_queries: number of pairs ``Q``.
        spatial_prior: give every query a learned centre that biases its cross-attention
            (``openhoi.models.detr.spatial_prior``; not in GEN-VLKT, off in its recipes).
        prior_sigma: initial width of that prior.
        box_refine: with the prior, layers after the first predict boxes relative to the
            previous layer's (detached) boxes and centre their prior on them
            (``SpatialPrior.box_attention_bias``; Deformable DETR's iterative refinement).
        value_pos: cross-attend to ``memory + pos`` as values as well as keys
            (``DetectorConfig.value_pos``).
        query_selection: with the prior, take each pair's centre and starting content from a
            human-centre heat map on the memory instead of learned centres
            (``openhoi.models.detr.query_selection``); the object queries' prior then starts at
            twice ``prior_sigma``: their object lies around the selected person.

    Attributes:
        query_h, query_o: ``nn.Embedding(Q, D)`` human / object query embeddings ``E_h, E_o``
            (default normal init, GEN-VLKT's ``query_embed_h/o``).
        pos_guided: ``nn.Embedding(Q, D)`` position-guided embedding ``P``, uniform init in
            [0, 1) (GEN-VLKT's ``pos_guided_embedd`` and its ``reset_parameters``).
        prior: the ``SpatialPrior`` of the ``2Q`` queries, or None.
        selection: the ``CentreSelection`` head, or None.
    """

    def __init__(self, decoder: TransformerDecoder, num_queries: int,
                 spatial_prior: bool = False, prior_sigma: float = 0.12,
                 box_refine: bool = False, value_pos: bool = False,
                 query_selection: bool = False) -> None:
        super().__init__()
        dim = decoder.norm.normalized_shape[0]
        self.decoder = decoder
        self.num_queries = num_queries
        self.query_h = nn.Embedding(num_queries, dim)
        self.query_o = nn.Embedding(num_queries, dim)
        self.pos_guided = nn.Embedding(num_queries, dim)
        nn.init.uniform_(self.pos_guided.weight)
        if (box_refine or query_selection) and not spatial_prior:
            raise ValueError("box_refine and query_selection need the spatial prior")
        self.prior = (SpatialPrior(2 * num_queries, prior_sigma,
                                   learn_centres=not query_selection)
                      if spatial_prior else None)
        self.selection = CentreSelection(dim) if query_selection else None
        if query_selection and self.prior is not None:
            with torch.no_grad():  # object queries look twice as wide around their person
                self.prior.log_sigma[num_queries:] += math.log(2.0)
        self.box_refine = box_refine
        self.value_pos = value_pos

    def query_pos(self, batch_size: int) -> Tensor:
        """``[B, 2Q, D]``: human queries then object queries, each plus ``P`` (eq. 1)."""
        guided = self.pos_guided.weight
        queries = torch.cat([self.query_h.weight + guided, self.query_o.weight + guided])
        return queries.unsqueeze(0).expand(batch_size, -1, -1)

    def forward(self, memory: Tensor, memory_padding_mask: Tensor | None,
                memory_pos: Tensor, feature_size: tuple[int, int] | None,
                box_head: Callable[[Tensor], Tensor]) -> DecodedPairs:
        """Decode the pairs.

        Args:
            memory: ``[B, N, D]`` encoder output.
            memory_padding_mask: ``[B, N]`` True on padding.
            memory_pos: ``[B, N, D]`` position encoding of the memory.
            feature_size: ``(h, w)`` of the memory grid (``N = h * w``); needed with the
                spatial prior.
            box_head: ``[..., 2Q, D] -> [..., 2Q, 4]`` box logits of human then object queries
                (before the sigmoid and the reference).
        """
        query_pos = self.query_pos(memory.shape[0])  # [B, 2Q, D]
        tgt = torch.zeros_like(query_pos)
        # value_pos: keys stay memory + pos, values gain pos too
        values, pos = ((memory + memory_pos, None) if self.value_pos else (memory, memory_pos))
        if self.prior is None:
            hs = self.decoder(tgt, values, memory_padding_mask, pos, query_pos)
            return DecodedPairs(hs[:, :, : self.num_queries], hs[:, :, self.num_queries:],
                                box_head(hs))
        if feature_size is None:
            raise ValueError("the spatial prior needs the memory's feature_size")
        if memory_padding_mask is None:
            memory_padding_mask = memory.new_zeros(memory.shape[:2], dtype=torch.bool)
        heads = self.decoder.layers[0].cross_attn.num_heads
        selection = None
        if self.selection is None:
            bias = self.prior.attention_bias(memory_padding_mask, feature_size, heads)
            reference = self.prior.box_offsets().to(memory.dtype)  # [2Q, 4] logits
        else:
            selection = self.selection(memory, memory_padding_mask, feature_size,
                                       self.num_queries)
            bias, reference, content = self._selected(selection, memory, memory_padding_mask,
                                                      feature_size, heads)
            tgt = torch.cat([content, content], 1)  # [B, 2Q, D]
        if not self.box_refine:
            hs = self.decoder(tgt, values, memory_padding_mask, pos, query_pos,
                              bias.to(memory.dtype))  # [L, B, 2Q, D]
            return DecodedPairs(hs[:, :, : self.num_queries], hs[:, :, self.num_queries:],
                                box_head(hs) + reference, selection)
        outputs, layer_boxes = [], []
        for layer in self.decoder.layers:
            tgt = layer(tgt, values, memory_padding_mask, pos, query_pos, bias.to(memory.dtype))
            normed = self.decoder.norm(tgt)  # [B, 2Q, D]
            logits = box_head(normed) + reference  # [B, 2Q, 4]
            outputs.append(normed)
            layer_boxes.append(logits)
            reference = logits.detach()  # the next layer refines these boxes
            bias = self.prior.box_attention_bias(reference.float().sigmoid(),
                                                 memory_padding_mask, feature_size, heads)
        hs = torch.stack(outputs)  # [L, B, 2Q, D]
        return DecodedPairs(hs[:, :, : self.num_queries], hs[:, :, self.num_queries:],
                            torch.stack(layer_boxes), selection)

    def _selected(self, selection: Selection, memory: Tensor, padding_mask: Tensor,
                  feature_size: tuple[int, int], heads: int) -> tuple[Tensor, Tensor, Tensor]:
        """Attention bias ``[B * heads, 2Q, N]``, reference box logits ``[B, 2Q, 4]`` and
        starting content ``[B, Q, D]`` of the selected centres (human and object query of a
        pair share the centre and the cell's memory feature)."""
        assert self.prior is not None
        centres = selection.centres.detach()  # [B, Q, 2]
        centres = torch.cat([centres, centres], 1)  # [B, 2Q, 2]
        sigmas = self.prior.log_sigma.exp()[None, :, None].expand(centres.shape[0], -1, 2)
        bias = gaussian_bias(centres, sigmas, padding_mask, feature_size, heads)
        logits = torch.logit(centres).to(memory.dtype)
        reference = torch.cat([logits, torch.zeros_like(logits)], -1)  # [B, 2Q, 4]
        index = selection.index[..., None].expand(-1, -1, memory.shape[-1])
        return bias, reference, memory.gather(1, index)


class DecodedPairs(NamedTuple):
    """``InstanceDecoder`` output.

    Attributes:
        h_hs, o_hs: ``[L, B, Q, D]`` normed output of every decoder layer.
        box_logits: ``[L, B, 2Q, 4]`` human-then-object boxes (``box_head`` plus the reference,
            cxcywh before the sigmoid).
        selection: the query selection (its heat map feeds a loss), or None.
    """

    h_hs: Tensor
    o_hs: Tensor
    box_logits: Tensor
    selection: Selection | None = None
