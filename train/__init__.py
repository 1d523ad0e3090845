"""train: tiny-model builder, model loading and LoRA, SFT, GRPO, evaluation and the `hf:` teacher."""
