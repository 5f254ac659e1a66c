"""Rule plot_score_histograms: one paper figure (PDF, PNG and its source CSV)."""

from vitconcepts.figures import plot_score_histograms
from vitconcepts.logs import rule_log

with rule_log(snakemake):
    plot_score_histograms(
        {model: snakemake.input[model] for model in snakemake.params.models}, snakemake.output.pdf
    )
