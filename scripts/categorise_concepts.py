"""Rule categorise_concepts: one of the paper's 9 categories for every concept."""

import _use_checkout  # noqa: F401  (this checkout's vitconcepts first)

from vitconcepts.categories import categorise_concepts
from vitconcepts.rule_job import rule_log

with rule_log(snakemake):
    categorise_concepts(
        snakemake.input.concepts,
        snakemake.input.curated or None,
        snakemake.output[0],
        automatic=snakemake.params.automatic,
    )
