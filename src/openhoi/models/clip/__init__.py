"""CLIP knowledge shared by every family: open_clip loading, the image-side adapter, text
classifiers and their embeddings (and on-disk files), the zero-shot scorer, region features."""
