"""Rule categoriser_agreement: the automatic categoriser against the curated map."""

from vitconcepts.categories import categoriser_agreement
from vitconcepts.logs import rule_log

with rule_log(snakemake):
    categoriser_agreement(snakemake.input.curated, snakemake.output[0])
