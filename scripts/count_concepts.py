"""Rule count_concepts: unique concepts per layer among units above the layer's median score."""

import _use_checkout  # noqa: F401  (this checkout's vitconcepts first)

from vitconcepts.analysis import concepts_per_layer
from vitconcepts.rule_job import rule_log

with rule_log(snakemake):
    concepts_per_layer(
        {model: snakemake.input[model] for model in snakemake.params.models},
        snakemake.output[0],
    )
