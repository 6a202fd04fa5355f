"""Preset folders of the model zoo, installed as ``keras_inpaint.zoo_presets``.

One folder per published model, ``<name>/`` with ``config.json``, ``model.weights.h5``,
``metadata.json`` and ``README.md`` (see `keras_inpaint.zoo`); written by
``keras-inpaint publish RUN_DIR zoo/<name>``. This file only makes the folder a package so that
``pip install .`` installs the presets with `keras_inpaint`.
"""
