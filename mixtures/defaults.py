"""Defaults of `curate` and `export` that the CLI, the pipeline file and the Python API
share, so each is written once. No imports: the CLI reads them without loading numpy,
pyarrow or DuckDB."""

NGRAM = 8  # words per n-gram of benchmark decontamination
NEAR_DUP_THRESHOLD = 0.8  # estimated Jaccard similarity above which two texts are near-duplicates
SHINGLE = 5  # tokens per shingle of near-dup detection
MAX_REPETITION = 0.6  # share of repeated word 8-grams above which a completion counts as looping

EXPORT_FORMAT = "sft"  # row format: sft, rl, prm, dpo or a plugin's (mixtures.export.FORMATS)
EXPORT_WRITER = "parquet"  # file layout: parquet, jsonl or hf
