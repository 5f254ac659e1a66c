"""Rule atlas_index: the atlas's start page, one row per page, and its concept search."""

import _use_checkout  # noqa: F401  (this checkout's vitconcepts first)

from vitconcepts.atlas import AtlasPage, build_index
from vitconcepts.rule_job import rule_log

with rule_log(snakemake):
    pages = [
        AtlasPage(model, labels, kind, linear or None)
        for (model, kind), labels, linear in zip(
            snakemake.params.pages,
            snakemake.input.labels,
            snakemake.params.linear,
            strict=True,
        )
    ]
    build_index(
        pages,
        snakemake.output.html,
        probe=snakemake.params.probe,
        images=snakemake.params.images,
    )
