# bgsub: background subtraction experiments. See README.md; the config contract is in config.yaml.
import os


# BGSUB_CONFIG (make run CONFIG=mine.yaml) replaces config.yaml; --configfile overlays merge into it
configfile: os.environ.get("BGSUB_CONFIG") or "config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/methods.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/report.smk"


rule all:
    input:
        "results/summary.csv",
        all_figures(),
        report_targets(),
    default_target: True
