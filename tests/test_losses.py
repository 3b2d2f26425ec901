"""Tests for lightning_gans/losses.py: hand-computed golden values, shapes, precision, gradient penalty, dispatch."""

import math
import typing

import pytest
import torch

from lightning_gans import losses
from lightning_gans.losses import (
    AdversarialLoss,
    discriminator_loss,
    generator_loss,
    gradient_penalty,
)

KINDS: tuple[str, ...] = typing.get_args(AdversarialLoss)

# Golden inputs: uneven batch sizes so a mean over the wrong set of elements shows up.
REAL = [0.0, 2.0]
FAKE = [-1.0, 1.0, 4.0]  # mean 4/3; REAL mean 1


def sigmoid(v: float) -> float:
    return 1.0 / (1.0 + math.exp(-v))


def mean(values: list[float]) -> float:
    return sum(values) / len(values)


# Each expected value is written out from the paper's formula with plain Python math.
# -log D(x) with D = sigmoid: -log(sigmoid(0)) = log 2, -log(sigmoid(2)) = log(1 + e^-2).
NS_D = mean([math.log(1 + math.exp(-0.0)), math.log(1 + math.exp(-2.0))]) + mean(
    [math.log(1 + math.exp(-1.0)), math.log(1 + math.exp(1.0)), math.log(1 + math.exp(4.0))]
)
NS_G = mean([math.log(1 + math.exp(1.0)), math.log(1 + math.exp(-1.0)), math.log(1 + math.exp(-4.0))])
MINIMAX_G = mean([math.log(1 - sigmoid(-1.0)), math.log(1 - sigmoid(1.0)), math.log(1 - sigmoid(4.0))])
LS_D = 0.5 * mean([(0 - 1) ** 2, (2 - 1) ** 2]) + 0.5 * mean([1.0, 1.0, 16.0])  # = 0.5 + 3 = 3.5
LS_G = 0.5 * mean([(-1 - 1) ** 2, (1 - 1) ** 2, (4 - 1) ** 2])  # = 13/6
W_D = 4 / 3 - 1
W_G = -4 / 3
HINGE_D = mean([max(0.0, 1 - 0.0), max(0.0, 1 - 2.0)]) + mean([max(0.0, 1 - 1.0), max(0.0, 1 + 1.0), max(0.0, 1 + 4.0)])
HINGE_G = -4 / 3
# ESRGAN eqs. 1-2 with E[C(xr)] = 1, E[C(xf)] = 4/3.
RA_D = mean([-math.log(sigmoid(0 - 4 / 3)), -math.log(sigmoid(2 - 4 / 3))]) + mean(
    [-math.log(1 - sigmoid(-1 - 1)), -math.log(1 - sigmoid(1 - 1)), -math.log(1 - sigmoid(4 - 1))]
)
RA_G = mean([-math.log(1 - sigmoid(0 - 4 / 3)), -math.log(1 - sigmoid(2 - 4 / 3))]) + mean(
    [-math.log(sigmoid(-1 - 1)), -math.log(sigmoid(1 - 1)), -math.log(sigmoid(4 - 1))]
)

GOLDEN = {
    "non_saturating": (NS_D, NS_G),
    "minimax": (NS_D, MINIMAX_G),
    "least_squares": (LS_D, LS_G),
    "wasserstein": (W_D, W_G),
    "hinge": (HINGE_D, HINGE_G),
    "relativistic_average": (RA_D, RA_G),
}


def test_golden_table_covers_every_kind() -> None:
    assert set(GOLDEN) == set(KINDS)


def test_hand_values_spot_check() -> None:
    # Guards the table itself against typos: two entries are simple rationals.
    assert LS_D == pytest.approx(3.5)
    assert HINGE_D == pytest.approx(0.5 + 7 / 3)


@pytest.mark.parametrize("kind", KINDS)
def test_discriminator_loss_golden(kind: str) -> None:
    loss = discriminator_loss(kind, torch.tensor(REAL), torch.tensor(FAKE))
    assert loss.shape == ()
    assert loss.dtype == torch.float32
    assert loss.item() == pytest.approx(GOLDEN[kind][0], rel=1e-6, abs=1e-6)


@pytest.mark.parametrize("kind", KINDS)
def test_generator_loss_golden(kind: str) -> None:
    loss = generator_loss(kind, torch.tensor(FAKE), real_logits=torch.tensor(REAL))
    assert loss.shape == ()
    assert loss.dtype == torch.float32
    assert loss.item() == pytest.approx(GOLDEN[kind][1], rel=1e-6, abs=1e-6)


