# One rule per table: paper/tables/<name>.tex (booktabs fragments \input by paper/main.tex).


rule table_models:
    input:
        unpack(analysed_labels),
    output:
        report(
            "paper/tables/models.tex",
            caption="../report/tables.rst",
            category="Tables",
        ),
    log:
        "logs/table_models.log",
    benchmark:
        "results/benchmarks/table_models.tsv"
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        models={model: config["models"][model] for model in ANALYSED},
        analysed=ANALYSED,
    script:
        "../scripts/table_models.py"


rule table_concepts_per_layer:
    input:
        "paper/figures/concepts_per_layer.csv",
    output:
        report(
            "paper/tables/concepts_per_layer.tex",
            caption="../report/tables.rst",
            category="Tables",
        ),
    log:
        "logs/table_concepts_per_layer.log",
    benchmark:
        "results/benchmarks/table_concepts_per_layer.tsv"
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../scripts/table_concepts_per_layer.py"


rule table_category_shares:
    input:
        "paper/figures/category_shares.csv",
    output:
        report(
            "paper/tables/category_shares.tex",
            caption="../report/tables.rst",
            category="Tables",
        ),
    log:
        "logs/table_category_shares.log",
    benchmark:
        "results/benchmarks/table_category_shares.tsv"
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../scripts/table_category_shares.py"


rule table_categoriser_agreement:
    input:
        "results/categories/agreement.csv",
    output:
        report(
            "paper/tables/categoriser_agreement.tex",
            caption="../report/tables.rst",
            category="Tables",
        ),
    log:
        "logs/table_categoriser_agreement.log",
    benchmark:
        "results/benchmarks/table_categoriser_agreement.tsv"
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../scripts/table_categoriser_agreement.py"
