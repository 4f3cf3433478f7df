"""Training engine: loops, evaluation, checkpoints, optimiser, distributed helpers, logging."""
