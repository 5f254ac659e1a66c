# Labels scored against Broden's human annotations (vitconcepts.ground_truth): the presence
# matrix of the probe's Broden part, every computed-label model's units scored against it, a
# per-layer summary, the appendix figure and table. Needs a probe with a broden (or
# synthetic_broden) part; with published labels only the share of labels naming a Broden
# concept is computed, and only when `ground_truth.broden_labels` gives Broden's label.csv.


# prepare_probe unpacks the whole archive (masks included; `include_masks` only decides
# what is indexed), and index.json names the Broden part's folder
rule broden_presence:
    input:
        index="resources/probes/{probe}/index.csv",
    output:
        "results/ground_truth/{probe}/presence.npz",
    log:
        "logs/broden_presence/{probe}.log",
    benchmark:
        "results/benchmarks/broden_presence/{probe}.tsv"
    conda:
        "../envs/analysis.yaml"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=120,
    script:
        "../scripts/broden_presence.py"


# {kind_suffix}: "" for a model's default unit kind, ".K" for kind K (as label_units)
rule score_ground_truth:
    input:
        activations="results/activations/{probe}/{model}{kind_suffix}.nc",
        labels="results/labels/{probe}/{model}{kind_suffix}.csv",
        presence="results/ground_truth/{probe}/presence.npz",
        index="resources/probes/{probe}/index.csv",
    output:
        "results/ground_truth/{probe}/{model}{kind_suffix}.csv",
    log:
        "logs/score_ground_truth/{probe}/{model}{kind_suffix}.log",
    benchmark:
        "results/benchmarks/score_ground_truth/{probe}/{model}{kind_suffix}.tsv"
    wildcard_constraints:
        kind_suffix=KIND_SUFFIX_PATTERN,
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=60,
    params:
        alpha=config["ground_truth"]["alpha"],
    script:
        "../scripts/score_ground_truth.py"


rule summarise_ground_truth:
    input:
        unpack(ground_truth_csvs),
        categories=f"results/categories/{CONCEPTS}.csv",
    output:
        f"results/ground_truth/{PROBE}/summary.csv",
    log:
        "logs/summarise_ground_truth.log",
    benchmark:
        "results/benchmarks/summarise_ground_truth.tsv"
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=20,
    params:
        models=list(ground_truth_csvs()),
    script:
        "../scripts/summarise_ground_truth.py"


rule summarise_ground_truth_published:
    input:
        unpack(analysed_labels),
        broden_labels=ground_truth_published() or [],
        categories=f"results/categories/{CONCEPTS}.csv",
    output:
        "results/ground_truth/published/summary.csv",
    log:
        "logs/summarise_ground_truth_published.log",
    benchmark:
        "results/benchmarks/summarise_ground_truth_published.tsv"
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        models=ANALYSED,
    script:
        "../scripts/summarise_ground_truth.py"


rule plot_ground_truth:
    input:
        summary=ground_truth_summary() or [],
    output:
        pdf=report(
            "paper/figures/ground_truth.pdf",
            caption="../report/ground_truth.rst",
            category="Ground truth",
        ),
        png="paper/figures/ground_truth.png",
        csv="paper/figures/ground_truth.csv",
    log:
        "logs/plot_ground_truth.log",
    benchmark:
        "results/benchmarks/plot_ground_truth.tsv"
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        models=ground_truth_figure_models(),
    script:
        "../scripts/plot_ground_truth.py"


rule table_ground_truth:
    input:
        ground_truth_summary() or [],
    output:
        tex=report(
            "paper/tables/ground_truth.tex",
            caption="../report/ground_truth.rst",
            category="Ground truth",
        ),
        csv=report(
            "paper/tables/ground_truth.csv",
            caption="../report/ground_truth.rst",
            category="Ground truth",
        ),
    log:
        "logs/table_ground_truth.log",
    benchmark:
        "results/benchmarks/table_ground_truth.tsv"
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../scripts/table_ground_truth.py"