@pytest.mark.parametrize(
    ("function", "expected"),
    [
        (losses.non_saturating_discriminator_loss, NS_D),
        (losses.least_squares_discriminator_loss, LS_D),
        (losses.wasserstein_discriminator_loss, W_D),
        (losses.hinge_discriminator_loss, HINGE_D),
        (losses.relativistic_average_discriminator_loss, RA_D),
    ],
)
def test_public_discriminator_functions_golden(function, expected: float) -> None:
    assert function(torch.tensor(REAL), torch.tensor(FAKE)).item() == pytest.approx(expected, rel=1e-6, abs=1e-6)


@pytest.mark.parametrize(
    ("function", "expected"),
    [
        (losses.non_saturating_generator_loss, NS_G),
        (losses.minimax_generator_loss, MINIMAX_G),
        (losses.least_squares_generator_loss, LS_G),
        (losses.wasserstein_generator_loss, W_G),
        (losses.hinge_generator_loss, HINGE_G),
    ],
)
def test_public_generator_functions_golden(function, expected: float) -> None:
    assert function(torch.tensor(FAKE)).item() == pytest.approx(expected, rel=1e-6, abs=1e-6)


def test_relativistic_average_generator_function_golden() -> None:
    loss = losses.relativistic_average_generator_loss(torch.tensor(FAKE), torch.tensor(REAL))
    assert loss.item() == pytest.approx(RA_G, rel=1e-6)


def test_relativistic_average_is_a_sum_of_terms_per_esrgan() -> None:
    # Equal logits: every D_Ra is sigmoid(0) = 1/2, so each of the two terms is log 2 and the SUM is 2 log 2.
    logits = torch.zeros(4)
    assert losses.relativistic_average_discriminator_loss(logits, logits).item() == pytest.approx(2 * math.log(2))
    assert losses.relativistic_average_generator_loss(logits, logits).item() == pytest.approx(2 * math.log(2))


def test_relativistic_average_generator_loss_detaches_real_logits() -> None:
    real = torch.tensor(REAL, requires_grad=True)
    fake = torch.tensor(FAKE, requires_grad=True)
    generator_loss("relativistic_average", fake, real_logits=real).backward()
    assert real.grad is None
    assert fake.grad is not None and fake.grad.abs().sum() > 0


@pytest.mark.parametrize("kind", KINDS)
def test_patchgan_shape_matches_flattened(kind: str) -> None:
    gen = torch.Generator().manual_seed(0)
    real = torch.randn(2, 1, 4, 4, generator=gen)
    fake = torch.randn(3, 1, 4, 4, generator=gen)
    d_patch = discriminator_loss(kind, real, fake)
    g_patch = generator_loss(kind, fake, real_logits=real)
    assert d_patch.shape == () and g_patch.shape == ()
    torch.testing.assert_close(d_patch, discriminator_loss(kind, real.flatten(), fake.flatten()))
    torch.testing.assert_close(g_patch, generator_loss(kind, fake.flatten(), real_logits=real.flatten()))


@pytest.mark.parametrize("kind", KINDS)
def test_bfloat16_inputs_give_float32_results(kind: str) -> None:
    gen = torch.Generator().manual_seed(1)
    real = 3 * torch.randn(8, generator=gen)
    fake = 3 * torch.randn(8, generator=gen)
    real_bf16, fake_bf16 = real.bfloat16(), fake.bfloat16()
    d_bf16 = discriminator_loss(kind, real_bf16, fake_bf16)
    g_bf16 = generator_loss(kind, fake_bf16, real_logits=real_bf16)
    assert d_bf16.dtype == torch.float32 and g_bf16.dtype == torch.float32
    # Computed in float32 from the bf16 values: identical to the fp32 loss of the upcast inputs ...
    torch.testing.assert_close(d_bf16, discriminator_loss(kind, real_bf16.float(), fake_bf16.float()))
    torch.testing.assert_close(g_bf16, generator_loss(kind, fake_bf16.float(), real_logits=real_bf16.float()))
    # ... and close to the fp32 loss (only the bf16 rounding of the inputs differs).
    torch.testing.assert_close(d_bf16, discriminator_loss(kind, real, fake), rtol=2e-2, atol=2e-2)
    torch.testing.assert_close(g_bf16, generator_loss(kind, fake, real_logits=real), rtol=2e-2, atol=2e-2)


