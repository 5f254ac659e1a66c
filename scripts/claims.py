"""Rule claims: paper/tables/claims.csv (the paper's claims, one row per claim and model)."""

import _use_checkout  # noqa: F401  (this checkout's vitconcepts first)

from vitconcepts.claims import ClaimRoles, claims_from_files
from vitconcepts.rule_job import rule_log

with rule_log(snakemake):
    roles = snakemake.params.roles
    claims_from_files(
        {m: snakemake.input[f"{m}_labels"] for m in snakemake.params.labeled},
        snakemake.input.categories,
        ClaimRoles(
            roles["vits"],
            roles["models"],
            {m: tuple(pair) for m, pair in roles["finetuned"].items()},
            roles["controls"],
        ),
        {m: snakemake.input[f"{m}_boot"] for m in snakemake.params.booted},
        labeler=snakemake.params.labeler,
        out_csv=snakemake.output[0],
        linear_csvs={m: snakemake.input[f"{m}_linear"] for m in snakemake.params.linear},
        n_boot=snakemake.params.n_boot,
        seed=snakemake.params.seed,
    )
