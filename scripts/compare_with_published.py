"""Rule compare_with_published: per-layer agreement of computed and published labels."""

import _use_checkout  # noqa: F401  (this checkout's vitconcepts first)

from vitconcepts.agreement import compare_with_published
from vitconcepts.rule_job import rule_log

with rule_log(snakemake):
    compare_with_published(
        snakemake.input.ours,
        snakemake.input.theirs,
        snakemake.output[0],
        concept_emb_nc=snakemake.input.concept_emb,
    )
