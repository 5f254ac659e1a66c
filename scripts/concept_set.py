"""Rule concept_set: the concept list, one concept a line."""

import _use_checkout  # noqa: F401  (this checkout's vitconcepts first)

from vitconcepts.concepts import build_concept_set
from vitconcepts.rule_job import rule_log

with rule_log(snakemake):
    build_concept_set(snakemake.params.entry, snakemake.output[0], label_csvs=list(snakemake.input))
