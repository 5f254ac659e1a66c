"""Rules atlas_page and atlas_kind_page: one atlas page (HTML, its data script, its summary
figure where the rule has one) of a model's default units or of one extra unit kind."""

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
        summary_png=snakemake.input.get("summary"),
        images=snakemake.params.images,
        probe=snakemake.params.probe,
        reliability_csv=snakemake.input.get("reliability"),
        ground_truth_csv=snakemake.input.get("ground_truth"),
        kind=snakemake.params.kind,
        other_pages=[tuple(pair) for pair in snakemake.params.other_pages],
        control_of=snakemake.params.get("control_of"),
        linear_csv=snakemake.input.get("linear"),
    )
