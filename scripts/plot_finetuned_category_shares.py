"""Rule plot_finetuned_category_shares: paper/figures/finetuned_category_shares.pdf (+ png, + source csv)."""

from vitconcepts.figures import plot_finetuned_category_shares
from vitconcepts.logs import rule_log

with rule_log(snakemake):
    plot_finetuned_category_shares(
        snakemake.input.shares, snakemake.params.pairs, snakemake.output.pdf
    )
