"""Rule label_units: CLIP-Dissect labels (best concept, score, top images) for every unit."""

import _use_checkout  # noqa: F401  (this checkout's vitconcepts first)

from vitconcepts.labeling import label_units
from vitconcepts.preflight import check_labeling_params
from vitconcepts.rule_job import rule_log

with rule_log(snakemake):
    check_labeling_params(snakemake.config)  # before the similarity matrix is built
    label_units(
        snakemake.input.activations,
        snakemake.input.images,
        snakemake.input.concepts_emb,
        snakemake.input.concepts,
        snakemake.output.csv,
        snakemake.output.topk,
        method=snakemake.params.method,
        params=snakemake.params.params,
        n_top_images=snakemake.params.n_top_images,
        n_top_concepts=snakemake.params.n_top_concepts,
        device=snakemake.config["labeling"]["device"],  # speed only: not a param
        threads=snakemake.threads,
    )
