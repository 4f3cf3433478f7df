"""DETR-style parts shared by the one-stage HOI families: backbone, transformer, instance
decoder, object heads, matcher, set criterion, post-processing, DETR weights, and
``HOIDetector``, which composes a detector, CLIP knowledge and a family's interaction head."""
