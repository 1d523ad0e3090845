"""train: tiny-model builder, LoRA SFT and GRPO (arrives with its own issue)."""
