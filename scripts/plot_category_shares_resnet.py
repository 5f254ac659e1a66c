"""Rule plot_category_shares_resnet: paper/figures/category_shares_resnet.pdf (+ png, + source csv)."""

from vitconcepts.figures import plot_category_shares_resnet
from vitconcepts.logs import rule_log

with rule_log(snakemake):
    plot_category_shares_resnet(
        snakemake.input.shares, snakemake.params.model, snakemake.output.pdf
    )
