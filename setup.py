"""Packaging for keras_inpaint (see README.md)."""
from setuptools import find_packages, setup

setup(
    name="keras-inpaint",
    version="0.1.0",
    description="Deep-learning image inpainting for Keras 3: layers, paper models, a model zoo.",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["keras_inpaint", "keras_inpaint.*"]),
    include_package_data=True,
    package_data={"keras_inpaint": ["zoo/*/*", "examples_data/*"]},
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
        "test": ["pytest"],
    },
    entry_points={"console_scripts": ["keras-inpaint=keras_inpaint.cli:main"]},
)
