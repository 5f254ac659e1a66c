"""Rule plot_concepts_per_layer_valid: Fig. 1's counts over the valid units beside the paper's."""

import _use_checkout  # noqa: F401  (this checkout's vitconcepts first)

from vitconcepts.figures import plot_concepts_per_layer_valid
from vitconcepts.rule_job import rule_log

with rule_log(snakemake):
    models = snakemake.params.models
    plot_concepts_per_layer_valid(
        snakemake.input.concepts,
        {m: snakemake.input[f"{m}_csv"] for m in models},
        models,
        snakemake.output.pdf,
    )
