"""Rule embed_images: L2-normalised CLIP image embeddings of the probe set."""

from pathlib import Path

from vitconcepts.clip import embed_images
from vitconcepts.logs import rule_log

with rule_log(snakemake):
    embed_images(
        snakemake.params.entry,
        Path(snakemake.input.clip) / "manifest.json",
        snakemake.input.index,
        snakemake.output[0],
        batch_size=snakemake.params.options["batch_size"],
        device=snakemake.params.device,
        threads=snakemake.threads,
        pixels=getattr(snakemake.input, "pixels", None),
    )
