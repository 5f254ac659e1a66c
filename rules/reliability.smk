# How far each label can be trusted (vitconcepts.reliability): held-out validity cross-fitted on
# split halves with its permutation null, bootstrap resamples of the probe per layer, then the
# appendix figures and table.
# Needs activations: with published labels (no probe images) none of these rules run.


# {kind_suffix}: "" for a model's default unit kind, ".K" for kind K (as label_units)
rule assess_labels:
    input:
        activations="results/activations/{probe}/{model}{kind_suffix}.nc",
        images=f"results/clip/{{probe}}/{CLIP}.nc",
        concepts_emb=f"results/clip/concepts/{CONCEPTS}/{CLIP}.nc",
        concepts=f"resources/concepts/{CONCEPTS}.txt",
    output:
        csv="results/reliability/{probe}/{model}{kind_suffix}.csv",
        boot="results/reliability/{probe}/{model}{kind_suffix}_boot.nc",
    log:
        "logs/assess_labels/{probe}/{model}{kind_suffix}.log",
    benchmark:
        "results/benchmarks/assess_labels/{probe}/{model}{kind_suffix}.tsv"
    wildcard_constraints:
        kind_suffix=KIND_SUFFIX_PATTERN,
    conda:
        "../envs/torch.yaml"
    threads: 8
    resources:
        mem_mb=32000,
        runtime=1440,
        gpu=gpu("label_units"),
    params:
        # what changes the results; labeling.device is read from the config by the script
        method=config["labeling"]["method"],
        params=config["labeling"]["params"],
        n_null=config["reliability"]["n_null"],
        n_boot=config["reliability"]["n_boot"],
        seed=config["reliability"]["seed"],
        alpha=config["reliability"]["alpha"],
    script:
        "../scripts/assess_labels.py"


rule plot_reliability:
    input:
        **reliability_inputs(reliability_models()),
    output:
        pdf=report(
            "paper/figures/reliability.pdf",
            caption="../report/reliability.rst",
            category="Reliability",
        ),
        png="paper/figures/reliability.png",
        csv="paper/figures/reliability.csv",
    log:
        "logs/plot_reliability.log",
    benchmark:
        "results/benchmarks/plot_reliability.tsv"
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=20,
    params:
        models=reliability_models(),
    script:
        "../scripts/plot_reliability.py"


rule table_reliability:
    input:
        "paper/figures/reliability.csv",
    output:
        "paper/tables/reliability.tex",
    log:
        "logs/table_reliability.log",
    benchmark:
        "results/benchmarks/table_reliability.tsv"
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../scripts/table_reliability.py"


rule plot_concepts_per_layer_ci:
    input:
        **reliability_inputs(reliability_vits()),
        concepts="paper/figures/concepts_per_layer.csv",
    output:
        pdf=report(
            "paper/figures/concepts_per_layer_ci.pdf",
            caption="../report/concepts_per_layer_ci.rst",
            category="Reliability",
        ),
        png="paper/figures/concepts_per_layer_ci.png",
        csv="paper/figures/concepts_per_layer_ci.csv",
    log:
        "logs/plot_concepts_per_layer_ci.log",
    benchmark:
        "results/benchmarks/plot_concepts_per_layer_ci.tsv"
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=20,
    params:
        models=reliability_vits(),
    script:
        "../scripts/plot_concepts_per_layer_ci.py"


rule plot_category_shares_ci:
    input:
        **reliability_inputs(reliability_vits(), csv=False),
        shares="paper/figures/category_shares.csv",
        categories=f"results/categories/{CONCEPTS}.csv",
    output:
        pdf=report(
            "paper/figures/category_shares_ci.pdf",
            caption="../report/category_shares_ci.rst",
            category="Reliability",
        ),
        png="paper/figures/category_shares_ci.png",
        csv="paper/figures/category_shares_ci.csv",
    log:
        "logs/plot_category_shares_ci.log",
    benchmark:
        "results/benchmarks/plot_category_shares_ci.tsv"
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=20,
    params:
        models=reliability_vits(),
    script:
        "../scripts/plot_category_shares_ci.py"


rule plot_category_shares_significant:
    input:
        **reliability_inputs(reliability_vits(), boot=False),
        shares="paper/figures/category_shares.csv",
        categories=f"results/categories/{CONCEPTS}.csv",
    output:
        pdf=report(
            "paper/figures/category_shares_significant.pdf",
            caption="../report/category_shares_significant.rst",
            category="Reliability",
        ),
        png="paper/figures/category_shares_significant.png",
        csv="paper/figures/category_shares_significant.csv",
    log:
        "logs/plot_category_shares_significant.log",
    benchmark:
        "results/benchmarks/plot_category_shares_significant.tsv"
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        models=reliability_vits(),
    script:
        "../scripts/plot_category_shares_significant.py"


# Held-out validity (vitconcepts.validity): the paper's Figs. 1-2 counted over the units whose
# label is valid on held-out images, beside the paper's rule, and the held-out correlation.
rule plot_concepts_per_layer_valid:
    input:
        **reliability_inputs(reliability_vits(), boot=False),
        concepts="paper/figures/concepts_per_layer.csv",
    output:
        pdf=report(
            "paper/figures/concepts_per_layer_valid.pdf",
            caption="../report/concepts_per_layer_valid.rst",
            category="Reliability",
        ),
        png="paper/figures/concepts_per_layer_valid.png",
        csv="paper/figures/concepts_per_layer_valid.csv",
    log:
        "logs/plot_concepts_per_layer_valid.log",
    benchmark:
        "results/benchmarks/plot_concepts_per_layer_valid.tsv"
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        models=reliability_vits(),
    script:
        "../scripts/plot_concepts_per_layer_valid.py"


rule plot_category_shares_valid:
    input:
        **reliability_inputs(reliability_vits(), boot=False),
        shares="paper/figures/category_shares.csv",
        categories=f"results/categories/{CONCEPTS}.csv",
    output:
        pdf=report(
            "paper/figures/category_shares_valid.pdf",
            caption="../report/category_shares_valid.rst",
            category="Reliability",
        ),
        png="paper/figures/category_shares_valid.png",
        csv="paper/figures/category_shares_valid.csv",
    log:
        "logs/plot_category_shares_valid.log",
    benchmark:
        "results/benchmarks/plot_category_shares_valid.tsv"
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        models=reliability_vits(),
    script:
        "../scripts/plot_category_shares_valid.py"


rule plot_heldout_correlation:
    input:
        **reliability_inputs(reliability_models(), boot=False),
    output:
        pdf=report(
            "paper/figures/heldout_correlation.pdf",
            caption="../report/heldout_correlation.rst",
            category="Reliability",
        ),
        png="paper/figures/heldout_correlation.png",
        csv="paper/figures/heldout_correlation.csv",
    log:
        "logs/plot_heldout_correlation.log",
    benchmark:
        "results/benchmarks/plot_heldout_correlation.tsv"
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        models=reliability_models(),
    script:
        "../scripts/plot_heldout_correlation.py"
