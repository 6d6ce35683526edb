"""Training, losses, metrics and inference."""
