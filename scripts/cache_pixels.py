"""Rule cache_pixels: decode every probe image once into uint8 pixels of one recipe."""

import _use_checkout  # noqa: F401  (this checkout's vitconcepts first)

from vitconcepts.pixels import build_pixel_cache
from vitconcepts.rule_job import rule_log

with rule_log(snakemake):
    build_pixel_cache(
        snakemake.input.index,
        snakemake.params.recipe,
        snakemake.output[0],
        num_workers=max(0, snakemake.threads - 1),
        threads=snakemake.threads,
    )
