# One rule per figure: paper/figures/<name>.pdf (+ .png, + source data .csv).


rule plot_category_shares_vit_mean:
    input:
        shares="paper/figures/category_shares.csv",
    output:
        pdf=report(
            "paper/figures/category_shares_vit_mean.pdf",
            caption="../report/category_shares_vit_mean.rst",
            category="Categories",
        ),
        png="paper/figures/category_shares_vit_mean.png",
        csv="paper/figures/category_shares_vit_mean.csv",
    log:
        "logs/plot_category_shares_vit_mean.log",
    benchmark:
        "results/benchmarks/plot_category_shares_vit_mean.tsv"
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        models=ROLES["vits"],
    script:
        "../scripts/plot_category_shares_vit_mean.py"


rule plot_concepts_per_layer:
    input:
        counts="paper/figures/concepts_per_layer.csv",
    output:
        pdf=report(
            "paper/figures/concepts_per_layer.pdf",
            caption="../report/concepts_per_layer.rst",
            category="Concepts per layer",
        ),
        png="paper/figures/concepts_per_layer.png",
    log:
        "logs/plot_concepts_per_layer.log",
    benchmark:
        "results/benchmarks/plot_concepts_per_layer.tsv"
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        models=ROLES["vits"],
    script:
        "../scripts/plot_concepts_per_layer.py"


rule plot_category_shares:
    input:
        shares="paper/figures/category_shares.csv",
    output:
        pdf=report(
            "paper/figures/category_shares.pdf",
            caption="../report/category_shares.rst",
            category="Categories",
        ),
        png="paper/figures/category_shares.png",
    log:
        "logs/plot_category_shares.log",
    benchmark:
        "results/benchmarks/plot_category_shares.tsv"
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        models=ROLES["vits"],
    script:
        "../scripts/plot_category_shares.py"


rule plot_example_units:
    input:
        labels=example_labels,
        index=f"resources/probes/{PROBE}/index.csv",
    output:
        pdf=report(
            "paper/figures/example_units.pdf",
            caption="../report/example_units.rst",
            category="Examples",
        ),
        png="paper/figures/example_units.png",
        csv="paper/figures/example_units.csv",
    log:
        "logs/plot_example_units.log",
    benchmark:
        "results/benchmarks/plot_example_units.tsv"
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        model=EXAMPLE_MODEL,
        layers=ROLES["example_units"]["layers"],
        units_per_layer=ROLES["example_units"]["units_per_layer"],
    script:
        "../scripts/plot_example_units.py"


rule plot_image_complexity:
    input:
        complexity=f"results/complexity/{PROBE}.csv",
    output:
        pdf=report(
            "paper/figures/image_complexity.pdf",
            caption="../report/image_complexity.rst",
            category="Complexity",
        ),
        png="paper/figures/image_complexity.png",
        csv="paper/figures/image_complexity.csv",
    log:
        "logs/plot_image_complexity.log",
    benchmark:
        "results/benchmarks/plot_image_complexity.tsv"
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        models=ANALYSED,
        measure=config["complexity"]["measure"],
    script:
        "../scripts/plot_image_complexity.py"


rule plot_category_shares_resnet:
    input:
        shares="paper/figures/category_shares.csv",
    output:
        pdf=report(
            "paper/figures/category_shares_resnet.pdf",
            caption="../report/category_shares_resnet.rst",
            category="Categories",
        ),
        png="paper/figures/category_shares_resnet.png",
        csv="paper/figures/category_shares_resnet.csv",
    log:
        "logs/plot_category_shares_resnet.log",
    benchmark:
        "results/benchmarks/plot_category_shares_resnet.tsv"
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        model=ROLES["cnn"],
    script:
        "../scripts/plot_category_shares_resnet.py"


rule plot_finetuned_category_shares:
    input:
        shares="paper/figures/category_shares.csv",
    output:
        pdf=report(
            "paper/figures/finetuned_category_shares.pdf",
            caption="../report/finetuned_category_shares.rst",
            category="Finetuning",
        ),
        png="paper/figures/finetuned_category_shares.png",
        csv="paper/figures/finetuned_category_shares.csv",
    log:
        "logs/plot_finetuned_category_shares.log",
    benchmark:
        "results/benchmarks/plot_finetuned_category_shares.tsv"
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        pairs=FINETUNED,
    script:
        "../scripts/plot_finetuned_category_shares.py"


