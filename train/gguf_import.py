"""`cotmill models import FILE.gguf`: a GGUF file (llama.cpp's format) as a plain Hugging Face
model directory that every cotmill command loads like any other local model.

transformers reads GGUF through the `gguf` package and de-quantizes the weights to float; the
model it returns still carries the GGUF "quantizer", which `save_pretrained` would record in
config.json (and refuse to save). Detached, the model saves as ordinary safetensors. Written
into a hidden folder beside --out and renamed into place last, so an interrupted import never
leaves a directory that looks complete.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from verifiers.errors import CotmillError

GGUF_MAGIC = b"GGUF"
DTYPES = ("float32", "bfloat16", "float16")


class GGUFImportError(CotmillError, ValueError):
    """The file is not a GGUF model transformers can read, or --out is taken."""


@dataclass
class Imported:
    out: Path
    architecture: str
    parameters: int
    dtype: str
    vocab_size: int
    context: int
    chat_template: bool


def check_gguf(path: Path) -> None:
    if not path.is_file():
        raise GGUFImportError(f"{path}: no such file")
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic != GGUF_MAGIC:
        raise GGUFImportError(
            f"{path}: not a GGUF file (it starts with {magic!r}, a GGUF file with {GGUF_MAGIC!r})"
        )


def import_gguf(file, out, *, dtype: str = "float32", overwrite: bool = False) -> Imported:
    """Read FILE (GGUF) and write a Hugging Face directory at OUT: model.safetensors, config.json,
    generation_config.json and the tokenizer with its chat template."""
    file, out = Path(file), Path(out)
    check_gguf(file)
    if dtype not in DTYPES:
        raise GGUFImportError(f"--dtype {dtype!r}: choose one of {', '.join(DTYPES)}")
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not overwrite:
        raise GGUFImportError(f"{out} exists and is not empty (--overwrite replaces it)")
    try:
        import gguf  # noqa: F401 - transformers' GGUF reader needs it; say so before loading
    except ImportError:
        raise GGUFImportError("reading GGUF needs the gguf package: pip install gguf") from None
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(file.parent), gguf_file=file.name)
        model = AutoModelForCausalLM.from_pretrained(
            str(file.parent), gguf_file=file.name, dtype=torch.float32
        )
    except Exception as e:  # noqa: BLE001 - whatever the reader trips on, the file is not importable
        raise GGUFImportError(
            f"{file}: transformers cannot read this GGUF model: {type(e).__name__}: {e}"
        ) from None
    # detach the GGUF quantizer: the weights are already de-quantized floats
    model.hf_quantizer = None
    for holder in (model, model.config):
        if hasattr(holder, "quantization_config"):
            delattr(holder, "quantization_config")
    for flag in ("is_quantized", "_is_quantized_training_enabled"):
        if getattr(model, flag, False):
            setattr(model, flag, False)
    model = model.to(getattr(torch, dtype))
    model.config.dtype = dtype

    gen = model.generation_config or GenerationConfig()
    eos = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else model.config.eos_token_id
    gen.eos_token_id = eos
    gen.bos_token_id = model.config.bos_token_id
    if gen.pad_token_id is None:
        gen.pad_token_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos
    if tokenizer.pad_token is None and eos is not None:
        tokenizer.pad_token = tokenizer.convert_ids_to_tokens(eos)
    model.generation_config = gen

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.import-", dir=out.parent))
    try:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        meta = {"source": file.name, "format": "gguf", "dtype": dtype}
        (tmp / "cotmill-import.json").write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
        if out.exists():
            shutil.rmtree(out) if out.is_dir() else out.unlink()
        umask = os.umask(0)
        os.umask(umask)
        tmp.chmod(0o777 & ~umask)  # mkdtemp's folder is private; the model directory should not be
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    cfg = model.config
    return Imported(
        out=out,
        architecture=type(model).__name__,
        parameters=sum(p.numel() for p in model.parameters()),
        dtype=dtype,
        vocab_size=cfg.vocab_size,
        context=getattr(cfg, "max_position_embeddings", 0) or 0,
        chat_template=bool(tokenizer.chat_template),
    )
