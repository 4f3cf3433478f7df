"""The HOICLIP family (Ning et al., CVPR 2023): interaction decoder over CLIP's spatial tokens,
query builders, verb adapter and verb representations, and the family's builder."""
