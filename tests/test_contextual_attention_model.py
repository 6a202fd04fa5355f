"""ContextualAttentionInpainter (DeepFill v1): shapes, per-sample masks, training, saving."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_inpaint.layers import ContextualAttention
from keras_inpaint.losses.adversarial import masked_gradient_penalty
from keras_inpaint.models.base import dtype_policy_scope, to_signed
from keras_inpaint.models.contextual_attention import ContextualAttentionInpainter
from keras_inpaint.models.local_crop import mirror_to_min_size, run_padded_stages
from keras_inpaint.models.resize import NearestResize
import model_checks

TINY = {"image_size": 64, "width": 4, "critic_steps": 1}


SMALL_SIZES = [(37, 53), (8, 8), (60, 168), (16, 200)]
"""Under the 64 pixels mirror padding needs: a photo, a tiny image, `inference`'s crop of a
451x60 photo, a strip."""

DYNAMIC = {
    "image": tf.TensorSpec([None, None, None, 3]), "mask": tf.TensorSpec([None, None, None, 1])
}
"""A SavedModel's signature: height and width unknown until run time."""


def make_batch(height=64, width=64, seed=0):
    """Two samples with different holes: one inside the image, one in the bottom-right corner."""
    holes = [(slice(8, 28), slice(12, 36)), (slice(height - 20, None), slice(width - 24, None))]
    return model_checks.batch_with_holes(height, width, holes, seed=seed)


