"""Target models: config -> ModelSpec -> loaded network -> per-layer unit activations.

One private module per stage, in import order (each imports only earlier ones):

* ``_spec``: :func:`resolve_model_spec` turns ``config["models"][key]`` into a
  :class:`ModelSpec` with every default filled in and every value checked (``ConfigError``
  naming the key; the known keys are read off ``config.schema.yaml``).
* ``_masking``: MAE patch masking seeded per probe sample (:func:`mask_noise`).
* ``_loading``: :func:`load_model` builds the network from the files listed in the manifest
  written by :func:`vitconcepts.download.download_model` (or randomly initialised for tests).
* ``_layers``: :func:`validate_layers` resolves the layer names against the network (defaults
  per architecture; the authors' ``vit.encoder.layer[0]`` spelling is accepted).
* ``_transforms``: :func:`build_transform` gives the image preprocessing (``paper`` or the
  model's ``native``).
* ``_extraction``: :class:`ActivationExtractor` hooks the layers and returns
  ``{kind: {layer: Tensor[batch, units]}}`` for every unit kind the spec lists, from one
  forward pass: the CLS token (token 0) of a ViT block's output, or the spatial mean of a CNN
  stage's output, exactly as the authors' CLIP-Dissect hook did (the paper's units), and
  the extensions ``patch_mean``, ``mlp`` and ``mlp_mean`` (:data:`UNIT_KINDS`).
"""

from __future__ import annotations

from ._extraction import (
    KIND_SOURCES,
    ActivationExtractor,
    mlp_projection,
    pool_output,
    prefix_tokens,
)
from ._layers import default_layers, validate_layers
from ._loading import HF_AUTO_CLASSES, load_model, read_manifest
from ._masking import keep_random_patches, mask_noise
from ._spec import (
    ARCHS,
    PREPROCESSING,
    UNIT_KINDS,
    UNITS,
    ModelSpec,
    model_entry_keys,
    normalise_layer_name,
    resolve_model_spec,
)
from ._transforms import build_transform

__all__ = [
    "ARCHS",
    "HF_AUTO_CLASSES",
    "KIND_SOURCES",
    "PREPROCESSING",
    "UNITS",
    "UNIT_KINDS",
    "ActivationExtractor",
    "ModelSpec",
    "build_transform",
    "default_layers",
    "keep_random_patches",
    "load_model",
    "mask_noise",
    "mlp_projection",
    "model_entry_keys",
    "normalise_layer_name",
    "pool_output",
    "prefix_tokens",
    "read_manifest",
    "resolve_model_spec",
    "validate_layers",
]
