"""Rule plot_score_histograms: paper/figures/score_histograms.pdf (+ png, + source csv)."""

from vitconcepts.figures import plot_score_histograms
from vitconcepts.logs import rule_log

with rule_log(snakemake):
    plot_score_histograms(
        {model: snakemake.input[model] for model in snakemake.params.models}, snakemake.output.pdf
    )
