"""Rule plot_category_shares_vit_mean: paper/figures/category_shares_vit_mean.pdf (+ png, + source csv)."""

from vitconcepts.figures import plot_category_shares_vit_mean
from vitconcepts.logs import rule_log

with rule_log(snakemake):
    plot_category_shares_vit_mean(
        snakemake.input.shares, snakemake.params.models, snakemake.output.pdf
    )
