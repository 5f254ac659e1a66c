"""Rule build_paper: paper/main.pdf with latexmk."""

import _use_checkout  # noqa: F401  (this checkout's vitconcepts first)

from vitconcepts.paper import build_paper
from vitconcepts.rule_job import rule_log

with rule_log(snakemake):
    build_paper(snakemake.input.main, snakemake.output[0], snakemake.log[0])