rule plot_finetuned_concepts_per_layer:
    input:
        counts="paper/figures/concepts_per_layer.csv",
    output:
        pdf=report(
            "paper/figures/finetuned_concepts_per_layer.pdf",
            caption="../report/finetuned_concepts_per_layer.rst",
            category="Finetuning",
        ),
        png="paper/figures/finetuned_concepts_per_layer.png",
        csv="paper/figures/finetuned_concepts_per_layer.csv",
    log:
        "logs/plot_finetuned_concepts_per_layer.log",
    benchmark:
        "results/benchmarks/plot_finetuned_concepts_per_layer.tsv"
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        pairs=FINETUNED,
    script:
        "../scripts/plot_finetuned_concepts_per_layer.py"


rule plot_appendix:
    input:
        counts="paper/figures/concepts_per_layer.csv",
        shares="paper/figures/category_shares.csv",
    output:
        pdf=report(
            "paper/figures/appendix_{model}.pdf",
            caption="../report/appendix.rst",
            category="Appendix",
        ),
        png="paper/figures/appendix_{model}.png",
        csv="paper/figures/appendix_{model}.csv",
    log:
        "logs/plot_appendix/{model}.log",
    benchmark:
        "results/benchmarks/plot_appendix/{model}.tsv"
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/plot_appendix.py"


rule plot_score_histograms:
    input:
        unpack(analysed_labels),
    output:
        pdf=report(
            "paper/figures/score_histograms.pdf",
            caption="../report/score_histograms.rst",
            category="Scores",
        ),
        png="paper/figures/score_histograms.png",
        csv="paper/figures/score_histograms.csv",
    log:
        "logs/plot_score_histograms.log",
    benchmark:
        "results/benchmarks/plot_score_histograms.tsv"
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        models=ANALYSED,
    script:
        "../scripts/plot_score_histograms.py"


rule plot_finetuning_category_shares:
    input:
        shares="paper/figures/category_shares.csv",
    output:
        pdf=report(
            "paper/figures/finetuning_category_shares.pdf",
            caption="../report/finetuning_category_shares.rst",
            category="Finetuning",
        ),
        png="paper/figures/finetuning_category_shares.png",
        csv="paper/figures/finetuning_category_shares.csv",
    log:
        "logs/plot_finetuning_category_shares.log",
    benchmark:
        "results/benchmarks/plot_finetuning_category_shares.tsv"
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        conditions=FINETUNING_CONDITIONS,
    script:
        "../scripts/plot_finetuning_category_shares.py"


rule plot_finetuning_concepts_per_layer:
    input:
        counts="paper/figures/concepts_per_layer.csv",
    output:
        pdf=report(
            "paper/figures/finetuning_concepts_per_layer.pdf",
            caption="../report/finetuning_concepts_per_layer.rst",
            category="Finetuning",
        ),
        png="paper/figures/finetuning_concepts_per_layer.png",
        csv="paper/figures/finetuning_concepts_per_layer.csv",
    log:
        "logs/plot_finetuning_concepts_per_layer.log",
    benchmark:
        "results/benchmarks/plot_finetuning_concepts_per_layer.tsv"
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        conditions=FINETUNING_CONDITIONS,
    script:
        "../scripts/plot_finetuning_concepts_per_layer.py"


# the unit kinds of each ViT layer by layer (models.<key>.units; computed labels only)
rule plot_unit_kinds:
    input:
        **unit_kinds_label_inputs(),
        categories=f"results/categories/{CONCEPTS}.csv",
    output:
        pdf=report(
            "paper/figures/unit_kinds.pdf",
            caption="../report/unit_kinds.rst",
            category="Unit kinds",
        ),
        png="paper/figures/unit_kinds.png",
        csv="paper/figures/unit_kinds.csv",
    log:
        "logs/plot_unit_kinds.log",
    benchmark:
        "results/benchmarks/plot_unit_kinds.tsv"
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=20,
    params:
        kinds={
            model: list(unit_kinds(model, config["models"][model]))
            for model in unit_kinds_models()
        },
    script:
        "../scripts/plot_unit_kinds.py"
