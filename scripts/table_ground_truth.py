"""Rule table_ground_truth: paper/tables/ground_truth.tex and its CSV."""

import _use_checkout  # noqa: F401  (this checkout's vitconcepts first)

from vitconcepts.rule_job import rule_log
from vitconcepts.tables import table_ground_truth

with rule_log(snakemake):
    table_ground_truth(snakemake.input[0], snakemake.output.tex, snakemake.output.csv)
