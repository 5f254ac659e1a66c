"""vitconcepts: layer-wise CLIP-Dissect concept analysis of vision transformers and CNNs."""

__version__ = "0.1.0"
