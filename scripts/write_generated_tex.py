"""Rule write_generated_tex: which figures and tables paper/main.tex includes."""

import _use_checkout  # noqa: F401  (this checkout's vitconcepts first)

from vitconcepts.constants import RANDOM_SCORER_NOTE
from vitconcepts.logs import rule_log
from vitconcepts.tables import write_generated_tex

with rule_log(snakemake):
    write_generated_tex(
        snakemake.params.figures,
        snakemake.params.tables,
        snakemake.output[0],
        warning=RANDOM_SCORER_NOTE if snakemake.params.random_scorer else "",
    )
