"""The embedding network: backbone → linear + BN → L2-normalised vector, and its configuration."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from pelage.reid.backbones import INPUT_MEAN, INPUT_STD, create_backbone

if TYPE_CHECKING:
    from pelage.reid.spot_words import SpotVocabulary


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a network and feed it: saved beside the weights as ``config.json``."""

    arch: str = "efficientnet_lite0"
    embedding_dim: int = 512
    input_height: int = 224
    input_width: int = 448  # flanks are wide: twice as wide as high, like spotID's 512×256
    in_chans: int = 4  # RGB + edge
    mean: tuple[float, ...] = field(default=INPUT_MEAN)
    std: tuple[float, ...] = field(default=INPUT_STD)
    dropout: float = 0.2
    # Identification compares [e(x), e(mirror x)] / √2 instead of e(x) (pelage.reid.embed.identification_vectors):
    # vectors twice as wide, one more forward pass a crop, and a stronger comparison for a model that learnt mirrored
    # crops as classes of their own.
    mirror_features: bool = False
    # Words in the spot vocabulary appended to the vectors (pelage.reid.spot_words; 0: none) and their weight against
    # the embedding's cosine: what lets the shortlist set other species' coats aside.
    spot_words: int = 0
    spot_words_weight: float = 0.5

    @property
    def embedding_width(self) -> int:
        """Width of the embedding part of an identification vector (twice the embedding with mirror features)."""
        return self.embedding_dim * (2 if self.mirror_features else 1)

    @property
    def vector_dim(self) -> int:
        """Width of the vectors identification stores and compares."""
        return self.embedding_width + self.spot_words

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ModelConfig:
        known = {key: value for key, value in data.items() if key in cls.__dataclass_fields__}
        for key in ("mean", "std"):
            if key in known:
                known[key] = tuple(known[key])
        return cls(**known)


class EmbeddingNet(nn.Module):
    """Maps a normalised N×4×H×W batch to N×D unit vectors (cosine similarity = dot product)."""

    def __init__(self, config: ModelConfig, pretrained: bool = True) -> None:
        super().__init__()
        self.config = config
        self.backbone = create_backbone(config.arch, config.in_chans, pretrained=pretrained)
        self.dropout = nn.Dropout(config.dropout)
        self.projection = nn.Linear(self.backbone.num_features, config.embedding_dim, bias=False)
        self.norm = nn.BatchNorm1d(config.embedding_dim)
        # Not a weight: the spot vocabulary identification appends (config.spot_words words), read from the model
        # folder by pelage.reid.bundle.load_model and written back by save_model.
        self.spot_words: SpotVocabulary | None = None

    def features(self, batch: torch.Tensor) -> torch.Tensor:
        """The embedding before L2 normalisation (what the margin losses work on)."""
        return self.norm(self.projection(self.dropout(self.backbone(batch))))

    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.features(batch), dim=1)
