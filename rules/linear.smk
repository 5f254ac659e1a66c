# The second labeler, Linear Explanations (vitconcepts.labeling.explain_units): each unit as a
# short weighted sum of concepts, chosen on training images and scored on held-out ones,
# beside the held-out correlation of its CLIP-Dissect label; then figure `labelers`.
# Needs activations: with published labels (no probe images) none of these rules run.


# {kind_suffix}: "" for a model's default unit kind, ".K" for kind K (as label_units)
rule explain_units:
    input:
        activations="results/activations/{probe}/{model}{kind_suffix}.nc",
        images=f"results/clip/{{probe}}/{CLIP}.nc",
        concepts_emb=f"results/clip/concepts/{CONCEPTS}/{CLIP}.nc",
        concepts=f"resources/concepts/{CONCEPTS}.txt",
        labels="results/labels/{probe}/{model}{kind_suffix}.csv",
    output:
        csv="results/linear/{probe}/{model}{kind_suffix}.csv",
    log:
        "logs/explain_units/{probe}/{model}{kind_suffix}.log",
    benchmark:
        "results/benchmarks/explain_units/{probe}/{model}{kind_suffix}.tsv"
    wildcard_constraints:
        kind_suffix=KIND_SUFFIX_PATTERN,
    conda:
        "../envs/torch.yaml"
    threads: 8
    resources:
        mem_mb=32000,
        runtime=480,
        gpu=gpu("label_units"),
    params:
        # what changes the explanations; labeling.device is read from the config by the script
        settings=config["linear_explanations"],
    script:
        "../scripts/explain_units.py"


rule plot_labelers:
    input:
        **linear_csvs(),
    output:
        pdf=report(
            "paper/figures/labelers.pdf",
            caption="../report/labelers.rst",
            category="Reliability",
        ),
        png="paper/figures/labelers.png",
        csv="paper/figures/labelers.csv",
    log:
        "logs/plot_labelers.log",
    benchmark:
        "results/benchmarks/plot_labelers.tsv"
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        models=LINEAR,
        controls=control_models(config),
    script:
        "../scripts/plot_labelers.py"
