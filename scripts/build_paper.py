"""Rule build_paper: paper/main.pdf with latexmk."""

from vitconcepts.logs import rule_log
from vitconcepts.tables import build_paper

with rule_log(snakemake):
    build_paper(snakemake.input.main, snakemake.output[0], snakemake.log[0])
