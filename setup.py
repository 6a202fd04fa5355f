"""Packaging for keras_inpaint (see README.md)."""
from setuptools import find_packages, setup

setup(
    name="keras-inpaint",
    version="0.1.0",
    description="Deep-learning image inpainting for Keras 3: layers, paper models, a model zoo.",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    # The top-level zoo/ (preset folders) and examples/data/ (the README's photo and mask) are
    # installed inside the package, as keras_inpaint.zoo_presets and keras_inpaint.examples_data.
    packages=find_packages(include=["keras_inpaint", "keras_inpaint.*"])
    + ["keras_inpaint.zoo_presets", "keras_inpaint.examples_data"],
    package_dir={"keras_inpaint.zoo_presets": "zoo", "keras_inpaint.examples_data": "examples/data"},
    include_package_data=True,
    package_data={
        "keras_inpaint.zoo_presets": ["*.md", "*/*"],
        "keras_inpaint.examples_data": ["*.png", "*.md"],
    },
    install_requires=[
        "tensorflow>=2.21,<2.22",
        "keras>=3.15,<3.16",
        "tensorflow-datasets>=4.9",
        "numpy",
        "pillow",
        "opencv-python-headless",
        "tqdm",
        "tensorboard",
    ],
    extras_require={
        "and-cuda": ["tensorflow[and-cuda]>=2.21,<2.22"],
        "test": ["pytest", "pytest-xdist"],
    },
    entry_points={"console_scripts": ["keras-inpaint=keras_inpaint.cli:main"]},
)
