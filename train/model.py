"""Load any Hugging Face causal LM from a local directory, with LoRA, QLoRA or a saved
adapter, and save or merge what was trained.

Adapters chain: an adapter directory records the path of its base
(`base_model_name_or_path`), which may itself be an adapter directory. Loading one
merges every adapter below it into the base, so GRPO on top of an SFT adapter trains a
fresh adapter whose disabled state (the KL reference) is the SFT model, with one copy
of the weights.
"""

from __future__ import annotations

import json
import warnings
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from train.model_check import (
    ModelError,
    check_chat_template,
    check_config,
    check_tokenizer_files,
    check_weights,
    one_line,
)

ADAPTER_CONFIG = "adapter_config.json"

# peft reads transformers' deprecated `is_gradient_checkpointing` on every wrap: its
# FutureWarning says nothing to our users, who would see it in every training, eval and
# teacher run. Added once, when the module loads, for every caller (CLI, API, pipeline).
warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)


@dataclass
class LoraSettings:
    r: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: str | list[str] = "all-linear"  # peft's all-linear: every Linear but lm_head

    def peft_config(self):
        from peft import LoraConfig

        if self.r < 1:
            raise ModelError(f"LoRA rank must be at least 1, got {self.r}")
        return LoraConfig(
            r=self.r,
            lora_alpha=self.alpha,
            lora_dropout=self.dropout,
            target_modules=self.target_modules,
            task_type="CAUSAL_LM",
        )


def pick_device(device: str = "auto"):
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        chosen = torch.device(device)
    except RuntimeError as e:
        raise ModelError(f"unknown device {device!r}: {e}") from None
    if chosen.type == "cuda" and not torch.cuda.is_available():
        raise ModelError(f"device {device!r} asked for, but no CUDA device is available")
    return chosen


_PRECISIONS = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}


def pick_dtype(device, precision: str = "auto"):
    """auto: bf16 on a CUDA device that supports it, else fp32."""
    import torch

    device = torch.device(device)
    if precision == "auto":
        if device.type == "cuda" and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    if precision not in _PRECISIONS:
        raise ModelError(f"unknown precision {precision!r}; choose auto, {', '.join(_PRECISIONS)}")
    return getattr(torch, _PRECISIONS[precision])


def is_adapter_dir(path) -> bool:
    return (Path(path) / ADAPTER_CONFIG).is_file()


def adapter_base(adapter_dir, base=None) -> Path:
    """The base an adapter was trained on: `base` if given, else the one it records
    (absolute, or relative to the working directory or to the adapter)."""
    adapter_dir = Path(adapter_dir)
    if base is None:
        try:
            recorded = json.loads((adapter_dir / ADAPTER_CONFIG).read_text())["base_model_name_or_path"]
        except (OSError, ValueError, KeyError) as e:
            raise ModelError(
                f"{adapter_dir}: cannot read the base model from {ADAPTER_CONFIG}: {e}"
            ) from None
        if not recorded:
            raise ModelError(f"{adapter_dir}: {ADAPTER_CONFIG} names no base model; pass the base path")
        candidates = [Path(recorded), adapter_dir / recorded]
        found = next((c for c in candidates if c.is_dir()), None)
        if found is None:
            raise ModelError(
                f"{adapter_dir}: its base model {recorded} is not a local directory; pass the base path"
            )
        return found.resolve()
    base = Path(base)
    if not base.is_dir():
        raise ModelError(f"base model {base}: no such directory")
    return base.resolve()


def run_model_dir(path: Path) -> Path:
    """A training run's directory (runs/sft: checkpoints, its run config.json, final/) stands
    for its final model, runs/sft/final; any other path is itself."""
    final = path / "final"
    if not final.is_dir() or not ((final / "config.json").is_file() or is_adapter_dir(final)):
        return path
    if is_adapter_dir(path):
        return path
    try:  # a model directory's config.json names its model_type; a run's names its settings
        own = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        own = None
    return path if isinstance(own, dict) and "model_type" in own else final


