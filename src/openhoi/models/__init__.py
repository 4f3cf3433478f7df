"""Model parts: detector, interaction branch, matcher, criterion, post-processing."""
