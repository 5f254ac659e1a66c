"""Rule plot_category_shares: paper/figures/category_shares.pdf (+ png, + source csv)."""

from vitconcepts.figures import plot_category_shares
from vitconcepts.logs import rule_log

with rule_log(snakemake):
    plot_category_shares(snakemake.input.shares, snakemake.params.models, snakemake.output.pdf)
