"""Globally and Locally Consistent Image Completion (Iizuka, Simo-Serra, Ishikawa, 2017)."""

import keras
import tensorflow as tf
from keras import ops

from keras_inpaint.losses.adversarial import (
    nonsaturating_discriminator_loss,
    nonsaturating_generator_loss,
)
from keras_inpaint.losses.reconstruction import masked_l2
from keras_inpaint.models.base import (
    InpaintingModel,
    binarize_mask,
    composite,
    split_inputs,
)
from keras_inpaint.models.local_crop import (
    crop_at,
    hole_centred_offsets,
    pad_any_size,
    resolve_local_size,
)

REFERENCE_WIDTH = 64
"""The paper's first-layer channel count; `width` scales every layer relative to it."""

DOWNSAMPLING = 4
"""The completion network halves the resolution twice before its bottleneck."""

COMPLETION_LAYERS = (
    # (kind, kernel, dilation, stride, channels at width 64); Iizuka et al. table 1
    ("conv", 5, 1, 1, 64),
    ("conv", 3, 1, 2, 128),
    ("conv", 3, 1, 1, 128),
    ("conv", 3, 1, 2, 256),
    ("conv", 3, 1, 1, 256),
    ("conv", 3, 1, 1, 256),
    ("conv", 3, 2, 1, 256),
    ("conv", 3, 4, 1, 256),
    ("conv", 3, 8, 1, 256),
    ("conv", 3, 16, 1, 256),
    ("conv", 3, 1, 1, 256),
    ("conv", 3, 1, 1, 256),
    ("deconv", 4, 1, 2, 128),
    ("conv", 3, 1, 1, 128),
    ("deconv", 4, 1, 2, 64),
    ("conv", 3, 1, 1, 32),
)
"""The completion network before its 3x3 sigmoid output layer; each layer has BN + ReLU."""

GLOBAL_DISCRIMINATOR_CHANNELS = (64, 128, 256, 512, 512, 512)
LOCAL_DISCRIMINATOR_CHANNELS = (64, 128, 256, 512, 512)
"""5x5 stride-2 convolutions of the context discriminators at width 64 (table 2)."""

DISCRIMINATOR_FEATURES = 1024
"""Each context discriminator ends in a fully connected layer to 1024 features (at width 64)."""

PLACES2_MEAN_PIXEL = (0.4560, 0.4472, 0.4155)
"""RGB mean of the authors' training set, stored as ``mean`` in their released Places2 model
``completionnet_places2.t7`` (and used by ports of it)."""

ADADELTA_RHO = 0.9
ADADELTA_EPSILON = 1e-6
"""Decay and epsilon of Torch7's ``optim.adadelta`` defaults (the authors' framework)."""

PHASES = (1, 2, 3)
"""1: completion network on L_rec alone; 2: discriminators alone; 3: joint training."""


