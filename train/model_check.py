"""Check a model directory before transformers loads it, so that a broken one is a one-line
error naming the file instead of a traceback from deep inside torch or a silent empty model:

- config.json: readable JSON whose sizes are positive integers (transformers 5 takes
  `hidden_size: -1` or `vocab_size: 0` as given and fails later creating or indexing
  tensors), then transformers' own config checks, their message put on one line.
- *.safetensors: each file's header opens (cheap: a memory map, no tensor is read). A copy or
  download cut short fails here, and the file is named.
- tokenizer files: transformers builds an empty tokenizer for a Qwen2 config when the
  directory has none, which encodes every text to nothing, so training then reports that
  no example fits --max-length. And a tokenizer without a chat template cannot render the
  chats every cotmill prompt is.
"""

from __future__ import annotations

import json
from pathlib import Path

from verifiers.errors import CotmillError

# sizes that must be positive integers where a config has them (Llama/Qwen names, GPT-2 names)
SIZE_KEYS = ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
             "num_key_value_heads", "head_dim", "max_position_embeddings", "n_embd", "n_layer", "n_head",
             "n_positions", "d_model")  # fmt: skip
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json", "vocab.txt", "spiece.model")


class ModelError(CotmillError, ValueError):
    """A model path or setting that cannot work; the message names the path (train.model's error)."""


def _sizes(config: dict, where: str, prefix: str = "") -> None:
    for key in SIZE_KEYS:
        value = config.get(key)
        if value is None:  # absent, or null where a config derives it (head_dim)
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ModelError(f"{where}: {prefix}{key} is {value!r}; it must be a positive integer")
    for nested in ("text_config", "decoder"):  # multimodal and encoder-decoder configs nest the LM's
        if isinstance(config.get(nested), dict):
            _sizes(config[nested], where, f"{prefix}{nested}.")


def one_line(error: BaseException) -> str:
    """An exception's message on one line (transformers' span several)."""
    return " ".join(line.strip() for line in str(error).splitlines() if line.strip()) or type(error).__name__


def check_config(model_dir: Path) -> None:
    path = model_dir / "config.json"
    if not path.is_file():
        return  # an adapter directory: its base is checked when it loads
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ModelError(f"{path}: not a text file") from None
    except json.JSONDecodeError as e:
        raise ModelError(f"{path}: invalid JSON: {e.msg} (line {e.lineno})") from None
    except OSError as e:
        raise ModelError(f"{path}: cannot read: {e.strerror or e}") from None
    if not isinstance(config, dict):
        raise ModelError(f"{path}: expected a JSON object")
    _sizes(config, str(path))
    from transformers import AutoConfig

    try:  # transformers' own checks (an unknown model_type, layer_types that disagree with the layers)
        AutoConfig.from_pretrained(str(model_dir))
    except Exception as e:  # ValueError, OSError, or huggingface_hub's strict-dataclass errors
        raise ModelError(f"{path}: {one_line(e)}") from None


def check_weights(model_dir: Path) -> None:
    from safetensors import safe_open

    for file in sorted(model_dir.glob("*.safetensors")):
        try:
            with safe_open(str(file), framework="pt"):
                pass
        except Exception as e:  # safetensors raises its own error type, or OSError
            raise ModelError(f"{file}: cannot read the weights ({one_line(e)}); the file is truncated or damaged "
                         "(an interrupted copy or download?)") from None  # fmt: skip


def check_tokenizer_files(tokenizer_dir: Path) -> None:
    if any((tokenizer_dir / name).is_file() for name in TOKENIZER_FILES) or any(
        tokenizer_dir.glob("*.tiktoken")
    ):
        return
    names = ", ".join(TOKENIZER_FILES[:-2]) + " or " + TOKENIZER_FILES[-2]
    raise ModelError(f"model {tokenizer_dir}: no tokenizer files ({names}); copy the tokenizer of the model "
                 "into this directory")  # fmt: skip


def check_chat_template(tokenizer, tokenizer_dir: Path) -> None:
    if not getattr(tokenizer, "chat_template", None):
        raise ModelError(f"model {tokenizer_dir}: its tokenizer has no chat template (chat_template.jinja, or "
                     "chat_template in tokenizer_config.json); cotmill renders every prompt as a chat")  # fmt: skip