def _check_model_dir(path: Path) -> None:
    if not path.exists():
        raise ModelError(f"model {path}: no such directory")
    if not path.is_dir():
        raise ModelError(f"model {path}: not a directory (give a Hugging Face model directory)")
    if not (path / "config.json").is_file() and not is_adapter_dir(path):
        raise ModelError(
            f"model {path}: no config.json or {ADAPTER_CONFIG}; not a Hugging Face model directory"
        )
    check_config(path)
    check_weights(path)


def _from_pretrained(path: Path, dtype, quantization=None, attn_implementation=None):
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    # transformers draws a "Loading weights" bar per load: noise in our own progress output
    hf_logging.disable_progress_bar()

    kwargs = {"dtype": dtype}
    if quantization is not None:
        import torch

        kwargs["quantization_config"] = quantization
        kwargs["device_map"] = {"": torch.cuda.current_device()}
    if attn_implementation:
        kwargs["attn_implementation"] = attn_implementation
    try:
        return AutoModelForCausalLM.from_pretrained(str(path), **kwargs)
    except RuntimeError as e:
        if "mismatched_sizes" not in str(e):
            raise
        raise ModelError(f"{path / 'config.json'}: its sizes do not match the weights in {path} (transformers' "
                         "load report above lists them)") from None  # fmt: skip
    except (ValueError, OSError, KeyError) as e:
        raise ModelError(f"model {path}: cannot load as a causal language model: {one_line(e)}") from None


def load_full(path, dtype=None, quantization=None, attn_implementation=None):
    """A plain *ForCausalLM: the model at `path`, or for an adapter directory its base
    with every adapter in the chain merged in."""
    path = Path(path).resolve()
    _check_model_dir(path)
    if not is_adapter_dir(path):
        return _from_pretrained(path, dtype, quantization, attn_implementation)
    from peft import PeftModel

    base = load_full(adapter_base(path), dtype, quantization, attn_implementation)
    return PeftModel.from_pretrained(base, str(path)).merge_and_unload()


def _tokenizer_dir(path: Path) -> Path:
    """The adapter directory when it carries the tokenizer (save_model writes it), else its base's."""
    while is_adapter_dir(path) and not (path / "tokenizer_config.json").is_file():
        path = adapter_base(path)
    return path


def _with_tokenizer(adapter_dir: Path, base: Path) -> Path:
    return adapter_dir if (adapter_dir / "tokenizer_config.json").is_file() else base


def load_tokenizer(path):
    from transformers import AutoTokenizer

    path = _tokenizer_dir(Path(path).resolve())
    check_tokenizer_files(path)
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path))
    except (ValueError, OSError) as e:
        raise ModelError(f"model {path}: cannot load its tokenizer: {one_line(e)}") from None
    check_chat_template(tokenizer, path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def _quantization(dtype):
    """4-bit NF4 (QLoRA) settings, or a ModelError saying what is missing."""
    import torch

    if not torch.cuda.is_available():
        raise ModelError("QLoRA needs a CUDA device; none is available (train with LoRA instead)")
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        raise ModelError("QLoRA needs bitsandbytes; install it (pip install bitsandbytes)") from None
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=dtype,
    )


