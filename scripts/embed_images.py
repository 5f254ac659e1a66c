"""Rule embed_images: L2-normalised CLIP image embeddings of the probe set."""

from pathlib import Path

import _use_checkout  # noqa: F401  (this checkout's vitconcepts first)

from vitconcepts.clip import embed_images
from vitconcepts.rule_job import rule_log

# speed-only settings come from the config, not params: changing them re-runs nothing
with rule_log(snakemake):
    embed_images(
        snakemake.params.entry,
        Path(snakemake.input.clip) / "manifest.json",
        snakemake.input.index,
        snakemake.output[0],
        batch_size=snakemake.config["clip_embedding"]["batch_size"],
        device=snakemake.config["dump"]["device"],
        threads=snakemake.threads,
        dtype=snakemake.params.dtype,  # a result setting: a rule param
        pixels=getattr(snakemake.input, "pixels", None),
    )
