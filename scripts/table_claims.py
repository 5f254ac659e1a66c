"""Rule table_claims: paper/tables/claims.tex and the claims' sentences (generated_claims.tex)."""

import _use_checkout  # noqa: F401  (this checkout's vitconcepts first)

from vitconcepts.claims import write_claims_tex
from vitconcepts.rule_job import rule_log

with rule_log(snakemake):
    write_claims_tex(snakemake.input[0], snakemake.output.table, snakemake.output.text)
