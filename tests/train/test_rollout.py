"""train.rollout: our KV-cache sampling loop against HF generate, seeded sampling, eos stops."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from train.rollout import generate, lora_merged, sample_next, vllm_available  # noqa: E402

MESSAGES = [
    [{"role": "user", "content": "What is 2 + 3?"}],
    [{"role": "user", "content": "Compute 17 * 23 and explain each step carefully."}],
    [{"role": "user", "content": "Is 91 prime?"}],
]


@pytest.fixture(scope="module")
def loaded(tiny_model_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    torch.manual_seed(0)
    with torch.no_grad():  # random weights at init scale give flat logits; sharper ones give varied text
        for p in model.parameters():
            p.mul_(8.0) if p.dim() == 2 else None
    prompts = [tok.apply_chat_template(m, add_generation_prompt=True, tokenize=True) for m in MESSAGES]
    prompts = [list(p["input_ids"]) if hasattr(p, "keys") else list(p) for p in prompts]
    assert len({len(p) for p in prompts}) > 1, "prompts of different lengths exercise the left padding"
    return model, tok, prompts


def hf_greedy(model, tok, prompts, max_new_tokens):
    tok.padding_side = "left"
    enc = tok.pad({"input_ids": prompts}, return_tensors="pt")
    with torch.no_grad():
        out = model.generate(
            **enc, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tok.pad_token_id
        )
    return out[:, enc["input_ids"].shape[1] :]


def test_greedy_equals_hf_generate(loaded):
    model, tok, prompts = loaded
    ours = generate(model, tok, prompts, max_new_tokens=24, temperature=0)
    ref = hf_greedy(model, tok, prompts, 24)
    for i in range(len(prompts)):
        n = ours.lengths[i]
        assert ours.completion_ids[i, :n].tolist() == ref[i, :n].tolist()
    assert len(set(ours.texts)) == len(prompts)
    # prompts come back left-padded, each row's tokens at the right
    for i, p in enumerate(prompts):
        assert ours.prompt_ids[i][ours.prompt_mask[i].bool()].tolist() == p
        assert ours.prompt_mask[i, -1] == 1


def test_peft_model_merged_sampling_matches_hf_and_restores_weights(loaded):
    from peft import LoraConfig, get_peft_model

    model, tok, prompts = loaded
    peft_model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules="all-linear"))
    try:
        with torch.no_grad():
            for name, p in peft_model.named_parameters():
                if "lora_B" in name:
                    p.normal_(std=0.05)  # a non-zero adapter, so merged and unmerged outputs could differ
        before = {n: p.detach().clone() for n, p in peft_model.named_parameters()}
        peft_model.train()
        ours = generate(peft_model, tok, prompts, max_new_tokens=16, temperature=0)
        assert peft_model.training, "generate restores train mode"
        assert all(torch.equal(before[n], p) for n, p in peft_model.named_parameters())
        peft_model.eval()
        ref = hf_greedy(peft_model, tok, prompts, 16)
        for i in range(len(prompts)):
            assert ours.completion_ids[i, : ours.lengths[i]].tolist() == ref[i, : ours.lengths[i]].tolist()
        with lora_merged(peft_model):
            assert any(layer.merged for layer in peft_model.modules() if hasattr(layer, "merged_adapters"))
        assert not any(getattr(layer, "merged_adapters", None) for layer in peft_model.modules())
    finally:
        peft_model.unload()  # the module fixture's model goes back to plain layers


def test_lean_decode_step_matches_the_hf_forward(loaded, monkeypatch):
    from peft import LoraConfig, get_peft_model

    import train.rollout as rollout
    from train.decode import lean_supported

    model, tok, prompts = loaded
    assert lean_supported(model), "the tiny Qwen2 model takes the lean path"

    def both(m):
        outs = []
        for lean in (True, False):
            monkeypatch.setattr(rollout, "lean_supported", lean_supported if lean else lambda _m: False)
            g = torch.Generator().manual_seed(3)
            outs.append(generate(m, tok, prompts, n=2, max_new_tokens=20, temperature=1.0, generator=g))
        return outs

    lean, hf = both(model)
    assert torch.equal(lean.completion_ids, hf.completion_ids) and lean.texts == hf.texts
    peft_model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules="all-linear"))
    try:
        with torch.no_grad():
            for name, p in peft_model.named_parameters():
                if "lora_B" in name:
                    p.normal_(std=0.05)
        assert not lean_supported(peft_model), "an unmerged adapter is not what the lean step computes"
        with lora_merged(peft_model):
            assert lean_supported(peft_model)
        lean, hf = both(peft_model)
        assert torch.equal(lean.completion_ids, hf.completion_ids)
    finally:
        peft_model.unload()


def test_sampling_is_reproducible_with_a_seeded_generator(loaded):
    model, tok, prompts = loaded

    def sample(seed):
        g = torch.Generator().manual_seed(seed)
        return generate(model, tok, prompts, n=4, max_new_tokens=12, temperature=1.0, generator=g)

    a, b, c = sample(1), sample(1), sample(2)
    assert torch.equal(a.completion_ids, b.completion_ids) and a.texts == b.texts
    # n copies share one prefill; the same rows given one by one sample the same
    rows = [p for p in prompts for _ in range(4)]
    flat = generate(
        model, tok, rows, n=1, max_new_tokens=12, temperature=1.0, generator=torch.Generator().manual_seed(1)
    )
    assert torch.equal(a.completion_ids, flat.completion_ids)
    assert not torch.equal(a.completion_ids, c.completion_ids)
    assert a.completion_ids.shape[0] == len(prompts) * 4
    # rows i*n .. i*n+n-1 share prompt i, and a group's samples differ from one another
    for i in range(len(prompts)):
        group = a.prompt_ids[i * 4 : i * 4 + 4]
        assert all(torch.equal(group[0], row) for row in group)
        assert len({tuple(r) for r in a.completion_ids[i * 4 : i * 4 + 4].tolist()}) > 1


def test_sampling_follows_the_tempered_and_nucleus_distribution():
    g = torch.Generator().manual_seed(0)
    logits = torch.tensor([[0.0, 1.0, 2.0, -1e9]]).repeat(40_000, 1)  # 40k draws of one distribution
    for temperature in (1.0, 0.5):
        freq = torch.bincount(sample_next(logits, temperature, 1.0, g), minlength=4) / 40_000
        assert torch.allclose(freq, (logits[0] / temperature).softmax(-1), atol=0.01)
    # top_p 0.7 of (0.665, 0.245, 0.090): the third token is cut, the first two renormalised
    freq = torch.bincount(sample_next(logits, 1.0, 0.7, g), minlength=4) / 40_000
    assert torch.allclose(freq, torch.tensor([0.0, 0.269, 0.731, 0.0]), atol=0.01)
    assert torch.equal(sample_next(logits[:2], 0.0, 1.0, g), torch.tensor([2, 2]))


def test_tiny_top_p_is_greedy_and_batch_size_does_not_change_results(loaded):
    model, tok, prompts = loaded
    greedy = generate(model, tok, prompts, max_new_tokens=10, temperature=0)
    nucleus = generate(model, tok, prompts, max_new_tokens=10, temperature=1.0, top_p=1e-6,
                       generator=torch.Generator().manual_seed(0))  # fmt: skip
    split = generate(model, tok, prompts, max_new_tokens=10, temperature=0, batch_size=1)
    assert torch.equal(greedy.completion_ids, nucleus.completion_ids)
    assert torch.equal(greedy.completion_ids, split.completion_ids)
    assert torch.equal(greedy.prompt_ids, split.prompt_ids)


def test_rows_stop_at_eos_and_truncation_is_flagged(loaded):
    model, tok, prompts = loaded
    free = generate(model, tok, prompts, max_new_tokens=12, temperature=0)
    assert all(free.truncated) and free.lengths == [12] * len(prompts)
    # make the token row 0 emits at step 3 an eos (through the generation config, as a model's config would)
    stop_token = int(free.completion_ids[0, 3])
    assert stop_token not in free.completion_ids[0, :3].tolist()
    saved = model.generation_config.eos_token_id
    model.generation_config.eos_token_id = [saved, stop_token]
    try:
        out = generate(model, tok, prompts, max_new_tokens=12, temperature=0)
    finally:
        model.generation_config.eos_token_id = saved
    assert out.lengths[0] == 4 and out.truncated[0] is False
    assert out.completion_ids[0, 3] == stop_token
    assert out.completion_mask[0].tolist()[:5] == [1, 1, 1, 1, 0]
    assert set(out.completion_ids[0, 4:].tolist()) <= {tok.pad_token_id}
    for i in range(1, len(prompts)):  # other rows run on unless they meet the same token
        hit = stop_token in free.completion_ids[i].tolist()
        assert out.truncated[i] is not hit
        assert out.lengths[i] == (free.completion_ids[i].tolist().index(stop_token) + 1 if hit else 12)
    assert out.completion_ids.shape[1] == max(out.lengths)
    assert out.texts[0] == tok.decode(free.completion_ids[0, :4], skip_special_tokens=True)


def test_stops_early_when_every_row_is_done(loaded):
    model, tok, prompts = loaded
    free = generate(model, tok, prompts[:1], n=2, max_new_tokens=4, temperature=0)
    saved = model.generation_config.eos_token_id
    model.generation_config.eos_token_id = [saved, int(free.completion_ids[0, 0])]
    try:
        out = generate(model, tok, prompts[:1], n=2, max_new_tokens=200, temperature=0)
    finally:
        model.generation_config.eos_token_id = saved
    assert out.lengths == [1, 1] and out.completion_ids.shape == (2, 1) and not any(out.truncated)


@pytest.mark.gpu
def test_vllm_rollouts_serve_the_current_adapter(tiny_model_dir):
    if not vllm_available():
        pytest.skip("vllm is not installed")
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from train.rollout import VLLMRollouts

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_model_dir).cuda(),
                           LoraConfig(r=8, target_modules="all-linear"))  # fmt: skip
    engine = VLLMRollouts(tiny_model_dir, max_lora_rank=8)
    prompt = tok.apply_chat_template(MESSAGES[0], add_generation_prompt=True, tokenize=True)
    prompt = list(prompt["input_ids"]) if hasattr(prompt, "keys") else list(prompt)
    out = engine.generate(model, tok, [prompt], n=2, max_new_tokens=8, temperature=0)
    ours = generate(model, tok, [prompt], n=2, max_new_tokens=8, temperature=0)
    assert out.completion_ids.shape[0] == 2 and out.lengths == ours.lengths
    engine.close()