def make_small_batch(height, width):
    """`make_batch`'s two holes scaled to any size: one inside, one in the bottom-right corner."""
    holes = [
        (slice(height // 4, height // 2 + 1), slice(width // 4, width // 2 + 1)),
        (slice(height - height // 3, None), slice(width - width // 3, None)),
    ]
    return model_checks.batch_with_holes(height, width, holes)


@pytest.fixture(scope="module")
def model():
    return ContextualAttentionInpainter(**TINY)


@pytest.mark.parametrize("size", [(64, 64), (70, 66)])
def test_forward_shapes_and_known_pixels(model, size):
    batch = make_batch(*size)
    model_checks.assert_composited(batch, model(batch))


def test_zero_padding_variant_accepts_small_odd_sizes():
    small = ContextualAttentionInpainter(image_size=32, width=4, padding="same")
    batch = make_batch(30, 27)
    batch["mask"][1] = 0.0
    batch["mask"][1, 20:, 15:] = 1.0
    model_checks.assert_composited(batch, small(batch))


@pytest.mark.parametrize("size", SMALL_SIZES)
def test_mirror_padding_fills_images_smaller_than_64(model, size):
    batch = make_small_batch(*size)
    output = np.asarray(model(batch))
    model_checks.assert_composited(batch, output)
    coarse, refined, flow = model.generate_stages(batch["image"], batch["mask"], return_flow=True)
    assert coarse.shape == refined.shape == (2, *size, 3)
    assert flow.shape == (2, -(-size[0] // 8), -(-size[1] // 8), 3)
    # sizes known only at run time (a SavedModel's signature): the same fill
    dynamic = np.asarray(tf.function(model, input_signature=[DYNAMIC])(batch))
    model_checks.assert_composited(batch, dynamic)
    np.testing.assert_allclose(dynamic, output, atol=1e-5)


@pytest.mark.parametrize("size", [(64, 64), (70, 66), (64, 200)])
def test_images_of_64_and_more_are_not_mirrored(model, size):
    """The mirror extension leaves images the network takes as they are: the stages are bit
    for bit those of the generator run on the reflect-padded inputs alone."""
    batch = make_batch(*size)
    image, mask = batch["image"], batch["mask"]

    def stages(image, mask):
        return model.generate_stages(image, mask, return_flow=True)

    def unextended(image, mask):
        raw = run_padded_stages(model.generator, to_signed(image) * (1.0 - mask), mask, 8)
        return (raw[0] + 1.0) / 2.0, (raw[1] + 1.0) / 2.0, raw[2]

    signature = [DYNAMIC["image"], DYNAMIC["mask"]]
    for run, expected in (
        (stages, unextended),
        (tf.function(stages, input_signature=signature),
         tf.function(unextended, input_signature=signature)),
    ):
        for ours, theirs in zip(run(image, mask), expected(image, mask)):
            np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))


def test_run_padded_stages_mirrors_image_and_mask_alike_and_crops_back():
    seen = []

    def generator(inputs, training):
        seen.append([np.asarray(x) for x in inputs])
        incomplete, mask = inputs
        return incomplete, incomplete + mask, incomplete[:, ::8, ::8]

    incomplete = np.random.default_rng(0).random((1, 5, 11, 3)).astype("float32")
    mask = np.zeros((1, 5, 11, 1), "float32")
    mask[0, 3:, 2:4] = 1.0
    coarse, refined, flow = run_padded_stages(generator, incomplete, mask, 8, min_size=64)
    extended_image, extended_mask = seen[0]
    assert extended_image.shape == (1, 64, 64, 3) and extended_mask.shape == (1, 64, 64, 1)
    period = np.arange(64) % 10, np.arange(64) % 22  # sides 5 and 11, mirrored
    rows, columns = np.minimum(period[0], 9 - period[0]), np.minimum(period[1], 21 - period[1])
    np.testing.assert_array_equal(extended_image, incomplete[:, rows][:, :, columns])
    np.testing.assert_array_equal(extended_mask, mask[:, rows][:, :, columns])
    np.testing.assert_array_equal(np.asarray(coarse), incomplete)
    np.testing.assert_array_equal(np.asarray(refined), incomplete + mask)
    np.testing.assert_array_equal(np.asarray(flow), extended_image[:, :1, :16:8])


@pytest.mark.parametrize("size", [(1, 1), (3, 70), (7, 20), (16, 16)])
def test_mirror_to_min_size_is_repeated_symmetric_padding(size):
    images = np.random.default_rng(0).random((2, *size, 3)).astype("float32")
    expected = images
    while expected.shape[1] < 16 or expected.shape[2] < 16:  # each step at most the side
        pads = [min(side, max(16 - side, 0)) for side in expected.shape[1:3]]
        expected = np.pad(expected, [(0, 0), (0, pads[0]), (0, pads[1]), (0, 0)], "symmetric")
    dynamic = tf.function(lambda x: mirror_to_min_size(x, 16),
                          input_signature=[tf.TensorSpec([None, None, None, 3])])
    for extended in (mirror_to_min_size(images, 16), dynamic(images)):
        np.testing.assert_array_equal(np.asarray(extended), expected)


def test_smallest_images_that_still_fail_are_named(model):
    """Both paddings take any image of at least one pixel (mirrored up to 64 and 5 pixels)."""
    empty = {"image": np.zeros((1, 0, 8, 3), "float32"), "mask": np.zeros((1, 0, 8, 1), "float32")}
    with pytest.raises(ValueError, match=r"at least 1x1 .*, received shape \(1, 0, 8, 3\)"):
        model(empty)
    with pytest.raises(tf.errors.InvalidArgumentError, match="at least 1x1 pixels"):
        tf.function(model, input_signature=[DYNAMIC])(empty)
    model_checks.assert_composited(make_small_batch(1, 1), model(make_small_batch(1, 1)))
    zeros = ContextualAttentionInpainter(image_size=32, width=4, padding="same")
    for height, width in ((4, 9), (1, 1)):
        batch = make_small_batch(height, width)
        model_checks.assert_composited(batch, zeros(batch))
        model_checks.assert_composited(batch, tf.function(zeros, input_signature=[DYNAMIC])(batch))


def test_hole_content_is_ignored(model):
    batch = make_batch()
    noisy = dict(batch, image=np.where(batch["mask"] > 0, 0.5, batch["image"]).astype("float32"))
    np.testing.assert_array_equal(
        np.asarray(model.generate(batch["image"], batch["mask"])),
        np.asarray(model.generate(noisy["image"], noisy["mask"])),
    )


def test_stages_flow_and_summary_images(model):
    batch = make_batch()
    coarse, refined, flow = model.generate_stages(batch["image"], batch["mask"], return_flow=True)
    for stage in (coarse, refined):
        stage = np.asarray(stage)
        assert stage.shape == (2, 64, 64, 3) and stage.min() >= 0.0 and stage.max() <= 1.0
    flow = np.asarray(flow)
    assert flow.shape == (2, 8, 8, 3) and flow.min() >= 0.0 and flow.max() <= 1.0
    assert len(model.generate_stages(batch["image"], batch["mask"])) == 2
    full_flow = np.asarray(model.attention_flow(batch))
    assert full_flow.shape == (2, 64, 64, 3)
    np.testing.assert_array_equal(full_flow[:, ::8, ::8], flow)  # nearest x8 upsampling
    images = model.summary_images(batch)
    assert sorted(images) == ["attention_flow", "coarse", "output"]
    np.testing.assert_allclose(np.asarray(images["output"]), np.asarray(model(batch)), atol=1e-6)
    np.testing.assert_array_equal(np.asarray(images["attention_flow"]), full_flow)
    np.testing.assert_allclose(np.asarray(images["coarse"]), np.asarray(coarse))


def test_per_sample_masks_give_per_sample_attention(model):
    """Each sample of a batch is filled and attended with its own mask (the authors' code
    used the first sample's mask for the whole batch)."""
    batch = make_batch()
    image, mask = batch["image"], batch["mask"]
    together = model.generate_stages(image, mask, return_flow=True)
    for index in range(2):
        alone = model.generate_stages(
            image[index : index + 1], mask[index : index + 1], return_flow=True
        )
        for batched, single in zip(together, alone):
            np.testing.assert_allclose(np.asarray(batched)[index], np.asarray(single)[0], atol=1e-5)
    _, _, flow_with_first_mask = model.generate_stages(image[1:], mask[:1], return_flow=True)
    assert not np.allclose(np.asarray(together[2])[1], np.asarray(flow_with_first_mask)[0])


def test_masked_gradient_penalty_on_a_tiny_linear_critic():
    """The penalty the critics are trained with counts the gradient on hole pixels only:
    a linear critic D(x) = sum(W * x) has gradient W, so the penalty is
    lambda * mean_b (||W * m_b|| - 1)^2 whatever the interpolation."""
    rng = np.random.default_rng(3)
    weights = rng.normal(size=(1, 4, 4, 3)).astype("float32")
    mask = np.zeros((2, 4, 4, 1), "float32")
    mask[0, 1:3, 1:3] = 1.0
    mask[1, :, 2:] = 1.0
    critic = keras.Sequential(
        [keras.Input((4, 4, 3)), keras.layers.Flatten(), keras.layers.Dense(1)]
    )
    critic.layers[-1].set_weights([weights.reshape(-1, 1), np.zeros(1, "float32")])
    real, fake = rng.random((2, 2, 4, 4, 3)).astype("float32")
    penalty = masked_gradient_penalty(critic, real, fake, mask, seed=0, weight=10.0)
    norms = np.sqrt(((weights * mask) ** 2).sum(axis=(1, 2, 3)))
    np.testing.assert_allclose(float(penalty), 10.0 * np.mean((norms - 1.0) ** 2), rtol=1e-5)


def test_config_and_keras_file_round_trip(model, tmp_path):
    config = model.get_config()
    assert config["local_size"] == [32, 32] and config["gamma"] == 0.99
    model_checks.assert_config_and_keras_file_round_trip(model, tmp_path, make_batch())


def test_reference_compatibility_switches_every_resize_and_the_heads():
    def settings(model):
        generator_layers = model.generator.layers
        return (
            {layer.align_corners for layer in generator_layers if isinstance(layer, NearestResize)},
            {
                (layer.resize_align_corners, layer.paste_normalization)
                for layer in generator_layers
                if isinstance(layer, ContextualAttention)
            },
            {len(c.layers[-1].weights) for c in (model.local_critic, model.global_critic)},
        )

    default = ContextualAttentionInpainter(image_size=32, width=2, padding="same")
    reference = ContextualAttentionInpainter(
        image_size=32, width=2, padding="same", reference_compatibility=True
    )
    assert settings(default) == ({False}, {(False, "overlap")}, {1})
    assert settings(reference) == ({True}, {(True, "reference")}, {2})


def test_mixed_float16_train_step_is_finite():
    with dtype_policy_scope("mixed_float16"):
        model = ContextualAttentionInpainter(**TINY)
        model.compile()
        batch = make_batch()
        model_checks.assert_finite_losses(model.train_step(batch))
        model_checks.assert_composited(batch, model(batch))


def test_fit_step_updates_every_weight_with_critic_steps():
    """One compiled `fit` step on a dataset of dicts: 2 critic updates, 1 generator update."""
    model = ContextualAttentionInpainter(**dict(TINY, critic_steps=2, seed=1))
    model.compile()
    before = model_checks.snapshot(model.trainable_variables)
    history = model_checks.fit_one_step(model, make_batch())
    assert sorted(history) == sorted(model.loss_terms)
    model_checks.assert_every_weight_moved(model.trainable_variables, before)
    assert len(model.discriminator_variables) == 2 * (4 + 4) + 2  # conv kernels/biases, heads
    assert int(model.discriminator_optimizer.iterations) == 2
    assert int(model.generator_optimizer.iterations) == 1


def test_gan_weight_zero_trains_the_generator_on_l1_alone():
    model = ContextualAttentionInpainter(**dict(TINY, gan_weight=0))
    model.compile()
    results = model_checks.assert_generator_trains_alone(
        model, make_batch(), ("adversarial_loss", "critic_loss", "gradient_penalty"))
    np.testing.assert_allclose(
        results["generator_loss"],
        model.l1_weight * results["l1_loss"] + model.ae_weight * results["ae_loss"], rtol=1e-6)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"width": 5}, "width"),
        ({"critic_steps": 0}, "critic_steps"),
        ({"padding": "reflect"}, "padding"),
        ({"local_size": 80}, "local_size"),
    ],
)
def test_invalid_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ContextualAttentionInpainter(**dict(TINY, **kwargs))