def load_model(
    path,
    *,
    device="auto",
    precision="auto",
    lora: LoraSettings | None = None,
    qlora: bool = False,
    gradient_checkpointing: bool | None = None,
    adapter: str | Path | None = None,
    trainable: bool = True,
    attn_implementation: str | None = None,
):
    """(model, tokenizer). `lora` adds a fresh trainable adapter (on top of `path`, with
    any adapter chain there merged first); `adapter` loads a saved one onto `path`
    (trainable if `trainable`); a `path` that is an adapter directory alone is loaded as
    its base plus that adapter. QLoRA loads the base in 4-bit NF4 (CUDA + bitsandbytes)."""
    from peft import PeftModel, get_peft_model

    path = run_model_dir(Path(path).resolve())
    _check_model_dir(path)
    if lora is not None and adapter is not None:
        raise ModelError("give either new LoRA settings or an adapter to load, not both")
    if qlora and lora is None and adapter is None and not is_adapter_dir(path):
        raise ModelError("QLoRA trains an adapter: give LoRA settings too")
    dev = pick_device(device)
    dtype = pick_dtype(dev, precision)
    quant = _quantization(dtype) if qlora else None
    if gradient_checkpointing is None:
        gradient_checkpointing = dev.type == "cuda"
    gradient_checkpointing = gradient_checkpointing and trainable

    # the adapter to load on top, and the base it goes on
    if adapter is None and lora is None and is_adapter_dir(path):
        adapter, base_path = path, adapter_base(path)
    else:
        base_path = path
    # the tokenizer first: a directory without one fails before the weights load
    tokenizer = load_tokenizer(path if adapter is None else _with_tokenizer(Path(adapter), base_path))
    model = load_full(base_path, dtype, quant, attn_implementation)
    if quant is None:
        model = model.to(dev)
    else:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=gradient_checkpointing)
    if gradient_checkpointing:
        # transformers 5.x renamed it (the old name warns on every run); older ones have only the old
        if hasattr(model, "activation_checkpointing_enable"):
            model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
        else:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.config.use_cache = False

    if lora is not None:
        model = get_peft_model(model, lora.peft_config())
        # record where this adapter's base is: the adapter dir when one was merged in, so
        # loading this adapter later rebuilds the same base
        model.peft_config["default"].base_model_name_or_path = str(path)
    elif adapter is not None:
        model = PeftModel.from_pretrained(model, str(Path(adapter).resolve()), is_trainable=trainable)
    elif not trainable:
        model.requires_grad_(False)

    model.train(trainable)
    if model.generation_config is not None and model.generation_config.pad_token_id is None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer


def _is_peft(model) -> bool:
    from peft import PeftModel

    return isinstance(model, PeftModel)


def unwrap(model):
    """The underlying *ForCausalLM of a peft (or torch.compile'd) model."""
    from peft import PeftModel

    model = getattr(model, "_orig_mod", model)
    if isinstance(model, PeftModel):
        return model.get_base_model()
    return model


def reference_context(model) -> AbstractContextManager:
    """Within it the model computes as its base (the adapter disabled): the KL reference."""
    from peft import PeftModel

    model = getattr(model, "_orig_mod", model)
    if not isinstance(model, PeftModel):
        raise ModelError("the model has no LoRA adapter, so there is no reference to disable it to")
    return model.disable_adapter()


def save_model(model, tokenizer, out, state_dict: dict | None = None) -> Path:
    """The adapter alone for a peft model (it records its base), the full model
    otherwise; the tokenizer beside either. `state_dict`: the full weights of a sharded
    model (train.fsdp), written in place of the model's own."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model = getattr(model, "_orig_mod", model)
    if _is_peft(model):
        # we never train embeddings; "auto" would look for a config.json at the base to
        # decide, and a chained base (an adapter dir) has none
        model.save_pretrained(str(out), save_embedding_layers=False)
    elif state_dict is not None:
        model.save_pretrained(str(out), state_dict=state_dict)
    else:
        model.save_pretrained(str(out))
    if tokenizer is not None:
        tokenizer.save_pretrained(str(out))
    return out


def merge_adapter(adapter_dir, out, base: str | None = None) -> Path:
    """Merge the adapter (and any chain below it) into its base and write a full model
    plus tokenizer that `from_pretrained` loads."""
    from peft import PeftModel

    adapter_dir = Path(adapter_dir).resolve()
    if not is_adapter_dir(adapter_dir):
        raise ModelError(f"adapter {adapter_dir}: no {ADAPTER_CONFIG} there")
    base_path = adapter_base(adapter_dir, base)
    merged = PeftModel.from_pretrained(
        load_full(base_path, dtype="auto"), str(adapter_dir)
    ).merge_and_unload()
    return save_model(merged, load_tokenizer(_with_tokenizer(adapter_dir, base_path)), out)
