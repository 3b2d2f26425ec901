"""Pix2Pix and CycleGAN: training mechanics, learning on tiny data, resume with pools, inference, official weights."""

from __future__ import annotations

import functools

import pytest
import torch
from lightning.pytorch import LightningDataModule, Trainer, seed_everything
from lightning.pytorch.callbacks import ModelCheckpoint
from torch.utils.data import DataLoader, Dataset

from lightning_gans import CycleGAN, Pix2Pix
from lightning_gans.cycle_gan import semantic_consistency
from lightning_gans.errors import UserInputError
from lightning_gans.fid import DigitClassifier, load_classifier, save_classifier
from lightning_gans.image_pool import ImagePool
from lightning_gans.networks import UNetGenerator
from lightning_gans.translation import inference_mode
from tests.test_translation_networks import reference_state_dict, reference_unet_layout

TINY = dict(generator_width=4, discriminator_width=4, discriminator_layers=2)
FAMILIES = {
    "Pix2Pix": (Pix2Pix, dict(generator="unet_128", **TINY)),
    "Pix2Pix-resnet-1ch": (Pix2Pix, dict(generator="resnet_6blocks", input_channels=1, output_channels=1, **TINY)),
    "Pix2Pix-WGAN-GP": (Pix2Pix, dict(generator="unet_128", adversarial_loss="wasserstein", gradient_penalty_weight=10.0,
                                      discriminator_norm="instance", **TINY)),
    "CycleGAN": (CycleGAN, dict(generator="resnet_6blocks", pool_size=3, **TINY)),
    "CycleGAN-1to3ch": (CycleGAN, dict(generator="resnet_6blocks", input_channels=1, output_channels=3, lambda_identity=0.0,
                                       pool_size=3, **TINY)),
}


