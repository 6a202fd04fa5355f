"""A tiny `InpaintingModel` with a generator and a critic, for testing the training machinery.

It is deterministic (no random numbers in its step, no batch norm), so one step on two replicas
must equal one step on one replica.
"""

import keras
import tensorflow as tf
from keras import layers, ops

from keras_inpaint.losses import hinge_discriminator_loss, hinge_generator_loss, masked_l1
from keras_inpaint.models.base import (
    InpaintingModel,
    binarize_mask,
    composite,
    split_inputs,
    to_signed,
    to_unit,
)


@keras.saving.register_keras_serializable(package="keras_inpaint_tests")
class ToyInpainter(InpaintingModel):
    loss_terms = ("l1", "generator_adversarial", "discriminator")
    default_masks = "rectangle"

    def __init__(self, image_size=32, width=4, adversarial_weight=0.1, **kwargs):
        super().__init__(image_size=image_size, **kwargs)
        self.width = width
        self.adversarial_weight = adversarial_weight
        with self.network_scope():
            x = keras.Input((None, None, 4))
            h = layers.Conv2D(width, 3, padding="same", activation="elu")(x)
            self.generator = keras.Model(x, layers.Conv2D(3, 3, padding="same")(h))
            y = keras.Input((None, None, 3))
            d = layers.Conv2D(width, 3, strides=2, padding="same")(y)
            self.discriminator = keras.Model(y, layers.Conv2D(1, 3, padding="same")(d))
        self.finish_building()

    def get_config(self):
        config = super().get_config()
        config.update(width=self.width, adversarial_weight=self.adversarial_weight)
        return config

    def default_optimizers(self):
        return {
            "generator": keras.optimizers.Adam(1e-3),
            "discriminator": keras.optimizers.Adam(1e-3),
        }

    def generate(self, image, mask, training=False):
        x = ops.concatenate([to_signed(image) * (1.0 - mask), mask], axis=-1)
        y = ops.cast(self.generator(x, training=training), "float32")
        return to_unit(ops.tanh(y))

    def train_step(self, data):
        image, mask = split_inputs(data)
        mask = binarize_mask(mask)
        with tf.GradientTape() as tape:
            output = composite(image, mask, self.generate(image, mask, training=True))
            fake = ops.cast(self.discriminator(output), "float32")
            l1 = masked_l1(image, output, mask)
            adversarial = hinge_generator_loss(fake)
            loss = l1 + self.adversarial_weight * adversarial
            scaled = self.scale_loss(self.generator_optimizer, loss)
        self.minimize(self.generator_optimizer, tape, scaled, self.generator_variables)
        with tf.GradientTape() as tape:
            real = ops.cast(self.discriminator(image), "float32")
            fake = ops.cast(self.discriminator(ops.stop_gradient(output)), "float32")
            discriminator = hinge_discriminator_loss(real, fake)
            scaled = self.scale_loss(self.discriminator_optimizer, discriminator)
        self.minimize(self.discriminator_optimizer, tape, scaled, self.discriminator_variables)
        return self.record(
            {"l1": l1, "generator_adversarial": adversarial, "discriminator": discriminator}
        )
