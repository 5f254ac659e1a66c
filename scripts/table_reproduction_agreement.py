"""Rule table_reproduction_agreement: appendix table of agreement with published labels."""

import _use_checkout  # noqa: F401  (this checkout's vitconcepts first)

from vitconcepts.rule_job import rule_log
from vitconcepts.tables import table_reproduction_agreement

with rule_log(snakemake):
    table_reproduction_agreement(snakemake.input[0], snakemake.output[0])
