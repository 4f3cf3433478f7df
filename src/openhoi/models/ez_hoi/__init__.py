"""EZ-HOI (Lei et al., NeurIPS 2024): two-stage zero-shot HOI detection with guided prompts."""
