"""Rule plot_finetuning_concepts_per_layer: paper Fig. 8 (PDF, PNG and its source CSV)."""

import _use_checkout  # noqa: F401  (this checkout's vitconcepts first)

from vitconcepts.figures import plot_finetuning_concepts_per_layer
from vitconcepts.rule_job import rule_log

with rule_log(snakemake):
    plot_finetuning_concepts_per_layer(
        snakemake.input.counts, snakemake.params.conditions, snakemake.output.pdf
    )
