"""The train-step core shared by every paper model.

`InpaintingModel` owns what every GAN-style inpainter repeats, so that a paper's model only
writes its networks and a `train_step` that reads like the paper's algorithm:

- inputs are one dict ``{"image": [B,H,W,3] float in [0, 1], "mask": [B,H,W,1], 1 = hole}``,
  checked up front (`split_inputs`);
- the output is composited: ``where(mask > 0.5, generated, image)``, so known pixels are copied
  from the input bit for bit (`composite`);
- `compile` takes a generator and a discriminator optimizer (paper defaults from
  `default_optimizers`), wraps both in `keras.optimizers.LossScaleOptimizer` under
  ``mixed_float16`` (Keras itself wraps only ``self.optimizer``) and builds them on their
  variables right away, i.e. inside the caller's `tf.distribute` strategy scope;
- `minimize` applies one optimizer step to a loss computed under a tape: the loss is divided by
  the number of replicas (gradients are summed across replicas) and scaled for float16 inside
  the tape, and the optimizer unscales, skips non-finite steps and adapts the scale;
- one `keras.metrics.Mean` tracker per loss term (`loss_terms`), and `test_step` reporting
  masked L1, PSNR and SSIM of the composited output;
- a non-trainable ``train_steps`` counter, for schedules such as GLCIC's three phases;
- sub-networks are built in ``__init__`` (under the model's dtype policy), so ``.keras`` and
  ``.weights.h5`` files reload faithfully with no build step, random streams included.
"""

import contextlib

import keras
import tensorflow as tf
from keras import ops

from keras_inpaint import metrics as inpaint_metrics
from keras_inpaint.layers.shape_checks import check_same_dims
from keras_inpaint.weight_storage import SEED_STATE_KEY

HOLE_THRESHOLD = 0.5
"""Mask values above this are holes inside the models (masks are expected to be 0/1)."""


