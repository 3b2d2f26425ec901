"""Adversarial losses shared by the GAN families, one small function per formulation.

Every loss takes raw discriminator outputs (logits or critic scores, no sigmoid applied) of any shape: `(B,)`,
`(B, 1)` or PatchGAN maps `(B, 1, H, W)`, and returns a scalar float32 tensor, the mean over every element.
Inputs are cast to float32 and sigmoids are folded into `softplus` / `binary_cross_entropy_with_logits`, so the
losses are finite for any logit and safe under fp16/bf16 autocast.

Sign convention: every function returns a quantity to MINIMIZE (discriminator losses by D, generator losses by G).
Discriminator losses do not detach anything: pass `fake_logits = D(G(z).detach())` in the D step.

Formulations (paper, arXiv id):
    non_saturating        Goodfellow et al. 2014, 1406.2661 (eq. 1 for D, Sec. 3 for G)
    minimax               Goodfellow et al. 2014, 1406.2661 (eq. 1 for both D and G, saturating)
    least_squares         Mao et al. 2017, LSGAN, 1611.04076 (eq. 2, a=0, b=c=1)
    wasserstein           Arjovsky et al. 2017, 1701.07875; Gulrajani et al. 2017, WGAN-GP, 1704.00028 (eq. 3)
    hinge                 Lim & Ye 2017, 1705.02894; Miyato et al. 2018, SN-GAN, 1802.05957
    relativistic_average  Jolicoeur-Martineau 2018, 1807.00734; Wang et al. 2018, ESRGAN, 1809.00219 (eqs. 1-2)
    gradient_penalty      Gulrajani et al. 2017, WGAN-GP, 1704.00028 (eq. 3, second term)
    adversarial_target_loss  per-side criterion of pix2pix (1611.07004) and CycleGAN (1703.10593)
"""

from collections.abc import Callable
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

AdversarialLoss = Literal["non_saturating", "minimax", "least_squares", "wasserstein", "hinge", "relativistic_average"]


# ----------------------------------------------------------------------------------------------------------------
# Non-saturating GAN: Goodfellow et al. 2014, "Generative Adversarial Nets", arXiv 1406.2661.
# D maximizes eq. 1: E[log D(x)] + E[log(1 - D(G(z)))]. G maximizes log D(G(z)) instead of minimizing
# log(1 - D(G(z))) (Sec. 3), which gives strong gradients early in training.
# With D = sigmoid(l): -log D = softplus(-l) and -log(1 - D) = softplus(l).


def non_saturating_discriminator_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """Discriminator loss of eq. 1, negated: -E[log D(x)] - E[log(1 - D(G(z)))].

    Args:
        real_logits: D's logits on real samples, any shape (e.g. `(B,)` or `(B, 1, H, W)`), any float dtype.
        fake_logits: D's logits on generated samples (detached from G), any shape, any float dtype.

    Returns:
        Scalar float32 loss, the sum of the two means.
    """
    real_term = F.binary_cross_entropy_with_logits(real_logits.float(), torch.ones_like(real_logits.float()))
    fake_term = F.binary_cross_entropy_with_logits(fake_logits.float(), torch.zeros_like(fake_logits.float()))
    return real_term + fake_term


def non_saturating_generator_loss(fake_logits: Tensor) -> Tensor:
    """Generator loss of Sec. 3, "maximize log D(G(z))": -E[log D(G(z))].

    Args:
        fake_logits: D's logits on generated samples, any shape, any float dtype.

    Returns:
        Scalar float32 loss.
    """
    return F.softplus(-fake_logits.float()).mean()


# ----------------------------------------------------------------------------------------------------------------
# Minimax ("vanilla") GAN: Goodfellow et al. 2014, arXiv 1406.2661, eq. 1 as written: G minimizes
# E[log(1 - D(G(z)))]. Saturates (vanishing gradient) when D confidently rejects the fakes; kept for comparison.
# D uses non_saturating_discriminator_loss (the same eq. 1).


def minimax_generator_loss(fake_logits: Tensor) -> Tensor:
    """Saturating generator loss of eq. 1: E[log(1 - D(G(z)))] = -E[softplus(logits)].

    Args:
        fake_logits: D's logits on generated samples, any shape, any float dtype.

    Returns:
        Scalar float32 loss (always <= 0).
    """
    return -F.softplus(fake_logits.float()).mean()


# ----------------------------------------------------------------------------------------------------------------
# Least squares GAN: Mao et al. 2017, "Least Squares Generative Adversarial Networks", arXiv 1611.04076, eq. 2
# with the 0-1 coding a=0 (fake), b=1 (real), c=1 (the value G wants D to output for fakes).


