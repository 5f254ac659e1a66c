"""Rule atlas_page: one model's atlas page (HTML, its data script, its summary figure)."""

import _use_checkout  # noqa: F401  (this checkout's vitconcepts first)

from vitconcepts.atlas import build_model_page
from vitconcepts.rule_job import rule_log

with rule_log(snakemake):
    build_model_page(
        snakemake.wildcards.model,
        snakemake.input.labels,
        snakemake.output.html,
        topk_nc=snakemake.input.get("topk"),
        categories_csv=snakemake.input.categories,
        summary_png=snakemake.input.summary,
        images=snakemake.params.images,
        probe=snakemake.params.probe,
    )
