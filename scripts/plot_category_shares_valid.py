"""Rule plot_category_shares_valid: Fig. 2's shares over the valid units beside the paper's."""

import _use_checkout  # noqa: F401  (this checkout's vitconcepts first)

from vitconcepts.figures import plot_category_shares_valid
from vitconcepts.rule_job import rule_log

with rule_log(snakemake):
    models = snakemake.params.models
    plot_category_shares_valid(
        snakemake.input.shares,
        {m: snakemake.input[f"{m}_csv"] for m in models},
        snakemake.input.categories,
        models,
        snakemake.output.pdf,
    )