def least_squares_discriminator_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """Discriminator loss of eq. 2: 0.5 E[(D(x) - 1)^2] + 0.5 E[D(G(z))^2].

    Args:
        real_logits: D's raw outputs on real samples (no sigmoid), any shape, any float dtype.
        fake_logits: D's raw outputs on generated samples (detached from G), any shape, any float dtype.

    Returns:
        Scalar float32 loss.
    """
    real_term = 0.5 * (real_logits.float() - 1.0).square().mean()
    fake_term = 0.5 * fake_logits.float().square().mean()
    return real_term + fake_term


def least_squares_generator_loss(fake_logits: Tensor) -> Tensor:
    """Generator loss of eq. 2: 0.5 E[(D(G(z)) - 1)^2].

    Args:
        fake_logits: D's raw outputs on generated samples (no sigmoid), any shape, any float dtype.

    Returns:
        Scalar float32 loss.
    """
    return 0.5 * (fake_logits.float() - 1.0).square().mean()


# ----------------------------------------------------------------------------------------------------------------
# Wasserstein GAN: Arjovsky et al. 2017, arXiv 1701.07875; written as in Gulrajani et al. 2017, "Improved Training
# of Wasserstein GANs", arXiv 1704.00028, eq. 3 (first two terms). The critic must be kept (roughly) 1-Lipschitz
# by the caller: weight clipping (Arjovsky) or `gradient_penalty` below (Gulrajani).


def wasserstein_discriminator_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """Critic loss of eq. 3 without the penalty: E[D(G(z))] - E[D(x)].

    Args:
        real_logits: critic scores on real samples (unbounded reals), any shape, any float dtype.
        fake_logits: critic scores on generated samples (detached from G), any shape, any float dtype.

    Returns:
        Scalar float32 loss (the negated Wasserstein estimate).
    """
    return fake_logits.float().mean() - real_logits.float().mean()


def wasserstein_generator_loss(fake_logits: Tensor) -> Tensor:
    """Generator loss: -E[D(G(z))].

    Args:
        fake_logits: critic scores on generated samples, any shape, any float dtype.

    Returns:
        Scalar float32 loss.
    """
    return -fake_logits.float().mean()


# ----------------------------------------------------------------------------------------------------------------
# Hinge GAN: Lim & Ye 2017, "Geometric GAN", arXiv 1705.02894; as used by Miyato et al. 2018, "Spectral
# Normalization for GANs", arXiv 1802.05957, and later BigGAN/SAGAN. G uses the Wasserstein form.


def hinge_discriminator_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """Discriminator loss: E[relu(1 - D(x))] + E[relu(1 + D(G(z)))].

    Args:
        real_logits: D's raw outputs on real samples, any shape, any float dtype.
        fake_logits: D's raw outputs on generated samples (detached from G), any shape, any float dtype.

    Returns:
        Scalar float32 loss.
    """
    real_term = F.relu(1.0 - real_logits.float()).mean()
    fake_term = F.relu(1.0 + fake_logits.float()).mean()
    return real_term + fake_term


def hinge_generator_loss(fake_logits: Tensor) -> Tensor:
    """Generator loss: -E[D(G(z))].

    Args:
        fake_logits: D's raw outputs on generated samples, any shape, any float dtype.

    Returns:
        Scalar float32 loss.
    """
    return -fake_logits.float().mean()


# ----------------------------------------------------------------------------------------------------------------
# Relativistic average GAN: Jolicoeur-Martineau 2018, "The relativistic discriminator", arXiv 1807.00734; written
# as in ESRGAN, Wang et al. 2018, arXiv 1809.00219, eqs. 1-2:
#     D_Ra(a, b) = sigmoid(C(a) - E[C(b)])
#     L_D = -E_xr[log D_Ra(xr, xf)] - E_xf[log(1 - D_Ra(xf, xr))]          (eq. 1)
#     L_G = -E_xr[log(1 - D_Ra(xr, xf))] - E_xf[log D_Ra(xf, xr)]          (eq. 2)
# A SUM of the two terms, as in the ESRGAN equations (some implementations average them, i.e. half this value).
# E[C(b)] is the mean over every element of the other batch (all PatchGAN positions included).


def relativistic_average_discriminator_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """ESRGAN eq. 1: -E[log sigmoid(C(xr) - E[C(xf)])] - E[log(1 - sigmoid(C(xf) - E[C(xr)]))].

    Follows the ESRGAN paper's equation: the sum (not the average) of the real and fake terms.

    Args:
        real_logits: critic outputs C(xr) on real samples, any shape, any float dtype.
        fake_logits: critic outputs C(xf) on generated samples (detached from G), any shape, any float dtype.

    Returns:
        Scalar float32 loss.
    """
    real_logits, fake_logits = real_logits.float(), fake_logits.float()
    real_vs_fake = real_logits - fake_logits.mean()  # logit of D_Ra(xr, xf)
    fake_vs_real = fake_logits - real_logits.mean()  # logit of D_Ra(xf, xr)
    return F.softplus(-real_vs_fake).mean() + F.softplus(fake_vs_real).mean()


