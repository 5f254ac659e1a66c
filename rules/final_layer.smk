# The final-layer check (vitconcepts.final_layer): a classifier's output (logit) units
# labelled with its class names by the run's labeling method, scored top-1 / top-5 as
# CLIP-Dissect validates its labeler. The logits come from the ordinary dump (the output
# module as the only layer), the labels from the ordinary label_units step.


rule dump_logits:
    input:
        unpack(dump_inputs),
    output:
        activations="results/final_layer/{probe}/{model}_logits.nc",
    log:
        "logs/dump_logits/{probe}/{model}.log",
    benchmark:
        "results/benchmarks/dump_logits/{probe}/{model}.tsv"
    wildcard_constraints:
        model=models_pattern(FINAL_LAYER),
    conda:
        "../envs/torch.yaml"
    threads: 8
    resources:
        mem_mb=16000,
        runtime=360,
        gpu=gpu("dump_activations"),
    params:
        entry=final_layer_dump_entry,
        dtype=config["dump"]["dtype"],
        autocast=config["dump"]["autocast"],
    script:
        "../scripts/dump_activations.py"


rule label_final_layer:
    input:
        unpack(final_layer_classes),
        activations="results/final_layer/{probe}/{model}_logits.nc",
        images=f"results/clip/{{probe}}/{CLIP}.nc",
    output:
        csv="results/final_layer/{probe}/{model}_labels.csv",
        topk="results/final_layer/{probe}/{model}_topk.nc",
    log:
        "logs/label_final_layer/{probe}/{model}.log",
    benchmark:
        "results/benchmarks/label_final_layer/{probe}/{model}.tsv"
    wildcard_constraints:
        model=models_pattern(FINAL_LAYER),
    conda:
        "../envs/torch.yaml"
    threads: 8
    resources:
        mem_mb=32000,
        runtime=240,
        gpu=gpu("label_units"),
    params:
        method=config["labeling"]["method"],
        params=config["labeling"]["params"],
        n_top_images=config["labeling"]["n_top_images"],
        # top-5 needs each unit's 5 best concepts
        n_top_concepts=max(5, config["labeling"]["n_top_concepts"]),
    script:
        "../scripts/label_units.py"


rule check_final_layer:
    input:
        unpack(final_layer_classes),
        topk="results/final_layer/{probe}/{model}_topk.nc",
    output:
        "results/final_layer/{probe}/{model}.csv",
    log:
        "logs/check_final_layer/{probe}/{model}.log",
    benchmark:
        "results/benchmarks/check_final_layer/{probe}/{model}.tsv"
    wildcard_constraints:
        model=models_pattern(FINAL_LAYER),
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/check_final_layer.py"


rule table_final_layer:
    input:
        **final_layer_checks(),
    output:
        report(
            "paper/tables/final_layer.tex",
            caption="../report/tables.rst",
            category="Tables",
        ),
    log:
        "logs/table_final_layer.log",
    benchmark:
        "results/benchmarks/table_final_layer.tsv"
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        modules={model: entry["module"] for model, entry in FINAL_LAYER.items()},
    script:
        "../scripts/table_final_layer.py"
