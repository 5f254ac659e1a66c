"""Rule build_paper: paper/main.pdf with latexmk."""

from vitconcepts.tables import build_paper

from vitconcepts.logs import rule_log

with rule_log(snakemake):
    build_paper(snakemake.input.main, snakemake.output[0], snakemake.log[0])