def relativistic_average_generator_loss(fake_logits: Tensor, real_logits: Tensor) -> Tensor:
    """ESRGAN eq. 2: -E[log(1 - sigmoid(C(xr) - E[C(xf)]))] - E[log sigmoid(C(xf) - E[C(xr)])].

    Follows the ESRGAN paper's equation: the sum (not the average) of the two terms. `real_logits` is detached
    here: C(xr) does not depend on G, so G's loss must not send gradients into the discriminator through it.

    Args:
        fake_logits: critic outputs C(xf) on generated samples (not detached), any shape, any float dtype.
        real_logits: critic outputs C(xr) on real samples, any shape, any float dtype.

    Returns:
        Scalar float32 loss.
    """
    real_logits, fake_logits = real_logits.detach().float(), fake_logits.float()
    real_vs_fake = real_logits - fake_logits.mean()  # logit of D_Ra(xr, xf)
    fake_vs_real = fake_logits - real_logits.mean()  # logit of D_Ra(xf, xr)
    return F.softplus(real_vs_fake).mean() + F.softplus(-fake_vs_real).mean()


# ----------------------------------------------------------------------------------------------------------------
# Gradient penalty: Gulrajani et al. 2017, "Improved Training of Wasserstein GANs", arXiv 1704.00028, eq. 3
# (second term, without lambda) and Algorithm 1: x_hat = eps x + (1 - eps) x_fake with eps ~ U[0, 1] per sample.
# The input gradient is taken in float32 with autocast off: under fp16/bf16 autocast a low-precision
# double-backward underflows or loses precision (pytorch #25081).


def gradient_penalty(
    critic: Callable[[Tensor], Tensor],
    real: Tensor,
    fake: Tensor,
    generator: torch.Generator | None = None,
) -> Tensor:
    """WGAN-GP penalty E[(||grad_x_hat D(x_hat)||_2 - 1)^2] on random interpolates of real and fake samples.

    The gradient is built with `create_graph=True`, so the returned penalty backpropagates into the critic's
    parameters. The caller multiplies it by lambda (the paper uses lambda = 10) and adds it to the critic loss.
    The gradient norm is per sample, so the critic must treat samples independently (no BatchNorm; the paper
    uses layer normalization, Sec. 4).

    Args:
        critic: maps a batch shaped like `real` to scores of any shape whose first dim is B, e.g. `(B,)` or
            `(B, 1, H, W)`; the scores are summed before differentiation. A conditional critic is a closure over
            its labels, e.g. `lambda x: discriminator(x, labels)`.
        real: real samples `(B, ...)`, e.g. images `(B, C, H, W)` in [-1, 1] or points `(B, 2)`; detached.
        fake: generated samples with the same shape as `real`; detached, so G gets no gradient.
        generator: optional `torch.Generator` on `real.device` for drawing eps; the global RNG when None.

    Returns:
        Scalar float32 penalty, the mean over the B samples.
    """
    if real.shape != fake.shape:
        raise ValueError(f"gradient_penalty: real {tuple(real.shape)} and fake {tuple(fake.shape)} need equal shapes.")
    with torch.autocast(device_type=real.device.type, enabled=False):
        eps_shape = (real.shape[0],) + (1,) * (real.dim() - 1)  # (B, 1, ..., 1): one eps per sample
        eps = torch.rand(eps_shape, generator=generator, device=real.device, dtype=torch.float32)
        x_hat = eps * real.detach().float() + (1.0 - eps) * fake.detach().float()
        x_hat.requires_grad_(True)
        scores = critic(x_hat).float()
        (grad,) = torch.autograd.grad(scores.sum(), x_hat, create_graph=True)  # (B, ...)
        grad_norm = torch.linalg.vector_norm(grad.flatten(start_dim=1), dim=1)  # (B,)
        return (grad_norm - 1.0).square().mean()


