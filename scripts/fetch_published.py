"""Rules fetch_published_labels, fetch_category_map: the authors' published files."""

from vitconcepts.logs import rule_log
from vitconcepts.published import fetch_published

entry = snakemake.params.entry
with rule_log(snakemake):
    fetch_published(
        entry["path"],
        entry.get("sha256"),
        snakemake.params.base_url,
        snakemake.params.local_dir or None,
        snakemake.output[0],
    )