@contextlib.contextmanager
def dtype_policy_scope(policy):
    """Build layers under `policy` (sub-networks then follow the model's own dtype policy)."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def split_inputs(inputs):
    """Return ``(image, mask)`` float32 tensors from an input dict, checking their shapes.

    Accepts the batch dict itself or a 1-tuple holding it (what `fit` passes when there is no
    target). Raises ValueError naming what was received. Tensors of unknown rank (from a
    `tf.py_function`) are taken as ``[B, H, W, C]``, and sizes unknown until run time are
    compared then (an InvalidArgumentError with the same message).
    """
    if isinstance(inputs, (tuple, list)) and len(inputs) >= 1 and isinstance(inputs[0], dict):
        inputs = inputs[0]
    if not isinstance(inputs, dict) or "image" not in inputs or "mask" not in inputs:
        received = sorted(inputs) if isinstance(inputs, dict) else type(inputs).__name__
        raise ValueError(
            'inputs must be a dict with keys "image" and "mask", received ' f"{received}"
        )
    _check_float_image(inputs["image"])
    image = _with_rank_4(ops.cast(inputs["image"], "float32"), 3)
    mask = _with_rank_4(ops.cast(inputs["mask"], "float32"), 1)
    image_shape, mask_shape = tuple(image.shape), tuple(mask.shape)
    if len(image_shape) != 4 or image_shape[-1] != 3:
        raise ValueError(f"image must have shape [B, H, W, 3], received shape {image_shape}")
    if len(mask_shape) != 4 or mask_shape[-1] != 1:
        raise ValueError(
            f"mask must have shape [B, H, W, 1] (1 = hole), received shape {mask_shape}"
        )
    for axis, name in ((0, "batch size"), (1, "height"), (2, "width")):
        a, b = image_shape[axis], mask_shape[axis]
        if a is not None and b is not None and a != b:
            raise ValueError(
                f"image and mask must have the same {name}, received image shape "
                f"{image_shape} and mask shape {mask_shape}"
            )
    # Sizes unknown until run time (a generator's batches) are compared then.
    mask = check_same_dims(
        mask, image, 3, "image and mask must have the same batch size, height and width"
    )
    return image, mask


def _with_rank_4(tensor, channels):
    """`tensor`, given the shape ``[None, None, None, channels]`` if its rank is unknown (a
    `tf.py_function`'s output in a `tf.data` pipeline, say): checked when the step runs (an
    InvalidArgumentError naming the shape received), known to the code traced after it."""
    if isinstance(tensor, tf.Tensor) and tensor.shape.rank is None:
        return tf.ensure_shape(tensor, [None, None, None, channels])
    return tensor


def _check_float_image(image):
    """Refuse integer and bool images: the models take floats in [0, 1], and an 8-bit image
    cast as it is would be 255 times too bright (the values' range is not checked: that would
    cost a reduction over every batch)."""
    dtype = keras.backend.standardize_dtype(getattr(image, "dtype", "float32"))
    if "int" in dtype or dtype == "bool":
        raise ValueError(
            f"image must be float in [0, 1] (divide 8-bit images by 255), received dtype {dtype}"
        )


def binarize_mask(mask):
    """1.0 where ``mask > HOLE_THRESHOLD`` (hole), else 0.0, float32."""
    return ops.cast(mask > HOLE_THRESHOLD, "float32")


def composite(image, mask, generated):
    """Known pixels from `image` exactly, hole pixels from `generated` (float32)."""
    generated = ops.cast(generated, "float32")
    return ops.where(mask > HOLE_THRESHOLD, generated, ops.cast(image, "float32"))


def to_signed(image):
    """[0, 1] -> [-1, 1]."""
    return image * 2.0 - 1.0


def to_unit(image):
    """[-1, 1] -> [0, 1]."""
    return (image + 1.0) * 0.5


class InpaintingModel(keras.Model):
    """Base class of the paper models (see the module docstring).

    Subclasses set `loss_terms` (the names returned by their `train_step`), build their
    networks in ``__init__`` inside ``with self.network_scope():``, and implement
    `generate(image, mask, training)` returning the raw fill in [0, 1] (float, [B,H,W,3]) and
    `default_optimizers()`. `generator_variables` / `discriminator_variables` default to the
    ``generator`` / ``discriminator`` attributes' trainable variables. An optional
    ``summary_images(inputs)`` returns extra TensorBoard pictures ({name: [B, H, W, 3] in
    [0, 1]}); when it includes ``"output"``, the training loop does not run the model again.

    Args:
        image_size: the training resolution ``(height, width)`` or an int; fully
            convolutional models accept other sizes at inference.
        **kwargs: `keras.Model` arguments (``name``, ``dtype``).
    """

    loss_terms = ()
    default_masks = "free_form"
    """Mask generator spec (see `keras_inpaint.masks`) used by `keras-inpaint train`."""
    summarize_output = True
    """Whether training writes the composited output to TensorBoard (False where inference
    is too costly to run during training, as for the latent search)."""
    inference_needs_discriminator = False
    """Whether inference uses more than ``self.generator`` (True for the latent search, whose
    prior loss is the discriminator's): otherwise a preset may ship the generator alone
    (`keras_inpaint.zoo.publish(generator_only=True)`)."""
    architecture_arguments = ("width",)
    """The constructor arguments that the shapes of the weights depend on: `keras-inpaint train
    --init-from SOURCE` takes the source's values of those not set with ``--set``."""

    def __init__(self, image_size=256, **kwargs):
        super().__init__(**kwargs)
        # Inputs stay float32 under mixed policies: known pixels are copied from them exactly.
        self._convert_input_args = False
        self._allow_non_tensor_positional_args = True  # dicts of NumPy arrays are cast below
        self.image_size = _pair(image_size, "image_size")
        self.loss_trackers = {name: keras.metrics.Mean(name=name) for name in self.loss_terms}
        self.evaluation_trackers = {
            name: keras.metrics.Mean(name=name) for name in ("masked_l1", "psnr", "ssim")
        }
        self.train_steps = self.add_weight(
            shape=(),
            dtype="int64",
            initializer="zeros",
            trainable=False,
            name="train_steps",
            aggregation="only_first_replica",
        )
        self.generator_optimizer = None
        self.discriminator_optimizer = None

    # ---- construction -------------------------------------------------------------------
    def network_scope(self):
        """Context in which subclasses build their networks (the model's dtype policy)."""
        return dtype_policy_scope(self.dtype_policy)

    def finish_building(self):
        """Mark the model built once its networks exist (called at the end of ``__init__``)."""
        self.built = True

    def build(self, input_shape=None):
        """Networks are built in ``__init__``; nothing is left to build."""
        self.built = True

    def get_build_config(self):
        return {"image_size": list(self.image_size)}

    def build_from_config(self, config):
        self.built = True

    def get_config(self):
        config = super().get_config()
        config.update({"image_size": list(self.image_size)})
        return config

    @property
    def generator_variables(self):
        return self.generator.trainable_variables

    @property
    def discriminator_variables(self):
        discriminator = getattr(self, "discriminator", None)
        return [] if discriminator is None else discriminator.trainable_variables

    # ---- inference ----------------------------------------------------------------------
    def generate(self, image, mask, training=False):
        """The raw fill in [0, 1], [B,H,W,3] (subclasses implement)."""
        raise NotImplementedError(f"{type(self).__name__} must implement generate()")

    def call(self, inputs, training=False):
        """Composited inpainting: known pixels from the input, holes from `generate`."""
        image, mask = split_inputs(inputs)
        mask = binarize_mask(mask)
        return composite(image, mask, self.generate(image, mask, training=training))

    # ---- training -----------------------------------------------------------------------
    def default_optimizers(self):
        """``{"generator": optimizer, "discriminator": optimizer or None}`` from the paper."""
        raise NotImplementedError(f"{type(self).__name__} must implement default_optimizers()")

    def compile(
        self, generator_optimizer=None, discriminator_optimizer=None, optimizer=None, **kwargs
    ):
        """Configure training; call inside the `tf.distribute` strategy scope if any.

        Args:
            generator_optimizer: a `keras.optimizers.Optimizer` or an identifier such as
                ``"adam"`` (`keras.optimizers.get`); the paper's by default.
            discriminator_optimizer: likewise for the discriminator(s), if the model has one;
                an instance of its own (an optimizer is built for one set of variables).
            optimizer: Keras' name for the generator's optimizer, accepted as
                `generator_optimizer` (``model.compile(optimizer=...)``); not both.
            **kwargs: passed to `keras.Model.compile` (e.g. ``jit_compile``,
                ``steps_per_execution``).
        """
        if optimizer is not None:
            if generator_optimizer is not None:
                raise ValueError(
                    "pass the generator's optimizer as generator_optimizer or as optimizer, "
                    f"not both; received {generator_optimizer!r} and {optimizer!r}"
                )
            generator_optimizer = optimizer
        generator_optimizer = _get_optimizer(generator_optimizer)
        discriminator_optimizer = _get_optimizer(discriminator_optimizer)
        if generator_optimizer is None or (
            discriminator_optimizer is None and self.discriminator_variables
        ):
            defaults = self.default_optimizers()  # only the paper's optimizers not passed
            generator_optimizer = generator_optimizer or defaults["generator"]
            discriminator_optimizer = discriminator_optimizer or defaults.get("discriminator")
        if discriminator_optimizer is not None and _inner(discriminator_optimizer) is _inner(
            generator_optimizer
        ):
            raise ValueError(
                "generator_optimizer and discriminator_optimizer must be two optimizer "
                "instances (each is built for its network's variables), received the same "
                f"{type(generator_optimizer).__name__} for both"
            )
        super().compile(optimizer=generator_optimizer, **kwargs)
        self.generator_optimizer = self.optimizer
        self.generator_optimizer.build(self.generator_variables)
        if discriminator_optimizer is not None and self.discriminator_variables:
            self.discriminator_optimizer = self._with_loss_scale(discriminator_optimizer)
            self.discriminator_optimizer.build(self.discriminator_variables)

    def get_compile_config(self):
        if self.generator_optimizer is None:
            return None
        return {
            name: None if optimizer is None else keras.optimizers.serialize(_inner(optimizer))
            for name, optimizer in (
                ("generator_optimizer", self.generator_optimizer),
                ("discriminator_optimizer", self.discriminator_optimizer),
            )
        }

    def compile_from_config(self, config):
        self.compile(
            **{
                name: None if value is None else keras.optimizers.deserialize(value)
                for name, value in config.items()
            }
        )

    def save_own_variables(self, store):
        """Keras' (the model's own variables, such as ``train_steps``), then the state of each
        of the model's `keras.random.SeedGenerator`s (the random streams of its training step
        or search), which Keras does not save: a reloaded ``.keras`` or ``.weights.h5`` file
        draws on where the saved model stood."""
        super().save_own_variables(store)
        for index, generator in enumerate(self._seed_generators):
            store[f"{SEED_STATE_KEY}{index}"] = generator.state

    def load_own_variables(self, store):
        """Keras', then the random streams saved by `save_own_variables`; a file written
        without them (before they were saved) leaves the streams where they are."""
        seeds = [key for key in store.keys() if key.startswith(SEED_STATE_KEY)]
        super().load_own_variables(
            {key: store[key] for key in store.keys() if key not in seeds})
        for index, generator in enumerate(self._seed_generators):
            if f"{SEED_STATE_KEY}{index}" in seeds:
                generator.state.assign(store[f"{SEED_STATE_KEY}{index}"])

    def _with_loss_scale(self, optimizer):
        if self.dtype_policy.name == "mixed_float16" and not isinstance(
            optimizer, keras.optimizers.LossScaleOptimizer
        ):
            return keras.optimizers.LossScaleOptimizer(optimizer)
        return optimizer

    def scale_loss(self, optimizer, loss):
        """Per-replica, loss-scaled `loss`: compute it inside the gradient tape."""
        loss = ops.cast(loss, "float32")
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        if replicas > 1:
            loss = loss / float(replicas)
        return optimizer.scale_loss(loss)

    def scale_losses(self, generator_loss, discriminator_loss):
        """`scale_loss` of both networks' losses with their optimizers, inside both tapes.

        Returns:
            ``(scaled_generator_loss, scaled_discriminator_loss)``.
        """
        return (
            self.scale_loss(self.generator_optimizer, generator_loss),
            self.scale_loss(self.discriminator_optimizer, discriminator_loss),
        )

    def minimize(self, optimizer, tape, scaled_loss, variables, when=None):
        """Apply the gradients of `scaled_loss` (from `scale_loss`, recorded on `tape`).

        Args:
            optimizer: the optimizer of `variables`.
            tape: the `tf.GradientTape` that recorded `scaled_loss`.
            scaled_loss: the loss returned by `scale_loss`.
            variables: the variables to update.
            when: None (always step) or a scalar bool tensor: the gradients are always
                computed, the optimizer step (and its state: moments, step count, loss scale)
                runs only where `when` is true. An optimizer step synchronises the replicas of
                a `tf.distribute` strategy, which a `tf.cond` in a replica context cannot
                contain, so `when` is evaluated in the cross-replica context (as Keras'
                `LossScaleOptimizer` does to skip non-finite steps) and must be the same on
                every replica (for example a function of the step counter).
        """
        gradients = tape.gradient(scaled_loss, variables)
        if when is None:
            optimizer.apply(gradients, variables)
            return

        def cross_replica(strategy, when, gradients):
            when = strategy.experimental_local_results(when)[0]

            def apply():
                strategy.extended.call_for_each_replica(
                    optimizer.apply, args=(gradients, variables)
                )

            ops.cond(when, apply, lambda: None)

        tf.distribute.get_replica_context().merge_call(cross_replica, args=(when, gradients))

    def minimize_discriminator_then_generator(
        self, discriminator_tape, scaled_discriminator_loss, generator_tape, scaled_generator_loss
    ):
        """One `minimize` step of the discriminator, then one of the generator (the DCGAN
        alternation of Radford et al. 2016, used by Pathak et al., Yeh et al. and Yu et al.),
        from the losses of `scale_losses` recorded on their tapes."""
        self.minimize(
            self.discriminator_optimizer,
            discriminator_tape,
            scaled_discriminator_loss,
            self.discriminator_variables,
        )
        self.minimize(
            self.generator_optimizer,
            generator_tape,
            scaled_generator_loss,
            self.generator_variables,
        )

    def record(self, terms):
        """Update one Mean tracker per loss term; returns all trackers' current results."""
        for name, value in terms.items():
            self.loss_trackers[name].update_state(ops.cast(value, "float32"))
        self.train_steps.assign_add(1)
        return {name: tracker.result() for name, tracker in self.loss_trackers.items()}

    def test_step(self, data):
        """Masked L1, PSNR and SSIM of the composited output on a validation batch."""
        image, mask = split_inputs(data)
        inputs = data[0] if isinstance(data, (tuple, list)) else data
        output = self(inputs, training=False)  # the whole dict: some models take extra keys
        mask = binarize_mask(mask)
        scores = {
            "masked_l1": inpaint_metrics.masked_l1(image, output, mask),
            "psnr": inpaint_metrics.psnr(image, output),
            "ssim": inpaint_metrics.ssim(image, output),
        }
        for name, value in scores.items():
            self.evaluation_trackers[name].update_state(ops.mean(ops.cast(value, "float32")))
        return {name: tracker.result() for name, tracker in self.evaluation_trackers.items()}

    @property
    def metrics(self):
        return [*self.loss_trackers.values(), *self.evaluation_trackers.values()]


def _get_optimizer(identifier):
    """None, or the optimizer named by `identifier` (an instance, a name such as ``"adam"``
    or a config dict; `keras.optimizers.get`)."""
    return None if identifier is None else keras.optimizers.get(identifier)


def _inner(optimizer):
    """The optimizer inside a `LossScaleOptimizer` (the wrapper is re-added by `compile`)."""
    if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        return optimizer.inner_optimizer
    return optimizer


def _pair(value, name):
    """An int or a pair -> a (height, width) tuple of positive ints."""
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, int) and v > 0 for v in pair):
        raise ValueError(f"{name} must be a positive int or (height, width), received {value!r}")
    return pair