# ----------------------------------------------------------------------------------------------------------------
# Image-to-image translation writes its adversarial terms per side, as pix2pix (Isola et al. 2017, arXiv 1611.07004,
# eq. 1) and CycleGAN (Zhu et al. 2017, arXiv 1703.10593, eq. 1 and Sec. 4) do: one criterion l(D(.), real?) that
# G applies to its fakes with the "real" target and D applies to both sides, D's sum halved ("we divide the
# objective by 2 while optimizing D", both papers). CycleGAN's least-squares form is then G: E[(D(G(x)) - 1)^2],
# D: 0.5 (E[(D(y) - 1)^2] + E[D(G(x))^2]), the weighting its lambda = 10 is relative to (no LSGAN 1/2 on G's term).
# The reference implementation's --gan_mode names: vanilla = non_saturating, lsgan = least_squares,
# wgangp = wasserstein (which there never applies its penalty; here the families add `gradient_penalty`).

TranslationAdversarialLoss = Literal["non_saturating", "least_squares", "wasserstein"]


def adversarial_target_loss(kind: TranslationAdversarialLoss, logits: Tensor, target_is_real: bool) -> Tensor:
    """The per-side criterion l(D(.), target) of the translation papers, a scalar float32 mean over every logit.

    Args:
        kind: ``non_saturating`` (binary cross-entropy with logits against 1 or 0; pix2pix), ``least_squares``
            (squared error against 1 or 0; CycleGAN) or ``wasserstein`` (-E[D] for real, E[D] for fake).
        logits: D's raw outputs, any shape (PatchGAN maps ``(B, 1, h, w)``), any float dtype.
        target_is_real: True for real images and for G's fakes in the generator step, False for D's fakes.
    """
    logits = logits.float()
    if kind == "non_saturating":
        target = torch.ones_like(logits) if target_is_real else torch.zeros_like(logits)
        return F.binary_cross_entropy_with_logits(logits, target)
    if kind == "least_squares":
        return (logits - 1.0).square().mean() if target_is_real else logits.square().mean()
    if kind == "wasserstein":
        return -logits.mean() if target_is_real else logits.mean()
    raise ValueError(f"Unknown translation adversarial loss kind={kind!r}; use non_saturating, least_squares or wasserstein.")


# ----------------------------------------------------------------------------------------------------------------
# Dispatch by name, so a family takes `adversarial_loss: AdversarialLoss` and LightningCLI validates it.

_LOSSES: dict[str, tuple[Callable[[Tensor, Tensor], Tensor], Callable[..., Tensor]]] = {
    "non_saturating": (non_saturating_discriminator_loss, non_saturating_generator_loss),
    "minimax": (non_saturating_discriminator_loss, minimax_generator_loss),
    "least_squares": (least_squares_discriminator_loss, least_squares_generator_loss),
    "wasserstein": (wasserstein_discriminator_loss, wasserstein_generator_loss),
    "hinge": (hinge_discriminator_loss, hinge_generator_loss),
    "relativistic_average": (relativistic_average_discriminator_loss, relativistic_average_generator_loss),
}


def _loss_pair(kind: str) -> tuple[Callable[[Tensor, Tensor], Tensor], Callable[..., Tensor]]:
    if kind not in _LOSSES:
        raise ValueError(f"Unknown adversarial loss kind={kind!r}; use one of {', '.join(_LOSSES)}.")
    return _LOSSES[kind]


def discriminator_loss(kind: AdversarialLoss, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """Discriminator (critic) loss of the named formulation; see the module docstring for papers.

    Args:
        kind: the formulation, one of "non_saturating", "minimax", "least_squares", "wasserstein", "hinge",
            "relativistic_average". "wasserstein" needs a Lipschitz constraint from the caller (`gradient_penalty`).
        real_logits: D's raw outputs on real samples, any shape (e.g. `(B,)` or `(B, 1, H, W)`).
        fake_logits: D's raw outputs on generated samples, detached from G, any shape.

    Returns:
        Scalar float32 loss for D to minimize.
    """
    discriminator_fn, _ = _loss_pair(kind)
    return discriminator_fn(real_logits, fake_logits)


def generator_loss(kind: AdversarialLoss, fake_logits: Tensor, real_logits: Tensor | None = None) -> Tensor:
    """Generator loss of the named formulation; see the module docstring for papers.

    Args:
        kind: the formulation, one of "non_saturating", "minimax", "least_squares", "wasserstein", "hinge",
            "relativistic_average".
        fake_logits: D's raw outputs on generated samples (not detached), any shape.
        real_logits: D's raw outputs on real samples; required for "relativistic_average" (detached there),
            ignored by the other kinds.

    Returns:
        Scalar float32 loss for G to minimize.
    """
    _, generator_fn = _loss_pair(kind)
    if kind != "relativistic_average":
        return generator_fn(fake_logits)
    if real_logits is None:
        raise ValueError("generator_loss(kind='relativistic_average') needs real_logits=D(real samples); pass them.")
    return generator_fn(fake_logits, real_logits)
