# Agreement of computed labels with the authors' published ones (config switch `agreement`).


rule compare_with_published:
    input:
        ours="results/labels/{probe}/{model}.csv",
        theirs="resources/published/labels/{model}.csv",
        concept_emb=f"results/clip/concepts/{CONCEPTS}/{CLIP}.nc",
    output:
        "results/agreement/{probe}/{model}.csv",
    log:
        "logs/compare_with_published/{probe}/{model}.log",
    benchmark:
        "results/benchmarks/compare_with_published/{probe}/{model}.tsv"
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/compare_with_published.py"


rule plot_reproduction_agreement:
    input:
        unpack(agreement_csvs),
    output:
        pdf=report(
            "paper/figures/reproduction_agreement.pdf",
            caption="../report/reproduction_agreement.rst",
            category="Appendix",
        ),
        png="paper/figures/reproduction_agreement.png",
        csv="paper/figures/reproduction_agreement.csv",
    log:
        "logs/plot_reproduction_agreement.log",
    benchmark:
        "results/benchmarks/plot_reproduction_agreement.tsv"
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        models=agreement_models(),
    script:
        "../scripts/plot_reproduction_agreement.py"


rule table_reproduction_agreement:
    input:
        "paper/figures/reproduction_agreement.csv",
    output:
        report(
            "paper/tables/reproduction_agreement.tex",
            caption="../report/tables.rst",
            category="Tables",
        ),
    log:
        "logs/table_reproduction_agreement.log",
    benchmark:
        "results/benchmarks/table_reproduction_agreement.tsv"
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../scripts/table_reproduction_agreement.py"


rule agreement:
    input:
        agreement_csvs().values(),
        "paper/figures/reproduction_agreement.pdf" if agreement_models() else [],
        "paper/tables/reproduction_agreement.tex" if agreement_models() else [],
