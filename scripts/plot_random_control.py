"""Rule plot_random_control: each model beside its random-init control, per layer."""

import _use_checkout  # noqa: F401  (this checkout's vitconcepts first)

from vitconcepts.figures import plot_random_control
from vitconcepts.rule_job import rule_log

with rule_log(snakemake):
    pairs = dict(snakemake.params.pairs)
    networks = list(dict.fromkeys([*pairs.values(), *pairs]))
    plot_random_control(
        pairs,
        {m: snakemake.input[f"{m}_labels"] for m in networks},
        {m: snakemake.input[f"{m}_csv"] for m in networks},
        {m: snakemake.input[f"{m}_boot"] for m in networks},
        snakemake.input.categories,
        snakemake.output.pdf,
    )
