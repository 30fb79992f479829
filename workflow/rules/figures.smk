# Figures of the report. Every rule here reads stored results only (masks, sweep/summary/frames CSVs), so
# `make figures` (--forcerun of the figure_* and report_* rules) never refits or rescores. Each rule takes only
# the `figures:` settings it uses as params, so changing one reruns just the rules that use it.
# Helpers (fig_report, report_targets) are in report_common.smk.
include: "report_common.smk"


rule figure_backgrounds:
    input:
        backgrounds=expand("results/{{dataset}}/{run}/background.png", run=RUNS),
        data=dataset_input,
        split="results/{dataset}/split.json",
    output:
        fig_report("results/{dataset}/figures/backgrounds.png", "backgrounds", "{dataset}", "images",
                   figure="background images"),
    params:
        spec=lambda wc: dataset_spec(wc.dataset),
        runs=list(RUNS),
        dpi=FIG["dpi"],
    log:
        "results/logs/figures/{dataset}_backgrounds.log",
    script:
        "../scripts/figure_backgrounds.py"


rule figure_masks:
    input:
        masks=expand("results/{{dataset}}/{run}/masks", run=RUNS),
        data=dataset_input,
        split="results/{dataset}/split.json",
    output:
        fig_report("results/{dataset}/figures/masks.png", "masks", "{dataset}", "images", figure="mask grid"),
    params:
        spec=lambda wc: dataset_spec(wc.dataset),
        runs=list(RUNS),
        grid_frames=FIG["grid_frames"],
        dpi=FIG["dpi"],
    log:
        "results/logs/figures/{dataset}_masks.log",
    script:
        "../scripts/figure_masks.py"


rule figure_overlay:
    input:
        masks="results/{dataset}/{run}/masks",
        data=dataset_input,
        split="results/{dataset}/split.json",
    output:
        "results/{dataset}/figures/overlay_{run}.mp4",
    params:
        spec=lambda wc: dataset_spec(wc.dataset),
        gif_frames=FIG["gif_frames"],
        gif_width=FIG["gif_width"],
    log:
        "results/logs/figures/{dataset}_overlay_{run}.log",
    script:
        "../scripts/figure_overlay.py"


rule figure_overlays:
    input:
        expand("results/{{dataset}}/figures/overlay_{run}.mp4", run=RUNS),
    output:
        fig_report("results/{dataset}/figures/overlays.html", "overlay", "{dataset}", "mask overlays",
                   figure="mask overlays"),
    params:
        runs=list(RUNS),
    log:
        "results/logs/figures/{dataset}_overlays.log",
    script:
        "../scripts/figure_overlays.py"


rule figure_f_threshold:
    input:
        sweep="results/{dataset}/sweep.csv",
        summary="results/{dataset}/summary.csv",
    output:
        fig_report("results/{dataset}/figures/f_threshold.png", "f_threshold", "{dataset}", "curves",
                   figure="F against threshold"),
    params:
        dpi=FIG["dpi"],
    log:
        "results/logs/figures/{dataset}_f_threshold.log",
    script:
        "../scripts/figure_f_threshold.py"


rule figure_pr:
    input:
        "results/{dataset}/sweep.csv",
    output:
        fig_report("results/{dataset}/figures/pr.png", "pr", "{dataset}", "curves", figure="precision-recall"),
    params:
        dpi=FIG["dpi"],
    log:
        "results/logs/figures/{dataset}_pr.log",
    script:
        "../scripts/figure_pr.py"


rule figure_frame_f:
    input:
        "results/{dataset}/frames.csv",
    output:
        fig_report("results/{dataset}/figures/f_frames.png", "f_frames", "{dataset}", "curves",
                   figure="F per frame"),
    params:
        dpi=FIG["dpi"],
    log:
        "results/logs/figures/{dataset}_f_frames.log",
    script:
        "../scripts/figure_frame_f.py"


rule figure_f_measure:
    input:
        summary="results/summary.csv",
        sweeps=expand("results/{dataset}/sweep.csv", dataset=GT_DATASETS),
    output:
        fig_report("results/figures/f_measure.png", "f_measure", "Overview", "scores", figure="F-measure"),
    params:
        dpi=FIG["dpi"],
    log:
        "results/logs/figures/f_measure.log",
    script:
        "../scripts/figure_f_measure.py"


rule figure_f_k:
    input:
        "results/summary.csv",
    output:
        fig_report("results/figures/f_k.png", "f_k", "Overview", "scores", figure="F against K"),
    params:
        dpi=FIG["dpi"],
    log:
        "results/logs/figures/f_k.log",
    script:
        "../scripts/figure_f_k.py"


rule figure_timings:
    input:
        "results/timings.csv",
    output:
        fig_report("results/figures/timings.png", "timings", "Overview", "timings", figure="time per job"),
    params:
        dpi=FIG["dpi"],
    log:
        "results/logs/figures/timings.log",
    script:
        "../scripts/figure_timings.py"
