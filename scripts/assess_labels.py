"""Rule assess_labels: held-out validity and its null, bootstrap stability of every label."""

import _use_checkout  # noqa: F401  (this checkout's vitconcepts first)

from vitconcepts.preflight import check_labeling_params
from vitconcepts.reliability import assess_labels
from vitconcepts.rule_job import rule_log

with rule_log(snakemake):
    check_labeling_params(snakemake.config)
    assess_labels(
        snakemake.input.activations,
        snakemake.input.images,
        snakemake.input.concepts_emb,
        snakemake.input.concepts,
        snakemake.output.csv,
        snakemake.output.boot,
        method=snakemake.params.method,
        params=snakemake.params.params,
        n_null=snakemake.params.n_null,
        n_boot=snakemake.params.n_boot,
        seed=snakemake.params.seed,
        alpha=snakemake.params.alpha,
        device=snakemake.config["labeling"]["device"],  # speed only: not a param
        threads=snakemake.threads,
    )
