rule categorise_concepts:
    input:
        concepts="resources/concepts/{concepts}.txt",
        curated=curated_map,
    output:
        "results/categories/{concepts}.csv",
    log:
        "logs/categorise_concepts/{concepts}.log",
    benchmark:
        "results/benchmarks/categorise_concepts/{concepts}.tsv"
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        automatic=config["categories"]["automatic"],
    script:
        "../scripts/categorise_concepts.py"


rule categoriser_agreement:
    input:
        curated="resources/published/words_per_category_curated.json",
    output:
        "results/categories/agreement.csv",
    log:
        "logs/categoriser_agreement.log",
    benchmark:
        "results/benchmarks/categoriser_agreement.tsv"
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    script:
        "../scripts/categoriser_agreement.py"


rule count_concepts:
    input:
        unpack(analysed_labels),
    output:
        "paper/figures/concepts_per_layer.csv",
    log:
        "logs/count_concepts.log",
    benchmark:
        "results/benchmarks/count_concepts.tsv"
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        models=ANALYSED,
    script:
        "../scripts/count_concepts.py"


rule share_categories:
    input:
        unpack(analysed_labels),
        categories=f"results/categories/{CONCEPTS}.csv",
    output:
        "paper/figures/category_shares.csv",
    log:
        "logs/share_categories.log",
    benchmark:
        "results/benchmarks/share_categories.tsv"
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        models=ANALYSED,
    script:
        "../scripts/share_categories.py"


rule image_complexity:
    input:
        unpack(analysed_labels),
        index="resources/probes/{probe}/index.csv",
    output:
        "results/complexity/{probe}.csv",
    log:
        "logs/image_complexity/{probe}.log",
    benchmark:
        "results/benchmarks/image_complexity/{probe}.tsv"
    conda:
        "../envs/analysis.yaml"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=120,
    params:
        models=ANALYSED,
        measure=config["complexity"]["measure"],
        scorer=config["complexity"]["scorer"],
        batch_size=config["complexity"]["batch_size"],
    script:
        "../scripts/image_complexity.py"
