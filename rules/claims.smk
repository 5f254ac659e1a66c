# The paper's claims, tested (vitconcepts.claims): paper/tables/claims.csv, its LaTeX table and
# the generated sentences of the PDF's first section (paper/generated_claims.tex). Under
# CLIP-Dissect's labels and, when Linear Explanations ran (LINEAR), under LE's too.


rule claims:
    input:
        unpack(claims_inputs),
        categories=f"results/categories/{CONCEPTS}.csv",
    output:
        report(
            "paper/tables/claims.csv",
            caption="../report/claims.rst",
            category="Claims",
        ),
    log:
        "logs/claims.log",
    benchmark:
        "results/benchmarks/claims.tsv"
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        roles=claims_roles(),
        labeled=claims_labeled_models(),
        booted=claims_boot_models(),
        labeler="clip_dissect",
        # the second labeler: Linear Explanations' rows, intervals over resampled units
        linear=claims_linear_models(),
        n_boot=config["reliability"]["n_boot"],
        seed=config["reliability"]["seed"],
    script:
        "../scripts/claims.py"


rule table_claims:
    input:
        "paper/tables/claims.csv",
    output:
        table=report(
            "paper/tables/claims.tex",
            caption="../report/claims_tex.rst",
            category="Claims",
        ),
        text="paper/generated_claims.tex",
    log:
        "logs/table_claims.log",
    benchmark:
        "results/benchmarks/table_claims.tsv"
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../scripts/table_claims.py"