@pytest.mark.parametrize("kind", KINDS)
def test_float32_under_autocast(kind: str) -> None:
    weight = torch.randn(4, 1)
    x = torch.randn(6, 4)
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        logits = (x @ weight).squeeze(1)  # bf16 under autocast
        assert logits.dtype == torch.bfloat16
        d_loss = discriminator_loss(kind, logits[:3], logits[3:])
        g_loss = generator_loss(kind, logits[3:], real_logits=logits[:3])
    assert d_loss.dtype == torch.float32 and g_loss.dtype == torch.float32
    torch.testing.assert_close(d_loss, discriminator_loss(kind, logits[:3].float(), logits[3:].float()))


@pytest.mark.parametrize("kind", KINDS)
def test_extreme_logits_are_finite(kind: str) -> None:
    real = torch.tensor([-1e4, -100.0, 100.0, 1e4], requires_grad=True)
    fake = torch.tensor([-1e4, -100.0, 100.0, 1e4], requires_grad=True)
    d_loss = discriminator_loss(kind, real, fake)
    g_loss = generator_loss(kind, fake, real_logits=real)
    (d_loss + g_loss).backward()
    assert torch.isfinite(d_loss) and torch.isfinite(g_loss)
    assert torch.isfinite(real.grad).all() and torch.isfinite(fake.grad).all()


def test_minimax_saturates_while_non_saturating_does_not() -> None:
    # Goodfellow et al. Sec. 3: when D rejects fakes confidently (logit -10), log(1 - D(G(z))) saturates.
    fake = torch.tensor([-10.0], requires_grad=True)
    (minimax_grad,) = torch.autograd.grad(generator_loss("minimax", fake), fake)
    (non_saturating_grad,) = torch.autograd.grad(generator_loss("non_saturating", fake), fake)
    assert minimax_grad.item() == pytest.approx(-sigmoid(-10.0), rel=1e-5)  # about -4.5e-5
    assert non_saturating_grad.item() == pytest.approx(-sigmoid(10.0), rel=1e-5)  # about -1


# ---------------------------------------------------------------------------------------------------------------
# Gradient penalty


def linear_critic(weight: torch.Tensor):
    """D(x) = w . flatten(x): its input gradient is w everywhere, so the penalty is (||w|| - 1)^2 for any eps."""
    return lambda x: x.flatten(start_dim=1) @ weight


@pytest.mark.parametrize("sample_shape", [(2,), (1, 2, 2), (3, 4, 4)])
def test_gradient_penalty_linear_critic_exact(sample_shape: tuple[int, ...]) -> None:
    gen = torch.Generator().manual_seed(0)
    numel = math.prod(sample_shape)
    weight = torch.randn(numel, generator=gen).requires_grad_(True)
    real = torch.randn(5, *sample_shape, generator=gen)
    fake = torch.randn(5, *sample_shape, generator=gen)
    penalty = gradient_penalty(linear_critic(weight), real, fake)
    norm = weight.detach().norm().item()
    assert penalty.shape == () and penalty.dtype == torch.float32
    assert penalty.item() == pytest.approx((norm - 1) ** 2, rel=1e-5)
    # Backpropagates into the critic: d/dw (||w|| - 1)^2 = 2 (||w|| - 1) w / ||w||.
    penalty.backward()
    torch.testing.assert_close(weight.grad, 2 * (norm - 1) * weight.detach() / norm)


def test_gradient_penalty_hand_value_for_3_4_weight() -> None:
    weight = torch.tensor([3.0, 4.0])
    penalty = gradient_penalty(linear_critic(weight), torch.randn(4, 2), torch.randn(4, 2))
    assert penalty.item() == pytest.approx((5.0 - 1.0) ** 2)  # 16


def test_gradient_penalty_conditional_critic_closure() -> None:
    # Per-class linear critic D(x, y) = w_y . x. Rows: ||w_0|| = 5, ||w_1|| = 0.5.
    weight = torch.tensor([[3.0, 4.0], [0.3, 0.4]], requires_grad=True)
    labels = torch.tensor([0, 1, 1])

    def critic(x: torch.Tensor) -> torch.Tensor:
        return (x * weight[labels]).sum(dim=1)

    penalty = gradient_penalty(critic, torch.randn(3, 2), torch.randn(3, 2))
    assert penalty.item() == pytest.approx(((5 - 1) ** 2 + 2 * (0.5 - 1) ** 2) / 3)  # 16.5 / 3 = 5.5
    penalty.backward()
    # d/dw_k of (1/B) sum_i (||w_{y_i}|| - 1)^2 = (count_k / B) 2 (||w_k|| - 1) w_k / ||w_k||.
    expected = torch.stack(
        [
            (1 / 3) * 2 * (5 - 1) * weight[0].detach() / 5,
            (2 / 3) * 2 * (0.5 - 1) * weight[1].detach() / 0.5,
        ]
    )
    torch.testing.assert_close(weight.grad, expected)


