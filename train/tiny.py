"""Tiny Qwen2-architecture models with a tokenizer trained here, so the whole stack
runs offline and in tests through the same loading code as a real checkpoint.

What is simplified, and why:
- The tokenizer is Qwen2's pipeline (NFC, Qwen2's split regex, byte-level BPE) trained
  with `tokenizers` on a small corpus, so a vocabulary of a few thousand covers the text
  SFT will see. Qwen2's regex isolates every digit (`\\p{N}`), so numbers are read one
  digit at a time, as the arithmetic tasks need.
- The chat template is Qwen2's ChatML without the default system prompt (a tiny model
  has no use for twelve extra tokens per example); `<|im_end|>` ends a turn and is eos.
- Weights are random (the usual Qwen2 init): the model learns only from what we train.
"""

from __future__ import annotations

import random
from pathlib import Path

from train.model_check import ModelError

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
PAD, IM_START, EOS = SPECIAL_TOKENS

# Qwen2's chat template minus the default system prompt; {% generation %} marks the
# assistant turns so `return_assistant_tokens_mask=True` works too.
CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{%- if message['role'] == 'assistant' %}"
    "{{- '<|im_start|>assistant\\n' }}"
    "{%- generation %}{{- message['content'] + '<|im_end|>' }}{%- endgeneration %}"
    "{{- '\\n' }}"
    "{%- else %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)

# Qwen2's pre-tokenizer regex (transformers.models.qwen2.tokenization_qwen2)
PRETOKENIZE_REGEX = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|"""
    r"""\s*[\r\n]+|\s+(?!\S)|\s+"""
)

_COMMON = dict(hidden_act="silu", rms_norm_eps=1e-6, tie_word_embeddings=True, attention_dropout=0.0)
SIZES: dict[str, dict] = {
    # ~1M parameters with a 2k vocabulary: a test model that trains in seconds on a CPU
    "tiny": dict(
        hidden_size=128,
        intermediate_size=384,
        num_hidden_layers=4,
        num_attention_heads=4,
        num_key_value_heads=2,
        rope_theta=10000.0,
        **_COMMON,
    ),
    # ~20M: still a CPU model, big enough for the learning recipe to show a gain
    "small": dict(
        hidden_size=384,
        intermediate_size=2048,
        num_hidden_layers=6,
        num_attention_heads=6,
        num_key_value_heads=2,
        rope_theta=10000.0,
        **_COMMON,
    ),
    # Qwen2-0.5B's shape (random weights) for GPU benchmarks; its vocabulary is the real
    # model's size, larger than our tokenizer, so lm_head costs what it costs there
    "0.5b": dict(
        hidden_size=896,
        intermediate_size=4864,
        num_hidden_layers=24,
        num_attention_heads=14,
        num_key_value_heads=2,
        rope_theta=1000000.0,
        vocab_size=151936,
        **_COMMON,
    ),
}


def _strategy_texts() -> list[str]:
    """The fixed wording around every problem: strategies, answer formats, roles."""
    from datagen.prompts import ANSWER_FORMATS, STRATEGIES

    return [*STRATEGIES.values(), *ANSWER_FORMATS.values(), "system\nuser\nassistant\n"]


def builtin_corpus(n_per_task: int = 40, seed: int = 0) -> list[str]:
    """Prompts (rendered with the cot template) and builtin-teacher solutions of every
    registered task at difficulties 1-3, so the tokenizer covers what SFT will see."""
    from datagen.prompts import STRATEGIES, render_messages
    from datagen.tasks import TASKS, make_problem
    from datagen.teachers.builtin import solution_for
    from datagen.teachers.render import render_solution

    texts = _strategy_texts()
    for name, task in TASKS.items():
        for index in range(n_per_task):
            problem = make_problem(name, seed, index, difficulty=1 + index % 3)
            for message in render_messages(STRATEGIES["cot"], problem.prompt, task.domain):
                texts.append(message["content"])
            solution, _ = solution_for(problem)
            texts.append(render_solution(solution, "cot", task.domain, random.Random(f"{seed}:{index}")))
    return texts


def workspace_corpus(workspace, limit: int = 20000) -> list[str]:
    """Problem prompts and completion texts of a workspace (read-only), up to `limit` each."""
    from datagen.store import Store

    store = Store.open(workspace, read_only=True)
    try:
        prompts = store.con.execute("SELECT prompt FROM problems LIMIT ?", [limit]).fetchall()
        texts = store.con.execute(
            "SELECT text FROM completions WHERE text IS NOT NULL LIMIT ?", [limit]
        ).fetchall()
    finally:
        store.close()
    return _strategy_texts() + [row[0] for row in prompts + texts if row[0]]


def train_tokenizer(corpus: list[str], vocab_size: int = 2048):
    """A byte-level BPE tokenizer with Qwen2's pre-tokenization, wrapped for transformers."""
    from tokenizers import Regex, Tokenizer, decoders, normalizers, pre_tokenizers, trainers
    from tokenizers.models import BPE
    from transformers import PreTrainedTokenizerFast

    if vocab_size < 256 + len(SPECIAL_TOKENS):
        raise ModelError(f"vocab_size must be at least {256 + len(SPECIAL_TOKENS)} (bytes + specials)")
    tok = Tokenizer(BPE(unk_token=None, fuse_unk=False, byte_fallback=False))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),  # every byte encodes, seen or not
        min_frequency=2,
        show_progress=False,
    )
    tok.train_from_iterator(corpus, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token=EOS,
        pad_token=PAD,
        unk_token=None,
        bos_token=None,
        chat_template=CHAT_TEMPLATE,
        model_max_length=32768,
        clean_up_tokenization_spaces=False,
    )


def build_tiny(
    out,
    size: str = "tiny",
    corpus: list[str] | None = None,
    vocab_size: int = 2048,
    seed: int = 0,
    max_position: int = 2048,
) -> Path:
    """Train a tokenizer, build a randomly initialised Qwen2 model of `size`, and save both
    in Hugging Face format under `out`. Returns `out`."""
    import torch
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    if size not in SIZES:
        raise ModelError(f"unknown size {size!r}; known sizes: {', '.join(SIZES)}")
    if corpus is None:
        corpus = builtin_corpus(seed=seed)
    tokenizer = train_tokenizer(corpus, vocab_size)
    shape = dict(SIZES[size])
    pad_id, eos_id = tokenizer.convert_tokens_to_ids([PAD, EOS])
    config = Qwen2Config(
        vocab_size=shape.pop("vocab_size", len(tokenizer)),
        max_position_embeddings=max_position,
        bos_token_id=pad_id,  # as Qwen2: no bos is prepended; <|endoftext|> stands in
        eos_token_id=eos_id,
        pad_token_id=pad_id,
        use_cache=True,
        **shape,
    )
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(config)
    model.generation_config = GenerationConfig(bos_token_id=pad_id, eos_token_id=eos_id, pad_token_id=pad_id)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # no "Writing model shards" bar inside our own output
    model.save_pretrained(out)
    # AutoTokenizer loads this as Qwen2Tokenizer (from config.json's model_type), which
    # rebuilds the same pipeline around tokenizer.json's vocabulary, as a real Qwen2 does
    tokenizer.save_pretrained(out)
    return out