@keras.saving.register_keras_serializable(package="keras_inpaint")
class GlobalLocalInpainter(InpaintingModel):
    """Iizuka et al., "Globally and Locally Consistent Image Completion", SIGGRAPH 2017.

    **Completion network** C (table 1): its input is the image with the holes filled with
    the training set's mean pixel, centred by that mean (``(image - mean) * (1 - m)``, which
    is how the authors' released code feeds it), plus the mask channel m. With w = `width`
    (64 in the paper) scaling every channel count: conv 5x5 w; conv 3x3 2w stride 2; conv
    2w; conv 4w stride 2; conv 4w x 2; dilated conv 4w with dilation 2, 4, 8, 16; conv 4w x 2;
    deconv 4x4 2w stride 1/2; conv 2w; deconv w stride 1/2; conv w/2; output conv 3x3 to 3
    channels with a sigmoid. Every layer but the output has batch normalisation and ReLU;
    convolutions are zero-padded ("same") and have no bias where batch normalisation follows
    (it would be subtracted again; a converted model with such biases folds them into the
    moving means).

    **Context discriminators** D (table 2): a global one on the whole image (six 5x5
    stride-2 convolutions with w, 2w, 4w, 8w, 8w, 8w channels, each with BN + ReLU, then a
    fully connected layer to 16w = 1024 features with ReLU) and a local one on the
    `local_size` window centred on the hole (five such convolutions, w .. 8w, then 16w
    features); their features are concatenated and a fully connected layer gives one logit
    (the probability of "real" after a sigmoid). Images enter D in [0, 1].

    **Losses** (eq. 1-3): with the completed image ``C = output * m + x * (1 - m)``,

        L_rec = mean(m * (output - x)^2)                                  (masked MSE)
        L_D   = alpha * (-log D(x, M_d) - log(1 - D(C, M_c)))             (discriminators)
        L_C   = L_rec + alpha * (-log D(C, M_c))                          (completion network)

    with ``alpha = 0.0004``. The real image's local window M_d is a random window (a random
    hole, as the paper draws); the completed image's is centred on its hole.

    **Training schedule** (sec. 4): ``phases = (T_C, T_D, T_total)``: for the first T_C
    steps the completion network is trained on L_rec alone (phase 1); for the next T_D steps
    the discriminators alone, the completion network fixed (phase 2); after that both
    jointly (phase 3), until T_total (the length ``keras-inpaint train --steps`` should
    have). The phase is read from the model's ``train_steps`` counter, a weight saved with
    every checkpoint, so a resumed run continues in the right phase; the current phase is
    returned as the metric ``phase`` (shown in the progress bar and logs). Phases are
    switched inside the compiled step by applying each optimizer under a condition (the
    step runs unchanged under `tf.distribute`). In phase 1 the discriminators do not run
    (a `cond` on the phase; their losses are reported as 0); in the other phases the
    batch-norm moving averages of the networks that run follow the data, and only the
    trainable weights of the network not being trained are fixed.

    **Where we differ from the paper:** the paper trains with Adadelta and we do too, with
    Torch7's ``optim.adadelta`` defaults (learning rate 1, rho 0.9, epsilon 1e-6) since the
    paper names only the method; Adam, common in re-implementations, can be passed to
    `compile`. The paper's batch is 96 and its training masks have one rectangular hole of
    96-128 pixels per side at 256 x 256 (``default_masks = "rectangle"``); masks here are
    per sample, and any mask works (the local window is centred on the bounding box of
    each sample's holes). The Poisson-blending post-processing is
    `keras_inpaint.postprocess`, not part of the model.

    Shapes: inputs ``{"image": [B, H, W, 3] in [0, 1], "mask": [B, H, W, 1], 1 = hole}``; the
    completion network is fully convolutional (any H and W, one pixel too: `generate` mirrors
    sides under 3 pixels, pads by reflection to a multiple of 4 and crops back); training
    batches are `image_size` (the global discriminator's input) with the local window
    `local_size`. Output: the composited image [B, H, W, 3] in [0, 1].

    Args:
        image_size: training size, int or (height, width); 256 in the paper.
        width: channels of the first layer (64 in the paper); every layer scales with it.
        local_size: the local discriminator's window, int or (height, width); None = half
            of `image_size` (128 at 256, the paper's).
        alpha: weight of the adversarial loss (0.0004, sec. 4).
        phases: ``(T_C, T_D, T_total)`` in steps, (90000, 10000, 500000) in the paper; a
            tuple, list or "900,100,5000" string (``--set phases=900,100,5000``).
        learning_rate: Adadelta's learning rate for both networks (1.0: the original method).
        mean_pixel: the RGB mean pixel (in [0, 1]) that fills the holes; the default is the
            Places2 mean stored in the authors' released model.
        seed: seed of the real images' random local windows (None: random).
        **kwargs: `InpaintingModel` / `keras.Model` arguments (``name``, ``dtype``).

    Example:
    >>> model = GlobalLocalInpainter(image_size=64, width=8, phases=(2, 1, 10))
    >>> image = np.random.rand(2, 64, 64, 3).astype("float32")
    >>> mask = np.zeros((2, 64, 64, 1), "float32"); mask[:, 16:40, 20:44] = 1
    >>> model({"image": image, "mask": mask}).shape
    TensorShape([2, 64, 64, 3])
    >>> int(model.phase())  # a new model starts in phase 1
    1
    """

    loss_terms = (
        "reconstruction_loss",
        "adversarial_loss",
        "completion_loss",
        "discriminator_loss",
        "phase",
    )
    default_masks = "rectangle"
    architecture_arguments = ("width", "local_size")

    def __init__(
        self,
        image_size=256,
        width=64,
        local_size=None,
        alpha=0.0004,
        phases=(90000, 10000, 500000),
        learning_rate=1.0,
        mean_pixel=PLACES2_MEAN_PIXEL,
        seed=None,
        **kwargs,
    ):
        super().__init__(image_size=image_size, **kwargs)
        if isinstance(width, bool) or not isinstance(width, int) or width < 2 or width % 2:
            raise ValueError(f"width must be a positive even int, received {width!r}")
        self.width = width
        self.local_size = resolve_local_size(local_size, self.image_size)
        self.alpha = alpha
        self.phases = _parse_phases(phases)
        self.learning_rate = learning_rate
        self.mean_pixel = _parse_mean_pixel(mean_pixel)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        with self.network_scope():
            self.generator = self._build_completion_network()
            self.discriminator = self._build_discriminator()
        self.finish_building()

    # ---- networks -----------------------------------------------------------------------
    def _channels(self, channels_at_reference):
        return max(1, channels_at_reference * self.width // REFERENCE_WIDTH)

    def _build_completion_network(self):
        """Table 1 of the paper; input [centred image with mean-filled holes, mask]."""
        inputs = keras.Input((None, None, 4), name="completion_input")
        x = inputs
        for index, (kind, kernel, dilation, stride, channels) in enumerate(
            COMPLETION_LAYERS, start=1
        ):
            if kind == "deconv":
                layer = keras.layers.Conv2DTranspose(
                    self._channels(channels),
                    kernel,
                    strides=stride,
                    padding="same",
                    use_bias=False,
                    name=f"deconv{index}",
                )
            else:
                layer = keras.layers.Conv2D(
                    self._channels(channels),
                    kernel,
                    strides=stride,
                    dilation_rate=dilation,
                    padding="same",
                    use_bias=False,
                    name=f"conv{index}",
                )
            x = _batch_norm_relu(layer(x), layer.name)
        x = keras.layers.Conv2D(3, 3, padding="same", name="output")(x)
        outputs = keras.layers.Activation("sigmoid", dtype="float32", name="output_sigmoid")(x)
        return keras.Model(inputs, outputs, name="completion_network")

    def _build_discriminator(self):
        """Global and local context discriminators, concatenated into one logit (table 2)."""
        global_input = keras.Input((*self.image_size, 3), name="global_input")
        local_input = keras.Input((*self.local_size, 3), name="local_input")
        features = [
            self._context_features(global_input, GLOBAL_DISCRIMINATOR_CHANNELS, "global"),
            self._context_features(local_input, LOCAL_DISCRIMINATOR_CHANNELS, "local"),
        ]
        x = keras.layers.Concatenate(name="concatenation")(features)
        logit = keras.layers.Dense(1, dtype="float32", name="concatenation_fc")(x)
        return keras.Model([global_input, local_input], logit, name="context_discriminator")

    def _context_features(self, x, channels, kind):
        for index, channels_at_reference in enumerate(channels, start=1):
            layer = keras.layers.Conv2D(
                self._channels(channels_at_reference),
                5,
                strides=2,
                padding="same",
                use_bias=False,
                name=f"{kind}_conv{index}",
            )
            x = _batch_norm_relu(layer(x), layer.name)
        x = keras.layers.Flatten(name=f"{kind}_flatten")(x)
        x = keras.layers.Dense(self._channels(DISCRIMINATOR_FEATURES), name=f"{kind}_fc")(x)
        return keras.layers.ReLU(name=f"{kind}_fc_relu")(x)

    # ---- inference ----------------------------------------------------------------------
    def generate(self, image, mask, training=False):
        """The completion network's raw output in [0, 1], float32 [B, H, W, 3]."""
        image = ops.cast(image, "float32")
        mask = binarize_mask(mask)
        mean = ops.convert_to_tensor(self.mean_pixel, "float32")
        network_input = ops.concatenate([(image - mean) * (1.0 - mask), mask], axis=-1)
        shape = tf.shape(image)
        output = self.generator(pad_any_size(network_input, DOWNSAMPLING), training=training)
        return ops.cast(output[:, : shape[1], : shape[2]], "float32")

    # ---- training -----------------------------------------------------------------------
    def phase(self, step=None):
        """The training phase (1, 2 or 3, int32) at `step`, by default at ``train_steps``."""
        step = self.train_steps if step is None else step
        completion_steps, discriminator_steps, _ = self.phases
        step = ops.cast(step, "int64")
        return ops.where(
            step < completion_steps,
            PHASES[0],
            ops.where(step < completion_steps + discriminator_steps, PHASES[1], PHASES[2]),
        )

    def default_optimizers(self):
        """Adadelta for both networks (sec. 4; Torch7 defaults, see the class docstring)."""
        return {
            name: keras.optimizers.Adadelta(
                learning_rate=self.learning_rate, rho=ADADELTA_RHO, epsilon=ADADELTA_EPSILON
            )
            for name in ("generator", "discriminator")
        }

    def train_step(self, data):
        image, mask = split_inputs(data)
        mask = binarize_mask(mask)
        phase = self.phase()
        train_completion = phase != PHASES[1]
        train_discriminator = phase != PHASES[0]
        adversarial_gate = ops.cast(phase == PHASES[2], "float32")
        fake_top, fake_left = hole_centred_offsets(mask, self.local_size)
        real_top, real_left = self._random_offsets(ops.shape(image)[0])
        discriminator_gate = ops.cast(train_discriminator, "float32")
        with tf.GradientTape() as completion_tape, tf.GradientTape() as discriminator_tape:
            output = self.generate(image, mask, training=True)
            completed = composite(image, mask, output)

            def discriminate():
                return (self._discriminate(image, real_top, real_left),
                        self._discriminate(completed, fake_top, fake_left))

            def skip():  # phase 1: the discriminators take no part, so they do not run
                zeros = ops.zeros((ops.shape(image)[0], 1), "float32")
                return zeros, zeros

            real_logits, fake_logits = ops.cond(train_discriminator, discriminate, skip)
            reconstruction_loss = masked_l2(image, output, mask)
            adversarial_loss = discriminator_gate * nonsaturating_generator_loss(fake_logits)
            completion_loss = (
                reconstruction_loss + adversarial_gate * self.alpha * adversarial_loss
            )
            discriminator_loss = discriminator_gate * self.alpha * (
                nonsaturating_discriminator_loss(real_logits, ops.stop_gradient(fake_logits))
            )
            scaled_completion_loss, scaled_discriminator_loss = self.scale_losses(
                completion_loss, discriminator_loss
            )
        self.minimize(
            self.generator_optimizer,
            completion_tape,
            scaled_completion_loss,
            self.generator_variables,
            when=train_completion,
        )
        self.minimize(
            self.discriminator_optimizer,
            discriminator_tape,
            scaled_discriminator_loss,
            self.discriminator_variables,
            when=train_discriminator,
        )
        # "phase" is a gauge, not an average: its tracker holds this step's value only.
        self.loss_trackers["phase"].reset_state()
        return self.record(
            {
                "reconstruction_loss": reconstruction_loss,
                "adversarial_loss": adversarial_loss,
                "completion_loss": completion_loss,
                "discriminator_loss": discriminator_loss,
                "phase": phase,
            }
        )

    def _discriminate(self, images, top, left):
        """The context discriminator's logit [B, 1] for images and their local windows."""
        local = crop_at(images, top, left, self.local_size)
        return ops.cast(self.discriminator([images, local], training=True), "float32")

    def _random_offsets(self, batch_size):
        """Uniformly random local windows inside the image (M_d of the real images)."""
        return tuple(
            keras.random.randint(
                (batch_size,), 0, image_side - window_side + 1, seed=self.seed_generator
            )
            for image_side, window_side in zip(self.image_size, self.local_size)
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "width": self.width,
                "local_size": list(self.local_size),
                "alpha": self.alpha,
                "phases": list(self.phases),
                "learning_rate": self.learning_rate,
                "mean_pixel": list(self.mean_pixel),
                "seed": self.seed,
            }
        )
        return config


def _batch_norm_relu(x, name):
    x = keras.layers.BatchNormalization(name=f"{name}_bn")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x)


def _parse_phases(phases):
    """(T_C, T_D, T_total) from a sequence or a "T_C,T_D,T_total" string, checked."""
    received = phases
    if isinstance(phases, str):
        phases = phases.replace(" ", "").split(",")
    try:
        phases = tuple(int(p) for p in phases)
    except (TypeError, ValueError):
        phases = ()
    if len(phases) != 3 or min(phases) < 0 or phases[0] + phases[1] > phases[2]:
        raise ValueError(
            "phases must be three non-negative step counts (T_C, T_D, T_total) with "
            f"T_C + T_D <= T_total, e.g. (90000, 10000, 500000) or '900,100,5000'; "
            f"received {received!r}"
        )
    return phases


def _parse_mean_pixel(mean_pixel):
    values = tuple(float(v) for v in mean_pixel)
    if len(values) != 3 or not all(0.0 <= v <= 1.0 for v in values):
        raise ValueError(f"mean_pixel must be 3 values in [0, 1] (RGB), received {mean_pixel!r}")
    return values
