"""Semantic inpainting by latent search in a DCGAN (Yeh et al., CVPR 2017)."""

import keras
import tensorflow as tf
from keras import ops

from keras_inpaint.losses import context_loss, prior_loss
from keras_inpaint.models.base import (
    InpaintingModel,
    binarize_mask,
    split_inputs,
    to_signed,
    to_unit,
)
from keras_inpaint.models.dcgan import (
    build_dcgan_discriminator,
    build_dcgan_generator,
    dcgan_losses,
    resize_to_image,
    resize_to_network,
)
from keras_inpaint.poisson import poisson_blend_tf

LATENT_RANGE = (-1.0, 1.0)
"""Support of the uniform prior p(z) of the DCGAN (Radford et al. 2016)."""

SAMPLE_SEED = 0
"""Seed of the fixed latent codes shown by `summary_images` (the same z at every step)."""


@keras.saving.register_keras_serializable(package="keras_inpaint")
class LatentSearchInpainter(InpaintingModel):
    """Semantic inpainting: search the latent space of a DCGAN for the closest image.

    R. A. Yeh, C. Chen, T. Y. Lim, A. G. Schwing, M. Hasegawa-Johnson, M. N. Do, "Semantic
    Image Inpainting with Deep Generative Models", CVPR 2017 (arXiv:1607.07539), section 3.

    **Training** is plain DCGAN training (Radford et al. 2016): the generator G maps
    z ~ U(-1, 1)^latent_dim to a 64x64 image, the discriminator D scores images (see
    `keras_inpaint.models.dcgan` for both networks); non-saturating GAN losses
    ``L_D = -log D(x) - log(1 - D(G(z)))``, ``L_G = -log D(G(z))``; Adam (2e-4, beta_1 0.5).
    The batch's masks are ignored: the GAN learns the distribution of whole images. Each step
    updates D then G from the same forward pass.

    **Inpainting** (`generate`) searches z for the corrupted image y with hole mask M:

        z^ = argmin_z L_c(z | y, M) + L_p(z)                                  (eq. 2)
        L_c = || W * (G(z) - y) ||_1                                           (eq. 4)
        L_p = lambda * log(1 - D(G(z)))                                        (eq. 5)

    with W the importance weights of eq. 3 on the KNOWN pixels (the fraction of missing pixels
    in the 7x7 window around each known pixel, 0 in the hole: `keras_inpaint.losses.
    context_weights`) and lambda = `prior_weight` = 0.003. Images are in [-1, 1] in these
    losses, as in the authors' code (the summed L1 and so its balance against lambda depend
    on that scale). The search:

    - starts from `candidates` codes per image drawn from p(z) = U(-1, 1); with a `seed` they
      are drawn statelessly from it, the same codes for every image and every call, so an
      image's result depends on the image alone (not on earlier calls or on the rest of its
      batch); without one, from a `keras.random.SeedGenerator`, new codes at every call;
    - runs `search_steps` (1500) Adam steps on z (learning rate 0.01, beta_1 0.9,
      beta_2 0.999, epsilon 1e-8; the paper gives Adam and 1500 iterations, not its
      settings), the Adam update written with TensorFlow ops inside one `tf.while_loop` whose
      body takes the gradient with a `tf.GradientTape`; after each step z is clipped to
      [-1, 1] so that it stays in the prior's support;
    - is vectorised over images x candidates (one batch of B * candidates codes through G and
      D, both in inference mode, so candidates do not interact), then keeps, per image, the
      candidate with the lowest final loss;
    - Poisson-blends G(z^) into the image (eq. 6: ``x^ = argmin_x ||grad x - grad G(z^)||^2``
      in the hole with the known pixels as boundary; `keras_inpaint.poisson.
      poisson_blend_tf`, conjugate gradient in a `tf.while_loop`) when `blend` is True.

    Everything is TensorFlow graph ops (no Python loop over iterations, no `tf.py_function`),
    so `generate` traces into one graph that `keras.export.ExportArchive` writes into a
    SavedModel that TF Serving runs. Called eagerly, the search runs as a `tf.function`.

    **Other image sizes.** The image and its hole are resized to the generator size for the
    search (a resized pixel touched by the hole is a hole), G(z^) is resized back to the full
    resolution and blended there into the full-resolution known pixels, which stay exact.

    **Where this differs from the authors' released code, and why.** Their TensorFlow release
    (github.com/moodoki/semantic_image_inpainting, ``src/model.py`` and ``src/inpaint.py``)
    loads a frozen DCGAN and, unlike the paper, (a) computes the weights as
    ``M * conv(M, ones / 49)`` with M = 1 on KNOWN pixels, i.e. the fraction of known (not
    missing) neighbours: here eq. 3 as printed, weights growing with the number of missing
    neighbours; (b) runs Nesterov-momentum gradient descent (lr 0.01, momentum 0.9) for 1000
    iterations with lambda 0.1: here Adam for 1500 iterations with lambda 0.003 as in the
    paper; (c) starts from z ~ N(0, 1), clipped to [-1, 1] after each step: here z starts in
    the prior's support U(-1, 1); (d) searches 64 copies of the image and keeps them all:
    here `candidates` codes per image and the lowest-loss one is kept; (e) blends with a
    SciPy/pyamg sparse solve: here conjugate gradient in the graph, so that the model is
    servable.

    Shapes: inputs ``{"image": [B, H, W, 3] in [0, 1], "mask": [B, H, W, 1] 1 = hole}``, any
    H, W at inference, ``image_size`` in training; output ``[B, H, W, 3]`` float32. The cost is
    ``search_steps`` forward and backward passes of G and D on B * candidates images.

    Args:
        image_size: generator size (int or (height, width)); 64 in the paper.
        latent_dim: dimension of z (100).
        width: channels of the finest discriminator layer (64; the generator mirrors it).
        prior_weight: lambda of eq. 5 (0.003).
        search_steps: Adam iterations of the search (1500).
        candidates: random starting codes per image; the best one is kept.
        search_learning_rate: Adam learning rate on z (0.01).
        search_beta_1: Adam beta_1 on z (0.9).
        search_beta_2: Adam beta_2 on z (0.999).
        search_epsilon: Adam epsilon on z (1e-8).
        context_window: side of the window of the importance weights (7).
        blend: Poisson-blend G(z^) into the known region (eq. 6); False pastes it.
        blend_iterations: maximum conjugate-gradient iterations of the blend.
        learning_rate: Adam learning rate of G and D in training (2e-4, DCGAN).
        beta_1: Adam beta_1 of G and D in training (0.5, DCGAN).
        seed: seed of the latent codes: of the training draws' stream and of the search's
            starting codes (fixed for a given seed); None draws random ones.
        **kwargs: `InpaintingModel` arguments (``name``, ``dtype``).

    Example:
    >>> model = LatentSearchInpainter(image_size=32, width=8, search_steps=20, seed=1)
    >>> image = np.random.rand(1, 32, 32, 3).astype("float32")
    >>> mask = np.zeros((1, 32, 32, 1), "float32"); mask[:, 8:24, 8:24] = 1
    >>> best, losses = model.search(image, mask)
    >>> best.shape, losses["context"].shape   # [steps + 1, B, candidates] loss history
    (TensorShape([1, 32, 32, 3]), TensorShape([21, 1, 4]))
    """

    loss_terms = ("generator_loss", "discriminator_loss")
    default_masks = "center"
    architecture_arguments = ("latent_dim", "width")
    summarize_output = False  # inference is a 1500-step search: too slow to log in training
    inference_needs_discriminator = True  # the prior loss log(1 - D(G(z)))

    def __init__(
        self,
        image_size=64,
        latent_dim=100,
        width=64,
        prior_weight=0.003,
        search_steps=1500,
        candidates=4,
        search_learning_rate=0.01,
        search_beta_1=0.9,
        search_beta_2=0.999,
        search_epsilon=1e-8,
        context_window=7,
        blend=True,
        blend_iterations=1000,
        learning_rate=2e-4,
        beta_1=0.5,
        seed=None,
        **kwargs,
    ):
        super().__init__(image_size=image_size, **kwargs)
        for name, value in (("search_steps", search_steps), ("candidates", candidates)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, received {value!r}")
        self.latent_dim = latent_dim
        self.width = width
        self.prior_weight = prior_weight
        self.search_steps = search_steps
        self.candidates = candidates
        self.search_learning_rate = search_learning_rate
        self.search_beta_1 = search_beta_1
        self.search_beta_2 = search_beta_2
        self.search_epsilon = search_epsilon
        self.context_window = context_window
        self.blend = blend
        self.blend_iterations = blend_iterations
        self.learning_rate = learning_rate
        self.beta_1 = beta_1
        self.seed = seed
        # The search's codes do not depend on how many steps were trained: with a seed they are
        # a stateless draw (`_starting_codes`), without one a stream of their own (the stream is
        # made with a seed too, unused then, so that checkpoints keep one layout).
        self.training_seed_generator = keras.random.SeedGenerator(seed)
        self.search_seed_generator = keras.random.SeedGenerator(
            None if seed is None else seed + 1
        )
        with self.network_scope():
            self.generator = build_dcgan_generator(
                self.image_size, latent_dim, width, name="generator"
            )
            self.discriminator = build_dcgan_discriminator(
                self.image_size, width, name="discriminator"
            )
        # What eager calls run (a Python-level while loop of eager ops would be slow).
        self._search_function = tf.function(self._search, reduce_retracing=True)
        self.finish_building()

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "latent_dim": self.latent_dim,
                "width": self.width,
                "prior_weight": self.prior_weight,
                "search_steps": self.search_steps,
                "candidates": self.candidates,
                "search_learning_rate": self.search_learning_rate,
                "search_beta_1": self.search_beta_1,
                "search_beta_2": self.search_beta_2,
                "search_epsilon": self.search_epsilon,
                "context_window": self.context_window,
                "blend": self.blend,
                "blend_iterations": self.blend_iterations,
                "learning_rate": self.learning_rate,
                "beta_1": self.beta_1,
                "seed": self.seed,
            }
        )
        return config

    def default_optimizers(self):
        return {
            "generator": keras.optimizers.Adam(self.learning_rate, beta_1=self.beta_1),
            "discriminator": keras.optimizers.Adam(self.learning_rate, beta_1=self.beta_1),
        }

    def sample_latent(self, count, seed):
        """``count`` codes z ~ U(-1, 1)^latent_dim, float32 ``[count, latent_dim]``."""
        low, high = LATENT_RANGE
        return keras.random.uniform(
            (count, self.latent_dim), minval=low, maxval=high, dtype="float32", seed=seed
        )

    # ---- training -------------------------------------------------------------------------
    def train_step(self, data):
        """One DCGAN update of D then G (the batch's masks are not used)."""
        image, _ = split_inputs(data)
        z = self.sample_latent(ops.shape(image)[0], self.training_seed_generator)
        with tf.GradientTape() as generator_tape, tf.GradientTape() as discriminator_tape:
            generated = ops.cast(self.generator(z, training=True), "float32")
            generator_loss, discriminator_loss = dcgan_losses(
                self.discriminator, to_signed(image), generated
            )
            scaled_generator, scaled_discriminator = self.scale_losses(
                generator_loss, discriminator_loss
            )
        self.minimize_discriminator_then_generator(
            discriminator_tape, scaled_discriminator, generator_tape, scaled_generator
        )
        return self.record(
            {"generator_loss": generator_loss, "discriminator_loss": discriminator_loss}
        )

    def summary_images(self, inputs):
        """Generator samples ``G(z)`` for fixed codes z (one per input image), in [0, 1]."""
        image, _ = split_inputs(inputs)
        z = self.sample_latent(ops.shape(image)[0], SAMPLE_SEED)
        return {"samples": to_unit(ops.cast(self.generator(z, training=False), "float32"))}

    # ---- inpainting -------------------------------------------------------------------------
    def generate(self, image, mask, training=False):
        """G(z^) of the latent search at the image's size, Poisson-blended if `blend`.

        The search always runs G and D in inference mode; `training` is not used.
        """
        generated, _ = self.search(image, mask)
        fill = resize_to_image(generated, image)
        if self.blend:
            fill = poisson_blend_tf(image, fill, mask, iterations=self.blend_iterations)
        return fill

    def search(self, image, mask, steps=None):
        """The latent search of eq. 2 for images of any size.

        Args:
            image: ``[B, H, W, 3]`` in [0, 1].
            mask: ``[B, H, W, 1]``, 1 = hole.
            steps: Adam iterations (int or scalar int tensor); `search_steps` when None.

        Returns:
            ``(best_generated, losses)``: G(z^) of the best candidate per image, float32
            ``[B, h, w, 3]`` in [0, 1] at the generator size ``(h, w)``, and the loss history
            ``{"context": L_c, "prior": L_p}``, each float32 ``[steps + 1, B, candidates]``:
            row s holds the losses after s Adam steps (row 0: the initial codes).
        """
        image, mask = split_inputs({"image": image, "mask": mask})
        small_image, small_mask = resize_to_network(image, binarize_mask(mask), self.image_size)
        steps = tf.convert_to_tensor(self.search_steps if steps is None else steps, tf.int32)
        if tf.executing_eagerly():
            return self._search_function(small_image, small_mask, steps)
        return self._search(small_image, small_mask, steps)

    def _starting_codes(self, batch):
        """``[batch * candidates, latent_dim]`` codes, image-major: with a `seed`, the same
        `candidates` codes for every image (a stateless draw from ``seed + 1``), otherwise new
        codes from `search_seed_generator`."""
        if self.seed is None:
            return self.sample_latent(batch * self.candidates, self.search_seed_generator)
        return tf.tile(self.sample_latent(self.candidates, self.seed + 1), [batch, 1])

    def _objective(self, z, corrupted, hole):
        """``(L_c, L_p, G(z))`` per code: losses ``[N]``, G(z) ``[N, h, w, 3]`` in [-1, 1]."""
        generated = ops.cast(self.generator(z, training=False), "float32")
        logits = ops.cast(self.discriminator(generated, training=False), "float32")
        context = context_loss(generated, corrupted, hole, window=self.context_window)
        return context, prior_loss(logits, weight=self.prior_weight), generated

    def _search(self, image, hole, steps):
        """The search on network-size inputs (graph code; see `search`)."""
        batch = tf.shape(image)[0]
        corrupted = tf.repeat(to_signed(image), self.candidates, axis=0)
        hole = tf.repeat(hole, self.candidates, axis=0)
        z = self._starting_codes(batch)
        history = {
            name: tf.TensorArray(tf.float32, size=steps + 1, element_shape=[None])
            for name in ("context", "prior")
        }
        beta_1, beta_2 = self.search_beta_1, self.search_beta_2
        low, high = LATENT_RANGE

        def adam_step(step, z, first_moment, second_moment, context_history, prior_history):
            with tf.GradientTape() as tape:
                tape.watch(z)
                context, prior, _ = self._objective(z, corrupted, hole)
                total = context + prior
            # Codes are independent (inference-mode networks), so the gradient of the sum
            # holds each code's own gradient.
            gradient = tape.gradient(total, z)
            first_moment = beta_1 * first_moment + (1.0 - beta_1) * gradient
            second_moment = beta_2 * second_moment + (1.0 - beta_2) * tf.square(gradient)
            t = tf.cast(step + 1, tf.float32)
            first_unbiased = first_moment / (1.0 - tf.pow(beta_1, t))
            second_unbiased = second_moment / (1.0 - tf.pow(beta_2, t))
            z = z - self.search_learning_rate * first_unbiased / (
                tf.sqrt(second_unbiased) + self.search_epsilon
            )
            return (
                step + 1,
                tf.clip_by_value(z, low, high),
                first_moment,
                second_moment,
                context_history.write(step, context),
                prior_history.write(step, prior),
            )

        _, z, _, _, context_history, prior_history = tf.while_loop(
            lambda step, *_: step < steps,
            adam_step,
            (
                tf.constant(0),
                z,
                tf.zeros_like(z),
                tf.zeros_like(z),
                history["context"],
                history["prior"],
            ),
        )
        context, prior, generated = self._objective(z, corrupted, hole)
        losses = {
            "context": context_history.write(steps, context).stack(),
            "prior": prior_history.write(steps, prior).stack(),
        }
        losses = {
            name: tf.reshape(value, [steps + 1, batch, self.candidates])
            for name, value in losses.items()
        }
        best = tf.argmin(losses["context"][-1] + losses["prior"][-1], axis=1)
        generated = tf.reshape(
            generated, tf.concat([[batch, self.candidates], tf.shape(generated)[1:]], axis=0)
        )
        best_generated = tf.gather(generated, best, axis=1, batch_dims=1)
        return to_unit(best_generated), losses
