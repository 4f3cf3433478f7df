"""The GEN-VLKT family (Liao et al., CVPR 2022): interaction decoder on the detector's memory,
CLIP-text classifier and the feature-mimic loss, and the family's builder."""