class Pairs(Dataset):
    """B = colour inversion of A (pixelwise, so a translation network can learn it exactly)."""

    def __init__(self, n: int, size: int, channels_a: int, channels_b: int, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        base = torch.rand(n, 1, size // 4, size // 4, generator=g).repeat_interleave(4, -1).repeat_interleave(4, -2)
        self.a = (base * 2 - 1).repeat(1, channels_a, 1, 1)  # (n, C_A, size, size) in [-1, 1], 4x4 blocks
        self.b = -(base * 2 - 1).repeat(1, channels_b, 1, 1)

    def __len__(self) -> int:
        return len(self.a)

    def __getitem__(self, i: int) -> dict:
        return {"A": self.a[i], "B": self.b[i], "name": f"{i:03d}.png", "bit_depth": torch.tensor(8)}


class PairsData(LightningDataModule):
    def __init__(self, n=8, size=32, channels_a=3, channels_b=3, batch_size=2):
        super().__init__()
        self.input_channels, self.output_channels, self.aligned_validation = channels_a, channels_b, True
        self.args = (size, channels_a, channels_b)
        self.n, self.batch_size = n, batch_size

    def train_dataloader(self):
        return DataLoader(Pairs(self.n, *self.args), batch_size=self.batch_size, shuffle=True, drop_last=True)

    def val_dataloader(self):
        return DataLoader(Pairs(4, *self.args, seed=1), batch_size=2)


def make(name: str, **overrides):
    cls, kwargs = FAMILIES[name]
    model = cls(**{**kwargs, **overrides})
    size = 128 if kwargs["generator"] == "unet_128" else 32
    return model, PairsData(size=size, channels_a=model.hparams.input_channels, channels_b=model.hparams.output_channels)


def trainer(tmp_path, **kwargs) -> Trainer:
    defaults = dict(accelerator="cpu", devices=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                    enable_model_summary=False, default_root_dir=tmp_path, num_sanity_val_steps=0)
    return Trainer(**{**defaults, **kwargs})


def generators(model):
    return [model.generator] if isinstance(model, Pix2Pix) else [model.generator_ab, model.generator_ba]


def discriminators(model):
    return [model.discriminator] if isinstance(model, Pix2Pix) else [model.discriminator_a, model.discriminator_b]


@pytest.mark.parametrize("name", FAMILIES)
def test_one_step_updates_every_network_and_keeps_gradients_apart(name, tmp_path):
    torch.manual_seed(0)
    model, data = make(name)
    before = {id(p): p.detach().clone() for net in generators(model) + discriminators(model) for p in net.parameters()}
    seen = []  # (which optimizer stepped, G's gradients, D's gradients) at each optimizer step
    original_step = torch.optim.Adam.step

    def grads(networks):
        return [None if p.grad is None else p.grad.clone() for net in networks for p in net.parameters()]

    def spy(opt, *args, **kwargs):
        params = {id(p) for group in opt.param_groups for p in group["params"]}
        is_g = params == {id(p) for net in generators(model) for p in net.parameters()}
        seen.append(("G" if is_g else "D", grads(generators(model)), grads(discriminators(model))))
        return original_step(opt, *args, **kwargs)

    torch.optim.Adam.step = spy
    try:
        trainer(tmp_path, max_steps=1, limit_val_batches=0).fit(model, data)
    finally:
        torch.optim.Adam.step = original_step
    order = [who for who, _, _ in seen]
    assert order == (["D", "G"] if isinstance(model, Pix2Pix) else ["G", "D"])  # each paper's order
    (first, first_g, first_d), (_, second_g, second_d) = seen
    stepped, other = (first_g, first_d) if first == "G" else (first_d, first_g)
    # every parameter of the stepping player has a gradient (under the Wasserstein loss D's output bias gets
    # exactly 0: -E[D(real)] + E[D(fake)] does not depend on it)
    assert all(g is not None for g in stepped) and sum(bool(g.abs().sum() > 0) for g in stepped) >= len(stepped) - 1
    assert all(g is None for g in other)  # the other player got nothing from this player's loss
    # the second player's backward left the first player's gradients as they were (it was frozen)
    left = first_g if first == "G" else first_d
    now = second_g if first == "G" else second_d
    assert all(torch.equal(a, b) for a, b in zip(left, now))
    second = second_d if first == "G" else second_g
    assert all(g is not None for g in second) and sum(bool(g.abs().sum() > 0) for g in second) >= len(second) - 1
    for net in generators(model) + discriminators(model):
        assert any(not torch.equal(before[id(p)], p) for p in net.parameters()), type(net).__name__
    assert model.trainer.global_step == 1  # D's step is not counted


def test_pix2pix_learns_colour_inversion(tmp_path):
    seed_everything(0)
    model = Pix2Pix(generator="unet_128", generator_width=8, discriminator_width=8, discriminator_layers=2,
                    inference="eval", epochs_constant=100)
    data = PairsData(n=4, size=128, batch_size=1)
    real_a = Pairs(4, 128, 3, 3, seed=1).a
    target = -real_a
    initial = (model(real_a) - target).abs().mean().item()
    trainer(tmp_path, max_steps=200, limit_val_batches=0).fit(model, data)
    final = (model(real_a) - target).abs().mean().item()  # held-out inputs: the mapping, not the training images
    assert final < 0.15 and initial > 0.4, (initial, final)


def test_cyclegan_cycle_loss_falls(tmp_path):
    seed_everything(0)
    adam = functools.partial(torch.optim.Adam, lr=1e-3, betas=(0.5, 0.999))  # a faster G for a short test
    model = CycleGAN(generator="resnet_6blocks", generator_width=8, discriminator_width=8, discriminator_layers=2, pool_size=4,
                     generator_optimizer=adam)
    data = PairsData(n=8, size=32, batch_size=2)
    real_a = Pairs(4, 32, 3, 3, seed=1).a
    initial = (model(model(real_a, "AtoB"), "BtoA") - real_a).abs().mean().item()
    trainer(tmp_path, max_steps=150, limit_val_batches=0).fit(model, data)
    final = (model(model(real_a, "AtoB"), "BtoA") - real_a).abs().mean().item()
    assert final < 0.3 and final < initial / 2, (initial, final)


@pytest.mark.parametrize("name", ["Pix2Pix", "CycleGAN"])
def test_resume_from_end_of_epoch_is_bit_identical_with_pools_and_schedule(name, tmp_path):
    def fit(root, max_epochs, ckpt_path=None, callbacks=()):
        model, data = make(name, epochs_constant=1, epochs_decay=2)
        run = trainer(root, max_epochs=max_epochs, callbacks=list(callbacks), enable_checkpointing=bool(callbacks))
        run.fit(model, data, ckpt_path=ckpt_path)
        return run

    seed_everything(3)
    uninterrupted = fit(tmp_path / "a", 3)
    seed_everything(3)
    fit(tmp_path / "b", 1, callbacks=[ModelCheckpoint(dirpath=tmp_path / "ckpt", save_top_k=-1, filename="{epoch}")])
    torch.rand(50)
    seed_everything(3)
    resumed = fit(tmp_path / "c", 3, ckpt_path=tmp_path / "ckpt" / "epoch=0.ckpt")

    a, b = uninterrupted.lightning_module, resumed.lightning_module
    for (key, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
        if isinstance(x, torch.Tensor):
            torch.testing.assert_close(x, y, rtol=0, atol=0, msg=key)
    for opt_a, opt_b in zip(uninterrupted.optimizers, resumed.optimizers):
        assert opt_a.param_groups[0]["lr"] == opt_b.param_groups[0]["lr"] < 2e-4  # the linear decay has begun
    if name == "CycleGAN":
        assert len(a.pool_a.images) == 3 and len(b.pool_a.images) == 3
        for x, y in zip(a.pool_a.images + a.pool_b.images, b.pool_a.images + b.pool_b.images):
            torch.testing.assert_close(x, y, rtol=0, atol=0)
        checkpoint = torch.load(tmp_path / "ckpt" / "epoch=0.ckpt", weights_only=True)
        assert checkpoint["state_dict"]["pool_b._extra_state"]["images"].shape == (3, 3, 32, 32)


def test_image_pool_follows_the_reference_rule():
    pool = ImagePool(2)
    g = torch.Generator().manual_seed(0)
    first = pool.query(torch.zeros(2, 1, 1, 1), g)  # filling: returned as they are
    assert torch.equal(first, torch.zeros(2, 1, 1, 1)) and len(pool.images) == 2
    returned = torch.cat([pool.query(torch.full((1, 1, 1, 1), float(i)), g) for i in range(1, 201)]).flatten()
    new = returned == torch.arange(1, 201).float()
    assert 0.35 < new.float().mean() < 0.65  # about half the new fakes pass straight through
    assert set(returned[~new].tolist()) <= set(range(0, 200))  # the others are older fakes from the pool
    assert len(pool.images) == 2
    assert ImagePool(0).query(torch.ones(3, 1, 2, 2)).shape == (3, 1, 2, 2)


def test_paper_inference_uses_dropout_and_batch_statistics_without_changing_the_network():
    model = Pix2Pix(generator="unet_128", generator_width=4, discriminator_width=4, inference="paper")
    x = torch.rand(2, 3, 128, 128) * 2 - 1
    buffers = {k: v.clone() for k, v in model.generator.state_dict().items()}
    model.eval()
    out1, out2 = model(x), model(x)
    assert not torch.equal(out1, out2)  # dropout is on: the paper's noise
    for key, value in model.generator.state_dict().items():
        assert torch.equal(value, buffers[key]), key  # running statistics untouched
    assert all(not m.training for m in model.generator.modules())  # modes restored
    model.hparams.inference = "eval"
    assert torch.equal(model(x), model(x))
    with inference_mode(model.generator, "paper"):
        assert model.generator.training


def test_forward_translates_any_size_and_aspect():
    pix2pix = Pix2Pix(generator="unet_256", generator_width=4, discriminator_width=4, inference="eval")
    assert pix2pix(torch.rand(1, 3, 100, 333) * 2 - 1).shape == (1, 3, 100, 333)
    cyclegan = CycleGAN(generator="resnet_6blocks", generator_width=4, discriminator_width=4, input_channels=1,
                        output_channels=3, lambda_identity=0)
    assert cyclegan(torch.rand(2, 1, 37, 50), "AtoB").shape == (2, 3, 37, 50)
    assert cyclegan(torch.rand(2, 3, 37, 50), "BtoA").shape == (2, 1, 37, 50)


def test_training_crop_the_network_cannot_take_is_one_clear_error(tmp_path):
    model = Pix2Pix(generator="unet_256", generator_width=4, discriminator_width=4)
    with pytest.raises(UserInputError, match="multiples of 256"):
        trainer(tmp_path, max_steps=1, limit_val_batches=0).fit(model, PairsData(size=128))


@pytest.mark.parametrize(
    "cls, kwargs, message",
    [
        (CycleGAN, dict(input_channels=1, output_channels=3), "lambda_identity"),
        (Pix2Pix, dict(adversarial_loss="wasserstein"), "gradient_penalty_weight"),
        (Pix2Pix, dict(adversarial_loss="wasserstein", gradient_penalty_weight=10.0), "discriminator_norm"),
        (CycleGAN, dict(pretrained_generator_ab="/nonexistent/latest_net_G_A.pth"), "latest_net_G_A.pth"),
        (CycleGAN, dict(cycle_noise_std=-0.1), "cycle_noise_std must be >= 0"),
        (CycleGAN, dict(semantic_classifier="f_s.pt"), "semantic_classifier reads 1-channel digits"),
        (CycleGAN, dict(input_channels=1, output_channels=1, semantic_weight=-1.0), "semantic_weight must be >= 0"),
        (CycleGAN, dict(input_channels=1, output_channels=1, semantic_classifier_b="f_t.pt"), "set model.semantic_classifier"),
    ],
)
def test_bad_arguments_are_one_clear_error(cls, kwargs, message):
    with pytest.raises(UserInputError, match=message):
        cls(**{**TINY, **kwargs})


def test_data_with_other_channels_is_one_clear_error(tmp_path):
    model = Pix2Pix(generator="unet_128", **TINY)
    with pytest.raises(UserInputError, match="set --model.input_channels 1"):
        trainer(tmp_path, max_steps=1).fit(model, PairsData(size=128, channels_a=1))


def test_cycle_noise_enters_the_cycle_terms_only(tmp_path):
    """cycle_noise_std perturbs what F and G translate back; adversarial, identity and D terms stay as they were."""
    metrics = {}
    for std in (0.0, 0.5):
        seed_everything(0)
        model, data = make("CycleGAN", cycle_noise_std=std)
        run = trainer(tmp_path, max_steps=1, limit_val_batches=0)
        run.fit(model, data)
        metrics[std] = {key: float(value) for key, value in run.callback_metrics.items()}
    unchanged = ["train/loss_gan_ab", "train/loss_gan_ba", "train/loss_identity_a", "train/loss_identity_b",
                 "train/loss_d_a", "train/loss_d_b"]
    assert all(metrics[0.5][key] == metrics[0.0][key] for key in unchanged), metrics
    for key in ("train/loss_cycle_a", "train/loss_cycle_b"):
        assert metrics[0.5][key] != metrics[0.0][key], key


def test_semantic_consistency_is_cross_entropy_against_the_sources_predicted_labels():
    """CyCADA's term: CE(f(translated), argmax f'(source)), with the gradient through the translation only."""
    torch.manual_seed(0)
    source_classifier = DigitClassifier().eval().requires_grad_(False)  # f', labels the sources
    translated_classifier = DigitClassifier().eval().requires_grad_(False)  # f, reads the translations
    source = torch.rand(6, 1, 32, 32) * 2 - 1
    translated = (torch.rand(6, 1, 32, 32) * 2 - 1).requires_grad_(True)
    loss = semantic_consistency(source_classifier, source, translated_classifier, translated)

    def as_28(images):
        return torch.nn.functional.interpolate((images + 1) / 2, size=(28, 28), mode="bilinear", antialias=True)

    labels = source_classifier(as_28(source)).argmax(1)
    assert labels.tolist() != translated_classifier(as_28(source)).argmax(1).tolist()  # the two really differ
    expected = torch.nn.functional.cross_entropy(translated_classifier(as_28(translated)), labels)
    torch.testing.assert_close(loss, expected)
    loss.backward()
    assert translated.grad is not None and translated.grad.abs().sum() > 0
    for classifier in (source_classifier, translated_classifier):
        assert all(parameter.grad is None for parameter in classifier.parameters())


def test_semantic_classifier_adds_its_term_to_the_generator_loss_and_stays_out_of_checkpoints(tmp_path):
    """With f_S set, loss_g gains exactly loss_semantic at the first step; f_S is fixed and never saved."""
    path = tmp_path / "f_s.pt"
    torch.manual_seed(0)
    save_classifier(DigitClassifier(), path)
    one_channel = dict(input_channels=1, output_channels=1)
    metrics, models = {}, {}
    path_b = tmp_path / "f_t.pt"
    save_classifier(DigitClassifier(), path_b)  # other weights (the global seed moved on)
    runs = (
        ("plain", {}),
        ("semantic", dict(semantic_classifier=str(path), semantic_weight=2.0)),
        ("two classifiers", dict(semantic_classifier=str(path), semantic_classifier_b=str(path_b), semantic_weight=2.0)),
    )
    for name, extra in runs:
        seed_everything(0)
        model, data = make("CycleGAN", **one_channel, **extra)
        run = trainer(tmp_path, max_steps=1, limit_val_batches=0)
        run.fit(model, data)
        metrics[name] = {key: float(value) for key, value in run.callback_metrics.items()}
        models[name] = model
    assert "train/loss_semantic" not in metrics["plain"]
    for name, files in (("semantic", (path, path)), ("two classifiers", (path, path_b))):
        semantic = metrics[name]["train/loss_semantic"]
        assert semantic > 0
        assert metrics[name]["train/loss_g"] == pytest.approx(metrics["plain"]["train/loss_g"] + semantic, rel=1e-5)
        for classifier, file in zip(models[name].semantic_classifiers, files, strict=True):  # [f_S, f_T]
            torch.testing.assert_close(classifier.state_dict(), load_classifier(file).state_dict())  # never trained
        assert not any("classifier" in key for key in models[name].state_dict())
    assert metrics["two classifiers"]["train/loss_semantic"] != metrics["semantic"]["train/loss_semantic"]

    missing = CycleGAN(**TINY, **one_channel, semantic_classifier=str(tmp_path / "absent.pt"))
    with pytest.raises(UserInputError, match="model.semantic_classifier: no classifier checkpoint at .*absent.pt"):
        trainer(tmp_path, max_steps=1, limit_val_batches=0).fit(missing, make("CycleGAN", **one_channel)[1])
    missing_b = CycleGAN(**TINY, **one_channel, semantic_classifier=str(path), semantic_classifier_b=str(tmp_path / "absent.pt"))
    with pytest.raises(UserInputError, match="model.semantic_classifier_b: no classifier checkpoint at .*absent.pt"):
        trainer(tmp_path, max_steps=1, limit_val_batches=0).fit(missing_b, make("CycleGAN", **one_channel)[1])


class _LookupClassifier(torch.nn.Module):
    """Reads image i (pixel value i) with the i-th row of fixed logits."""

    def __init__(self, logits):
        super().__init__()
        self.logits = logits

    def forward(self, images):
        return self.logits[images[:, 0, 0, 0].long()]


def test_self_training_pseudo_labels_are_each_classes_most_confident_share():
    # benchmarks/mnist_classifier.py adapts f_S to MNIST by class-balanced self-training: per predicted class it
    # keeps the ceil(share * N / 10) digits it is surest of, so a crowded class cannot take over the pseudo-labels
    from benchmarks.mnist_classifier import class_balanced_pseudo_labels

    logits = torch.full((40, 10), -10.0)
    logits[:30, 3] = torch.linspace(0, 5, 30)  # 30 digits read as 3, confidence growing with the index
    logits[30:, 7] = torch.linspace(0, 5, 10)  # 10 read as 7
    images = torch.arange(40.0).view(40, 1, 1, 1)
    indices, labels = class_balanced_pseudo_labels(_LookupClassifier(logits), images, share=0.5)  # 2 per class
    assert indices.tolist() == [29, 28, 39, 38] and labels.tolist() == [3, 3, 7, 7]
    indices, labels = class_balanced_pseudo_labels(_LookupClassifier(logits), images, share=1.0)  # 4 per class
    assert sorted(indices.tolist()) == [26, 27, 28, 29, 36, 37, 38, 39] and labels.tolist() == [3] * 4 + [7] * 4


@pytest.mark.parametrize("jitter_pseudo_labelled", [False, True])
def test_self_training_jitters_the_pseudo_labelled_digits_only_as_a_noisy_student(jitter_pseudo_labelled, monkeypatch):
    # benchmarks/mnist_classifier.py --jitter_pseudo_labelled: HandwritingJitter on the pseudo-labelled MNIST digits
    # as well as on the font digits; without it the pseudo-labelled ones get random shifts only
    import benchmarks.mnist_classifier as script

    calls = []

    def record(images, labels, epochs, batch_size, lr, seed, handwriting=False):
        calls.append((len(images), torch.as_tensor(handwriting).expand(len(images)).clone()))
        return _LookupClassifier(torch.eye(10)[torch.arange(20) % 10])  # reads digit i (pixel value i) as i % 10

    monkeypatch.setattr(script, "train_classifier", record)
    font, unlabelled = torch.zeros(5, 1, 2, 2), torch.arange(20.0).view(20, 1, 1, 1).expand(20, 1, 2, 2)
    script.self_train(font, torch.zeros(5, dtype=torch.long), unlabelled, 1, 1, 4, 1e-3, 0, jitter_pseudo_labelled)
    (font_count, font_mask), (count, mask) = calls
    assert font_count == 5 and font_mask.all()  # round 0: the font digits alone, jittered
    assert count == 5 + 20 and mask[:5].all() and bool(mask[5:].all()) == jitter_pseudo_labelled
    assert bool(mask[5:].any()) == jitter_pseudo_labelled


def test_edges2urban_l1_regression_bound_scores_every_epoch_and_learns():
    # benchmarks/pix2pix_edges2urban.py --bound_epochs: the L1-only unet_128 yardstick, fit and scored on the same
    # 8 pairs here (photo = a darkened inversion of the edge map), so its L1 must fall from epoch to epoch
    import benchmarks.pix2pix_edges2urban as script

    lines = torch.rand(8, 1, 128, 128, generator=torch.Generator().manual_seed(0)) < 0.1
    edges = (1 - lines.float()).expand(8, 3, 128, 128)  # black lines on white, [0, 1]
    photos = lines.float().expand(8, 3, 128, 128) * 0.8 + 0.1
    history = script.l1_regression_bound(edges, photos, edges, photos, epochs=3, batch_size=4)
    assert len(history) == 3 and all(set(h) == set(script.METRICS) for h in history)
    l1 = [h["l1"] for h in history]
    assert l1[2] < l1[1] < l1[0], l1


def test_gradient_penalty_is_applied(tmp_path):
    """With WGAN-GP the D loss includes lambda * penalty: with a huge lambda, D's loss is dominated by it."""
    losses = {}
    for weight in (1e-3, 1e3):
        seed_everything(0)
        model, data = make("Pix2Pix-WGAN-GP", gradient_penalty_weight=weight)
        run = trainer(tmp_path, max_steps=1, limit_val_batches=0)
        run.fit(model, data)
        losses[weight] = float(run.callback_metrics["train/loss_d"])
    assert losses[1e3] > 100 * abs(losses[1e-3])


def test_official_pix2pix_generator_file_loads_into_the_family(tmp_path):
    """A file in the reference's layout (its module names) gives the same G as the network it was made from."""
    source = UNetGenerator(3, 3, num_downs=7, base_channels=4)
    path = tmp_path / "latest_net_G.pth"
    torch.save(reference_state_dict(source, reference_unet_layout(7, True), torch.randn(2, 3, 128, 128)), path)
    model = Pix2Pix(generator="unet_128", generator_width=4, discriminator_width=4, pretrained_generator=str(path),
                    inference="eval")
    x = torch.rand(1, 3, 128, 128) * 2 - 1
    source.eval()
    torch.testing.assert_close(model(x), source(x), rtol=0, atol=0)


@pytest.mark.parametrize("family, generator, size", [("pix2pix", "unet_128", 128), ("cyclegan", "resnet_6blocks", 32)])
def test_throughput_benchmarks_raw_loop_is_the_familys_math_bit_for_bit(family, generator, size, tmp_path):
    # benchmarks/translation_throughput.py times each family against a raw loop of "the same math"; that claim
    # holds only while the raw loop runs the family's operations in the family's order (a reordered forward pass
    # changes the order in which gradients accumulate and so the rounding)
    from benchmarks import translation_throughput as bench

    case = bench.Case(family, generator, size, (), ("fp32",))
    batches = bench.synthetic_batches(case, bench.SAME_MATH_BATCHES)
    assert bench.same_math_difference(case, bench.LEVERS["fp32"], batches, str(tmp_path)) == 0.0
