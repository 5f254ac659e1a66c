"""Rule embed_concepts: L2-normalised CLIP text embeddings of the concept set."""

from pathlib import Path

import _use_checkout  # noqa: F401  (this checkout's vitconcepts first)

from vitconcepts.clip import embed_concepts
from vitconcepts.rule_job import rule_log

# speed-only settings come from the config, not params: changing them re-runs nothing
with rule_log(snakemake):
    embed_concepts(
        snakemake.params.entry,
        Path(snakemake.input.clip) / "manifest.json",
        snakemake.input.concepts,
        snakemake.output[0],
        batch_size=snakemake.config["clip_embedding"]["text_batch_size"],
        device=snakemake.config["dump"]["device"],
        threads=snakemake.threads,
        dtype=snakemake.params.dtype,  # a result setting: a rule param
    )
