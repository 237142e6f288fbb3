"""The training losses against examples worked out by hand."""

from __future__ import annotations

import math

import pytest
import torch

from pelage.reid.losses import AdaptiveL2, CosFaceLoss, batch_hard_triplet, hard_sigmoid, spotid_margin


def cosface_with_centres(margin_function: str) -> CosFaceLoss:
    loss = CosFaceLoss(embedding_dim=2, classes=2, scale=32.0, margin=0.28, margin_function=margin_function)
    with torch.no_grad():
        loss.centres.copy_(torch.tensor([[1.0, 0.0], [0.0, 2.0]]))  # not unit length: centres are normalised
    return loss


def test_spotid_margin_is_largest_for_orthogonal_samples():
    # h(cos) = ((1 − cos²)^4 + 0.1) / 1.1: 1 at 90°, 0.1/1.1 when the sample sits on its centre.
    assert spotid_margin(torch.tensor(0.0)).item() == pytest.approx(1.0)
    assert spotid_margin(torch.tensor(1.0)).item() == pytest.approx(0.1 / 1.1)
    assert spotid_margin(torch.tensor(0.6)).item() == pytest.approx((0.64**4 + 0.1) / 1.1)


@pytest.mark.parametrize("margin_function", ["adaptive", "constant"])
def test_cosface_loss_matches_hand_computation(margin_function):
    # Feature (3, 4) has cosine 0.6 with class 0 and 0.8 with class 1; its label is 0.
    h = (1 - 0.6**2) ** 4 + 0.1
    margin = 0.28 * (h / 1.1 if margin_function == "adaptive" else 1.0)
    target_logit, other_logit = 32 * (0.6 - margin), 32 * 0.8
    expected = -target_logit + math.log(math.exp(target_logit) + math.exp(other_logit))
    loss = cosface_with_centres(margin_function)(torch.tensor([[3.0, 4.0]]), torch.tensor([0]))
    assert loss.item() == pytest.approx(expected, rel=1e-5)


def test_cosface_margin_only_touches_the_target_class():
    loss = cosface_with_centres("constant")
    logits = loss.logits(torch.tensor([[3.0, 4.0]]), torch.tensor([1]))
    assert logits[0].tolist() == pytest.approx([32 * 0.6, 32 * (0.8 - 0.28)], rel=1e-5)


def test_unknown_margin_function_is_refused():
    with pytest.raises(ValueError, match="adaptive"):
        CosFaceLoss(2, 2, margin_function="quadratic")


def test_batch_hard_triplet_uses_farthest_positive_and_nearest_negative():
    # Points on a line (unit-length is not needed for the arithmetic): class 0 at 0 and 1, class 1 at 1.5 and 3.
    points = torch.tensor([[0.0, 0.0], [1.0, 0.0], [1.5, 0.0], [3.0, 0.0]])
    labels = torch.tensor([0, 0, 1, 1])
    # anchor 0: d+ 1, d− 1.5 → relu(1 − 1.5 + 0.3) = 0; anchor 1: d+ 1, d− 0.5 → 0.8;
    # anchor 2: d+ 1.5, d− 0.5 → 1.3; anchor 3: d+ 1.5, d− 2 → 0.
    expected = (0 + 0.8 + 1.3 + 0) / 4
    assert batch_hard_triplet(points, labels, margin=0.3).item() == pytest.approx(expected, rel=1e-5)


def test_batch_hard_triplet_is_zero_without_positives():
    points = torch.randn(3, 4, requires_grad=True)
    loss = batch_hard_triplet(points, torch.tensor([0, 1, 2]))
    assert loss.item() == 0.0
    loss.backward()  # still part of the graph


def test_adaptive_l2_follows_the_hard_sigmoid():
    assert hard_sigmoid(torch.tensor([-2.0, -1.0, 0.0, 0.5, 3.0])).tolist() == pytest.approx([0.0, 0.0, 0.5, 0.75, 1.0])
    weights = [torch.nn.Parameter(torch.full((2, 2), 1.0)), torch.nn.Parameter(torch.full((3,), 2.0))]
    regulariser = AdaptiveL2([("a", weights[0]), ("b", weights[1])], strength=0.01, c=1.0)
    with torch.no_grad():
        regulariser.theta.copy_(torch.tensor([0.0, 0.5]))
    # 0.01·0.5·(4·1²) + 0.01·0.75·(3·2²)
    assert regulariser(weights).item() == pytest.approx(0.02 + 0.09)
    regulariser(weights).backward()
    assert regulariser.theta.grad is not None and regulariser.theta.grad.abs().sum() > 0
