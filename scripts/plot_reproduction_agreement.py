"""Rule plot_reproduction_agreement: appendix figure (PDF, PNG and its source CSV)."""

import _use_checkout  # noqa: F401  (this checkout's vitconcepts first)

from vitconcepts.figures import plot_reproduction_agreement
from vitconcepts.rule_job import rule_log

with rule_log(snakemake):
    plot_reproduction_agreement(
        {model: snakemake.input[model] for model in snakemake.params.models},
        snakemake.output.pdf,
    )
