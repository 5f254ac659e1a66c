"""The paper's figures, one function per figure.

Every ``plot_<name>(inputs..., out_pdf)`` writes ``<name>.pdf`` (vector), ``<name>.png``
(200 dpi) and, beside them, ``<name>.csv`` holding exactly the tidy data that is plotted,
unless that CSV is the function's input file (``concepts_per_layer``, ``category_shares``).
Reruns on the same inputs give byte-identical files.

Inputs are the analysis CSVs described in ``docs/design.md``:

* concepts per layer: ``model, layer, n_concepts`` (``layer`` is the 0-based layer index);
* category shares: ``model, layer, category, share`` (share is a fraction 0-1);
* image complexity: ``model, layer, complexity, n_images``;
* unit labels: ``layer, unit, description, similarity, images`` (``layer`` a module path);
* probe index: ``sample, sample_id, path, part``;
* reproduction agreement: the per-layer tables of :mod:`vitconcepts.agreement`.

Models that a figure asks for but an input lacks are skipped with a warning; a figure with
no data left raises :class:`~vitconcepts.errors.InputDataError`.

The package by stage: :mod:`~vitconcepts.figures.inputs` (reading the input CSVs, share
tables, writing a figure's source CSV), :mod:`~vitconcepts.figures.drawing` (layer axis,
line styles, stacked bars, legends), :mod:`~vitconcepts.figures.per_layer`,
:mod:`~vitconcepts.figures.finetuning`, :mod:`~vitconcepts.figures.example_units`,
:mod:`~vitconcepts.figures.reproduction`, :mod:`~vitconcepts.figures.reliability`,
:mod:`~vitconcepts.figures.validity`, :mod:`~vitconcepts.figures.random_control`,
:mod:`~vitconcepts.figures.ground_truth` and
:mod:`~vitconcepts.figures.unit_kinds`.
"""

from vitconcepts.figures.example_units import plot_example_units
from vitconcepts.figures.finetuning import (
    FINETUNING_CATEGORIES,
    plot_finetuned_category_shares,
    plot_finetuned_concepts_per_layer,
    plot_finetuning_category_shares,
    plot_finetuning_concepts_per_layer,
)
from vitconcepts.figures.ground_truth import plot_ground_truth
from vitconcepts.figures.inputs import CONCEPTS_COLUMNS, SHARES_COLUMNS
from vitconcepts.figures.labelers import labeler_table, plot_labelers
from vitconcepts.figures.per_layer import (
    COMPLEXITY_LABELS,
    plot_appendix,
    plot_category_shares,
    plot_category_shares_resnet,
    plot_category_shares_vit_mean,
    plot_concepts_per_layer,
    plot_image_complexity,
    plot_score_histograms,
)
from vitconcepts.figures.random_control import plot_random_control
from vitconcepts.figures.reliability import (
    plot_category_shares_ci,
    plot_category_shares_significant,
    plot_concepts_per_layer_ci,
    plot_reliability,
)
from vitconcepts.figures.reproduction import plot_reproduction_agreement
from vitconcepts.figures.unit_kinds import plot_unit_kinds
from vitconcepts.figures.validity import (
    plot_category_shares_valid,
    plot_concepts_per_layer_valid,
    plot_heldout_correlation,
)

__all__ = [
    "COMPLEXITY_LABELS",
    "CONCEPTS_COLUMNS",
    "FINETUNING_CATEGORIES",
    "SHARES_COLUMNS",
    "labeler_table",
    "plot_appendix",
    "plot_category_shares",
    "plot_category_shares_ci",
    "plot_category_shares_significant",
    "plot_category_shares_valid",
    "plot_category_shares_resnet",
    "plot_category_shares_vit_mean",
    "plot_concepts_per_layer",
    "plot_concepts_per_layer_ci",
    "plot_concepts_per_layer_valid",
    "plot_heldout_correlation",
    "plot_random_control",
    "plot_example_units",
    "plot_finetuned_category_shares",
    "plot_finetuned_concepts_per_layer",
    "plot_finetuning_category_shares",
    "plot_finetuning_concepts_per_layer",
    "plot_ground_truth",
    "plot_labelers",
    "plot_image_complexity",
    "plot_reliability",
    "plot_reproduction_agreement",
    "plot_score_histograms",
    "plot_unit_kinds",
]
