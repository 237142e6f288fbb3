"""Training objectives: CosFace with spotID's adaptive margin, batch-hard triplet, label-smoothed
cross-entropy and PGNet-AL2's adaptive L2 regularisation.

Each is a small module so a recipe can switch them on and off (see :mod:`pelage.reid.recipe`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from types import MappingProxyType

import torch
import torch.nn.functional as F
from torch import nn


def spotid_margin(cosine: torch.Tensor) -> torch.Tensor:
    """spotID's h(θ) = ((1 − cos²θ)⁴ + 0.1) / 1.1: the full margin at 90°, a tenth of it when aligned or opposed."""
    return ((1 - cosine.square()).pow(4) + 0.1) / 1.1


def constant_margin(cosine: torch.Tensor) -> torch.Tensor:
    """Plain CosFace: the same margin for every sample."""
    return torch.ones_like(cosine)


MARGIN_FUNCTIONS: MappingProxyType[str, Callable[[torch.Tensor], torch.Tensor]] = MappingProxyType({
    "adaptive": spotid_margin,
    "constant": constant_margin,
})


class CosFaceLoss(nn.Module):
    """Large-margin cosine loss over learnt class centres (dropped after training).

    The target logit is s·(cos θ − m·h(θ)). h is evaluated on a detached cosine: it weights how much
    margin each sample gets (hard, orthogonal samples most), it is not itself something to optimise.
    """

    def __init__(self, embedding_dim: int, classes: int, scale: float = 32.0, margin: float = 0.28, margin_function: str = "adaptive") -> None:
        super().__init__()
        if margin_function not in MARGIN_FUNCTIONS:
            raise ValueError(f"unknown margin function {margin_function!r}; choose one of: {', '.join(MARGIN_FUNCTIONS)}")
        self.centres = nn.Parameter(torch.empty(classes, embedding_dim))
        nn.init.normal_(self.centres, std=0.01)
        self.scale, self.margin, self.margin_function = scale, margin, margin_function

    def logits(self, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        cosine = F.normalize(features, dim=1) @ F.normalize(self.centres, dim=1).T
        target = cosine.gather(1, labels[:, None])
        margin = self.margin * MARGIN_FUNCTIONS[self.margin_function](target.detach())
        adjusted = cosine.scatter(1, labels[:, None], target - margin)
        return self.scale * adjusted

    def forward(self, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(self.logits(features, labels), labels)


class LabelSmoothedCE(nn.Module):
    """Softmax cross-entropy on a plain linear classifier, with label smoothing (PGNet-AL2's ε = 0.1)."""

    def __init__(self, embedding_dim: int, classes: int, smoothing: float = 0.1) -> None:
        super().__init__()
        self.classifier = nn.Linear(embedding_dim, classes, bias=False)
        self.smoothing = smoothing

    def forward(self, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(self.classifier(features), labels, label_smoothing=self.smoothing)


def batch_hard_triplet(embeddings: torch.Tensor, labels: torch.Tensor, margin: float = 0.3) -> torch.Tensor:
    """Hermans et al.'s batch-hard triplet loss on L2-normalised embeddings (Euclidean distance).

    For each anchor: its farthest positive and nearest negative in the batch. Anchors with no positive
    or no negative in the batch are left out; a batch with none gives zero.
    """
    distance = torch.cdist(embeddings, embeddings).clamp_min(1e-12)
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    positive = same & ~eye
    valid = positive.any(1) & (~same).any(1)
    if not valid.any():
        return embeddings.sum() * 0.0
    hardest_positive = distance.masked_fill(~positive, float("-inf")).amax(1)
    hardest_negative = distance.masked_fill(same, float("inf")).amin(1)
    return F.relu(hardest_positive - hardest_negative + margin)[valid].mean()


def hard_sigmoid(theta: torch.Tensor, c: float = 1.0) -> torch.Tensor:
    """0 below −c, 1 above c, linear θ/(2c) + 0.5 between (PGNet-AL2, eq. 8)."""
    return (theta / (2 * c) + 0.5).clamp(0.0, 1.0)


class AdaptiveL2(nn.Module):
    """Σᵢ A·f(θᵢ)·‖wᵢ‖² with one trainable θᵢ per parameter tensor (PGNet-AL2, eq. 7).

    θ starts at 0 (f = 0.5, i.e. plain L2 of strength A/2) and is learnt with the network, so each
    tensor finds its own strength; ``A`` caps them all.
    """

    def __init__(self, parameters: Iterable[tuple[str, nn.Parameter]], strength: float = 0.005, c: float = 1.0) -> None:
        super().__init__()
        self.names = [name for name, _ in parameters]
        self.theta = nn.Parameter(torch.zeros(len(self.names)))
        self.strength, self.c = strength, c

    def factors(self) -> torch.Tensor:
        return self.strength * hard_sigmoid(self.theta, self.c)

    def forward(self, parameters: Iterable[nn.Parameter]) -> torch.Tensor:
        squared = torch.stack([weight.square().sum() for weight in parameters])
        return (self.factors() * squared).sum()
