"""The project's file formats: one reader and one writer each.

==================  =============================================  ==============================
file                reader                                         writer
==================  =============================================  ==============================
label CSV           :func:`read_labels` (:func:`check_labels`)     :func:`write_labels`
``images`` cell     :func:`parse_images`                           :func:`format_images`
probe index CSV     :func:`read_probe_index`                       :func:`write_probe_index`
top-k file          :func:`read_topk`                              :func:`topk_writer` +
                                                                   :func:`write_topk_layer`
activation file     :func:`read_layer`, :func:`read_activation_layout`  (``dump_activations``)
reliability CSV     :func:`read_reliability`                       :func:`write_reliability`
``stable_concepts`` :func:`parse_stable_concepts`                  :func:`format_stable_concepts`
bootstrap file      :func:`read_boot`                              :func:`boot_writer` +
                                                                   :func:`write_boot_layer`
Broden presence     :func:`read_presence`                          :func:`write_presence`
ground-truth CSV    :func:`read_ground_truth`                      :func:`write_ground_truth`
linear explanation  :func:`read_linear` (:func:`linear_label_frame`)  :func:`write_linear`
==================  =============================================  ==============================

This package imports numpy, pandas, xarray and netCDF4 only (plus the project's error and
NetCDF-streaming helpers): never torch and never a pipeline stage, so every stage can use it.
"""

from ._activations import ActivationLayout, read_activation_layout, read_layer
from ._ground_truth import GROUND_TRUTH_COLUMNS, read_ground_truth, write_ground_truth
from ._labels import (
    IMAGES_EXAMPLE,
    LABEL_COLUMNS,
    REQUIRED_COLUMNS,
    check_labels,
    format_images,
    parse_images,
    read_labels,
    write_labels,
)
from ._linear import (
    LINEAR_FRAME_COLUMNS,
    LINEAR_SCORES,
    linear_label_frame,
    read_linear,
    write_linear,
)
from ._presence import PRESENCE_KEYS, BrodenPresence, read_presence, write_presence
from ._probe_index import INDEX_COLUMNS, read_probe_index, write_probe_index
from ._reliability import (
    BOOT_UNIT_VARIABLES,
    RELIABILITY_COLUMNS,
    ReliabilityBoot,
    boot_writer,
    format_stable_concepts,
    parse_stable_concepts,
    read_boot,
    read_reliability,
    write_boot_layer,
    write_reliability,
)
from ._topk import TOPK_VARIABLES, TopK, read_topk, topk_writer, write_topk_layer

__all__ = [
    "BOOT_UNIT_VARIABLES",
    "GROUND_TRUTH_COLUMNS",
    "IMAGES_EXAMPLE",
    "PRESENCE_KEYS",
    "INDEX_COLUMNS",
    "LABEL_COLUMNS",
    "LINEAR_FRAME_COLUMNS",
    "LINEAR_SCORES",
    "RELIABILITY_COLUMNS",
    "REQUIRED_COLUMNS",
    "TOPK_VARIABLES",
    "ActivationLayout",
    "BrodenPresence",
    "ReliabilityBoot",
    "TopK",
    "boot_writer",
    "check_labels",
    "linear_label_frame",
    "read_linear",
    "write_linear",
    "format_images",
    "format_stable_concepts",
    "parse_images",
    "parse_stable_concepts",
    "read_activation_layout",
    "read_boot",
    "read_ground_truth",
    "read_labels",
    "read_layer",
    "read_presence",
    "read_probe_index",
    "read_reliability",
    "read_topk",
    "topk_writer",
    "write_boot_layer",
    "write_ground_truth",
    "write_labels",
    "write_presence",
    "write_probe_index",
    "write_reliability",
    "write_topk_layer",
]
