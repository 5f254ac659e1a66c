"""Rules summarise_ground_truth(_published): per layer and category, how often labels name a
Broden concept, how well they predict its annotations, how often they agree with NetDissect's
answer (published labels: only the first)."""

import _use_checkout  # noqa: F401  (this checkout's vitconcepts first)

from vitconcepts.analysis import load_categories
from vitconcepts.ground_truth import (
    read_broden_labels,
    summarise_ground_truth,
    summarise_published,
)
from vitconcepts.rule_job import rule_log

with rule_log(snakemake):
    mapping = load_categories(snakemake.input.categories)
    csvs = {model: snakemake.input[model] for model in snakemake.params.models}
    if snakemake.rule == "summarise_ground_truth_published":
        _, names, _, synonyms = read_broden_labels(snakemake.input.broden_labels)
        summarise_published(csvs, names, synonyms, mapping, snakemake.output[0])
    else:
        summarise_ground_truth(csvs, mapping, snakemake.output[0])
