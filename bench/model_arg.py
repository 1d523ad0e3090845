"""`--model DIR` of the benchmarks that run a real model: checked before anything heavy loads."""

from __future__ import annotations

import argparse
from pathlib import Path


def check_model(ap: argparse.ArgumentParser, model: Path) -> Path:
    """--model DIR resolved, or an argparse error (exit 2) where DIR is no model directory to load."""
    model = Path(model)
    if not model.is_dir():
        ap.error(f"--model {model}: no such directory; give a local Hugging Face model directory")
    if not (model / "config.json").is_file():
        ap.error(f"--model {model}: no config.json there; not a Hugging Face model directory")
    from train.model import load_tokenizer
    from train.model_check import ModelError, check_config, check_weights

    try:
        check_config(model)
        check_weights(model)
        load_tokenizer(model)
    except ModelError as e:
        ap.error(f"--model: {e}")
    return model.resolve()
