"""Rule table_reliability: paper/tables/reliability.tex."""

import _use_checkout  # noqa: F401  (this checkout's vitconcepts first)

from vitconcepts.rule_job import rule_log
from vitconcepts.tables import table_reliability

with rule_log(snakemake):
    table_reliability(snakemake.input[0], snakemake.output[0])
