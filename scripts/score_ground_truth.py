"""Rule score_ground_truth: one model's unit labels scored against Broden's annotations."""

import _use_checkout  # noqa: F401  (this checkout's vitconcepts first)

from vitconcepts.ground_truth import score_model
from vitconcepts.rule_job import rule_log

with rule_log(snakemake):
    score_model(
        snakemake.input.activations,
        snakemake.input.labels,
        snakemake.input.presence,
        snakemake.input.index,
        snakemake.output[0],
        alpha=snakemake.params.alpha,
    )
