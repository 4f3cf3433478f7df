"""Pure tensor functions: boxes, losses."""
