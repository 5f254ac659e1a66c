"""Rule table_categoriser_agreement: paper/tables/categoriser_agreement.tex."""

import _use_checkout  # noqa: F401  (this checkout's vitconcepts first)

from vitconcepts.rule_job import rule_log
from vitconcepts.tables import table_categoriser_agreement

with rule_log(snakemake):
    table_categoriser_agreement(snakemake.input[0], snakemake.output[0])
