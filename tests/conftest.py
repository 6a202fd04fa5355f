"""Shared fixtures: small photos made here (the suite never needs ../shared/data)."""

import numpy as np
import pytest
from PIL import Image


def smooth_image(rng, height, width):
    """A smooth random colour image (uint8), so that inpainting has something to learn."""
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    channels = []
    for _ in range(3):
        a, b, c, d = rng.uniform(-3, 3, size=4)
        channels.append(0.5 + 0.25 * np.sin(a * x + b * y + c) + 0.2 * np.cos(d * x * y))
    return (np.clip(np.stack(channels, axis=-1), 0, 1) * 255).astype(np.uint8)


@pytest.fixture(scope="session")
def photo_folder(tmp_path_factory):
    """Eight 48x40 photos (PNG and JPEG) in a nested folder."""
    root = tmp_path_factory.mktemp("photos")
    (root / "nested").mkdir()
    rng = np.random.default_rng(0)
    for index in range(8):
        folder = root if index % 2 else root / "nested"
        suffix = "png" if index % 3 else "jpg"
        Image.fromarray(smooth_image(rng, 40, 48)).save(folder / f"photo{index}.{suffix}")
    return root