def test_gradient_penalty_one_eps_per_sample_drawn_from_generator() -> None:
    # D(x) = sum x^2 has input gradient 2 x. With real = 1, fake = 0: x_hat = eps (per sample), so
    # ||grad|| = 2 eps sqrt(d) and the penalty is mean((2 eps_i sqrt(d) - 1)^2) for the eps drawn from the generator.
    batch, sample_shape = 4, (1, 3, 3)
    real, fake = torch.ones(batch, *sample_shape), torch.zeros(batch, *sample_shape)
    critic = lambda x: x.square().flatten(start_dim=1).sum(dim=1)  # noqa: E731
    penalty = gradient_penalty(critic, real, fake, generator=torch.Generator().manual_seed(123))
    eps = torch.rand(batch, 1, 1, 1, generator=torch.Generator().manual_seed(123)).flatten()
    expected = ((2 * eps * math.sqrt(9) - 1) ** 2).mean()
    torch.testing.assert_close(penalty, expected)
    # Same seed, same penalty; another seed, another one.
    again = gradient_penalty(critic, real, fake, generator=torch.Generator().manual_seed(123))
    other = gradient_penalty(critic, real, fake, generator=torch.Generator().manual_seed(7))
    assert again.item() == penalty.item()
    assert other.item() != penalty.item()


def test_gradient_penalty_does_not_backpropagate_into_samples() -> None:
    real = torch.randn(3, 2, requires_grad=True)
    fake = torch.randn(3, 2, requires_grad=True)
    weight = torch.tensor([3.0, 4.0], requires_grad=True)
    gradient_penalty(linear_critic(weight), real, fake).backward()
    assert real.grad is None and fake.grad is None
    assert weight.grad is not None


def test_gradient_penalty_runs_in_float32_under_autocast() -> None:
    # A critic with an nn.Linear would run in bf16 under autocast; the penalty must stay exact in fp32.
    torch.manual_seed(0)
    critic = torch.nn.Linear(16, 1)
    norm = critic.weight.detach().norm().item()
    real, fake = torch.randn(4, 16), torch.randn(4, 16)
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        assert critic(real).dtype == torch.bfloat16  # autocast is active for the critic outside the penalty
        penalty = gradient_penalty(critic, real, fake)
    assert penalty.dtype == torch.float32
    assert penalty.item() == pytest.approx((norm - 1) ** 2, rel=1e-5)
    penalty.backward()
    torch.testing.assert_close(critic.weight.grad, 2 * (norm - 1) * critic.weight.detach() / norm)


def test_gradient_penalty_patchgan_critic_scores() -> None:
    # Scores (B, 1, H, W) are summed: a 1x1 conv critic w . x at each pixel has input gradient w at every pixel,
    # so ||grad|| = ||w|| sqrt(H W).
    weight = torch.tensor([0.1, 0.2])
    critic = lambda x: torch.einsum("bchw,c->bhw", x, weight).unsqueeze(1)  # noqa: E731
    penalty = gradient_penalty(critic, torch.randn(2, 2, 3, 3), torch.randn(2, 2, 3, 3))
    assert penalty.item() == pytest.approx((weight.norm().item() * 3 - 1) ** 2, rel=1e-5)


def test_gradient_penalty_shape_mismatch_raises() -> None:
    with pytest.raises(ValueError, match="real .* fake"):
        gradient_penalty(linear_critic(torch.ones(2)), torch.randn(3, 2), torch.randn(4, 2))


# ---------------------------------------------------------------------------------------------------------------
# Dispatch


def test_dispatch_table_matches_literal() -> None:
    assert set(losses._LOSSES) == set(KINDS)


def test_unknown_kind_raises_listing_valid_names() -> None:
    for call in (
        lambda: discriminator_loss("wgan", torch.zeros(2), torch.zeros(2)),
        lambda: generator_loss("wgan", torch.zeros(2)),
    ):
        with pytest.raises(ValueError) as error:
            call()
        message = str(error.value)
        assert "wgan" in message and "\n" not in message
        assert all(kind in message for kind in KINDS)


def test_relativistic_average_generator_loss_requires_real_logits() -> None:
    with pytest.raises(ValueError, match="real_logits"):
        generator_loss("relativistic_average", torch.zeros(2))


@pytest.mark.parametrize("kind", [k for k in KINDS if k != "relativistic_average"])
def test_real_logits_ignored_by_non_relativistic_generator_losses(kind: str) -> None:
    fake = torch.tensor(FAKE)
    assert generator_loss(kind, fake).item() == generator_loss(kind, fake, real_logits=torch.tensor(REAL)).item()
