"""HOI models: detector, CLIP knowledge, interaction branches, criterion, post-processing."""
