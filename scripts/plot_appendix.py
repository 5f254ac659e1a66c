"""Rule plot_appendix: paper/figures/appendix_{model}.pdf (+ png, + source csv)."""

from vitconcepts.figures import plot_appendix
from vitconcepts.logs import rule_log

with rule_log(snakemake):
    plot_appendix(
        snakemake.wildcards.model,
        snakemake.input.counts,
        snakemake.input.shares,
        snakemake.output.pdf,
    )
