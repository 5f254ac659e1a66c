"""Rule plot_concepts_per_layer_ci: unique concepts per layer with bootstrap bands."""

import _use_checkout  # noqa: F401  (this checkout's vitconcepts first)

from vitconcepts.figures import plot_concepts_per_layer_ci
from vitconcepts.rule_job import rule_log

with rule_log(snakemake):
    models = snakemake.params.models
    plot_concepts_per_layer_ci(
        snakemake.input.concepts,
        {m: snakemake.input[f"{m}_boot"] for m in models},
        {m: snakemake.input[f"{m}_csv"] for m in models},
        models,
        snakemake.output.pdf,
    )
