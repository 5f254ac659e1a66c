"""Rule explain_units: Linear Explanations (a short weighted sum of concepts) of every unit."""

import _use_checkout  # noqa: F401  (this checkout's vitconcepts first)

from vitconcepts.labeling import explain_units
from vitconcepts.rule_job import rule_log

with rule_log(snakemake):
    settings = snakemake.params.settings
    explain_units(
        snakemake.input.activations,
        snakemake.input.images,
        snakemake.input.concepts_emb,
        snakemake.input.concepts,
        snakemake.input.labels,
        snakemake.output.csv,
        seed=settings["seed"],
        max_concepts=settings["max_concepts"],
        tolerance=settings["tolerance"],
        width=settings["width"],
        split=settings["split"],
        device=snakemake.config["labeling"]["device"],  # speed only: not a param
        threads=snakemake.threads,
    )
