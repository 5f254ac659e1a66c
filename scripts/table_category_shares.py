"""Rule table_category_shares: paper/tables/category_shares.tex."""

import _use_checkout  # noqa: F401  (this checkout's vitconcepts first)

from vitconcepts.rule_job import rule_log
from vitconcepts.tables import table_category_shares

with rule_log(snakemake):
    table_category_shares(snakemake.input[0], snakemake.output[0])
