"""Rules fetch_published_labels, fetch_category_map: the authors' published files."""

import _use_checkout  # noqa: F401  (this checkout's vitconcepts first)

from vitconcepts.published import fetch_published
from vitconcepts.rule_job import rule_log

entry = snakemake.params.entry
with rule_log(snakemake):
    fetch_published(
        entry["path"],
        entry.get("sha256"),
        snakemake.params.base_url,
        snakemake.params.local_dir or None,
        snakemake.output[0],
    )
