"""Identification: embedding networks, losses, training, candidate index and pattern re-ranking."""
