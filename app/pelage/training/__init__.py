"""Training from a project: fine-tuning on confirmed individuals in a worker process, and the model registry."""
