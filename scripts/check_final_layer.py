"""Rule check_final_layer: top-1 / top-5 of a classifier's output-unit labels."""

import _use_checkout  # noqa: F401  (this checkout's vitconcepts first)

from vitconcepts.final_layer import check_final_layer
from vitconcepts.rule_job import rule_log

with rule_log(snakemake):
    check_final_layer(
        snakemake.input.topk,
        snakemake.input.concepts_emb,
        snakemake.input.concepts,
        snakemake.output[0],
    )
