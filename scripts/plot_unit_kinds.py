"""Rule plot_unit_kinds: the unit kinds of each ViT compared layer by layer (PDF, PNG, CSV)."""

import _use_checkout  # noqa: F401  (this checkout's vitconcepts first)

from vitconcepts.figures import plot_unit_kinds
from vitconcepts.rule_job import rule_log

with rule_log(snakemake):
    kinds = snakemake.params.kinds
    plot_unit_kinds(
        {m: {k: snakemake.input[f"{m}_{k}"] for k in ks} for m, ks in kinds.items()},
        snakemake.input.categories,
        list(kinds),
        snakemake.output.pdf,
    )
