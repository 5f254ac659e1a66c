"""Rule plot_image_complexity: paper/figures/image_complexity.pdf (+ png, + source csv)."""

from vitconcepts.figures import plot_image_complexity
from vitconcepts.logs import rule_log

with rule_log(snakemake):
    plot_image_complexity(
        snakemake.input.complexity,
        snakemake.params.models,
        snakemake.output.pdf,
        measure=snakemake.params.measure,
    )
