"""Rule categoriser_agreement: the automatic categoriser against the curated map."""

import _use_checkout  # noqa: F401  (this checkout's vitconcepts first)

from vitconcepts.categories import categoriser_agreement
from vitconcepts.rule_job import rule_log

with rule_log(snakemake):
    categoriser_agreement(snakemake.input.curated, snakemake.output[0])
