"""train.grpo: a run writes its metrics, GRPO raises a toy reward, resume continues exactly,
dynamic sampling drops all-equal groups, micro-batches and --mask-truncated weigh tokens right."""

from __future__ import annotations

import json
import shutil

import pytest

torch = pytest.importorskip("torch")

from pydantic import ValidationError  # noqa: E402

import train.grpo as grpo  # noqa: E402
from datagen.config import ConfigError  # noqa: E402
from tests.conftest import query  # noqa: E402
from train.grpo import GRPOConfig, GRPOError, check_config, optimise, run_grpo  # noqa: E402
from train.grpo_batch import PromptSampler, collect_batch  # noqa: E402
from train.grpo_config import load_grpo_config  # noqa: E402

QUESTION = [{"role": "user", "content": "What is 2 + 3?"}]


@pytest.fixture(scope="module")
def sharp_model(tiny_model_dir, tmp_path_factory):
    """The tiny model with its matrices scaled up: a fresh model's next-token distribution is
    nearly uniform over the vocabulary, so no reward has variance to learn from; scaled, it is
    peaked, like a trained model's."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = tmp_path_factory.mktemp("sharp") / "model"
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() == 2:
                p.mul_(8.0)
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(tiny_model_dir).save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def one_prompt(tmp_path_factory):
    path = tmp_path_factory.mktemp("rows") / "rows.jsonl"
    path.write_text(json.dumps({"prompt": QUESTION, "reference": "5", "verifier": "math"}) + "\n")
    return path


@pytest.fixture(scope="module")
def target(sharp_model):
    """A first token the sharp model samples now and then (p nearest 0.3 within 0.02..0.6), and its p."""
    model, tok, ids = _policy(sharp_model)
    probs = _first_token_probs(model, ids)
    usable = [(abs(float(p) - 0.3), int(i), float(p)) for p, i in zip(*probs.topk(10))
              if 0.02 < p < 0.6 and tok.decode([int(i)]).strip()]  # fmt: skip
    if not usable:
        pytest.fail(f"no first token with a usable probability: {probs.topk(10)}")
    _, token, p = min(usable)
    return token, tok.decode([token]), p


def _policy(path, adapter=None):
    from train.data import encode_prompt
    from train.model import LoraSettings, load_model

    lora = None if adapter else LoraSettings(r=8, alpha=16, dropout=0.0)
    model, tok = load_model(path, lora=lora, adapter=adapter, trainable=adapter is None)
    return model, tok, encode_prompt(QUESTION, tok)


def _first_token_probs(model, ids):
    with torch.no_grad():
        return model(input_ids=torch.tensor([ids])).logits[0, -1].softmax(-1)


def starts_with(text: str):
    """Toy reward: 1 when the completion starts with `text`."""

    def reward(rows, texts, lengths):
        r = torch.tensor([1.0 if t.startswith(text) else 0.0 for t in texts])
        return r, {"starts": r}

    return reward


def alternating(rows, texts, lengths):
    """Toy reward: 0, 1, 0, 1 ... so every group has mixed rewards whatever is sampled."""
    r = torch.tensor([float(i % 2) for i in range(len(texts))])
    return r, {"toy": r}


def _cfg(model, data, out, **kw):
    base = dict(model=str(model), data=str(data), out=str(out), max_steps=2, prompts_per_step=2, group_size=4,
                max_new_tokens=8, lora_r=8, lora_alpha=16, save_every=100, sample_every=100)  # fmt: skip
    return GRPOConfig(**(base | kw))


def test_run_logs_every_metric_to_the_store(tiny_model_dir, workspace_exports, tmp_path):
    out, w = tmp_path / "run", tmp_path / "ws"
    # a copy: a run stored in the shared session workspace would show in other tests' copies
    shutil.copytree(workspace_exports.workspace, w, ignore=shutil.ignore_patterns("cotmill.lock"))
    summary = run_grpo(_cfg(tiny_model_dir, workspace_exports.rl, out, beta=0.1, iterations=2, sample_every=2,
                            reward_weights="verifier=1,format=0.1", workspace=str(w)))  # fmt: skip
    assert summary.steps == 2 and (out / "final" / "adapter_config.json").exists()
    sql = f"select name, step, value from metrics where run = (select run from runs where out = '{out}')"
    rows = query(w, sql)
    names = {r[0] for r in rows}
    for name in ("reward/verifier_mean", "reward/format_mean", "reward/total_std", "groups/zero_std_share",
                 "train/clip_low_frac", "train/clip_high_frac", "train/entropy", "train/kl",
                 "completion/length_mean", "completion/truncated_share", "time/step_s"):  # fmt: skip
        assert name in names, name
    assert {r[1] for r in rows} == {1, 2}
    entropy = [v for n, _, v in rows if n == "train/entropy"]
    assert all(0 < v < 10 for v in entropy)
    status = query(w, f"select kind, status from runs where out = '{out}'")
    assert status == [("grpo", "finished")]
    samples = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert [s["step"] for s in samples] == [1, 2] and "### completion 0" in samples[0]["text"]
    assert json.loads((out / "config.json").read_text())["beta"] == 0.1


def test_one_update_raises_the_rewarded_tokens_probability(sharp_model, target):
    from train.schedule import make_optimizer

    token, text, p0 = target
    model, tok, ids = _policy(sharp_model)
    cfg = _cfg(sharp_model, "-", "-", group_size=8, max_new_tokens=3, lr=1e-2)
    for seed in range(20):  # the first seed whose groups have mixed rewards (else there is nothing to learn)
        batch = collect_batch(model, tok, [{"prompt": QUESTION}], [ids], PromptSampler(1, 0), cfg,
                              starts_with(text), torch.Generator().manual_seed(seed))  # fmt: skip
        if 0 < float(batch.rewards.mean()) < 1:
            break
    assert 0 < float(batch.rewards.mean()) < 1, "the group needs mixed rewards"
    stats = optimise(model, None, make_optimizer(model, cfg.lr), batch, cfg)
    assert stats["grad_norm"] > 0
    assert float(_first_token_probs(model, ids)[token]) > p0 * 1.2


@pytest.mark.parametrize("loss", ["grpo", "dr_grpo", "dapo"])
def test_grpo_learns_a_toy_reward(sharp_model, one_prompt, target, tmp_path, loss):
    token, text, p0 = target
    out = tmp_path / "run"
    run_grpo(_cfg(sharp_model, one_prompt, out, max_steps=6, group_size=8, max_new_tokens=3, lr=1e-2, loss=loss,
                  scale_rewards="none" if loss == "dr_grpo" else "group"), reward_fn=starts_with(text))  # fmt: skip
    rewards = [
        json.loads(line)["reward/starts_mean"] for line in (out / "metrics.jsonl").read_text().splitlines()
    ]
    assert len(rewards) == 6
    assert sum(rewards[-3:]) / 3 > sum(rewards[:2]) / 2 + 0.3, rewards
    model, _, ids = _policy(sharp_model, adapter=out / "final")
    assert float(_first_token_probs(model, ids)[token]) > max(0.5, p0 + 0.3)


def test_resume_continues_exactly_and_refuses_zero_steps(tiny_model_dir, workspace_exports, tmp_path):
    from safetensors.torch import load_file

    out = tmp_path / "run"
    cfg = _cfg(tiny_model_dir, workspace_exports.rl, out, max_steps=2, save_every=1, lr=1e-2, iterations=2)
    run_grpo(cfg, reward_fn=alternating)
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-000001", "checkpoint-000002"]
    resume = cfg.model_copy(update={"resume": True})
    with pytest.raises(GRPOError, match="nothing to train: checkpoint at step 2, --max-steps 2"):
        run_grpo(resume, reward_fn=alternating)
    shutil.copytree(out / "final", tmp_path / "straight")
    shutil.rmtree(out / "checkpoint-000002")
    shutil.rmtree(out / "final")
    run_grpo(resume, reward_fn=alternating)
    a = load_file(tmp_path / "straight" / "adapter_model.safetensors")
    b = load_file(out / "final" / "adapter_model.safetensors")
    assert any(v.abs().sum() > 0 for k, v in a.items() if "lora_B" in k), "the adapter trained"
    assert a.keys() == b.keys() and all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
    logged = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in logged] == [1, 2, 2]  # the resumed run logs step 2 again, the same way
    assert logged[1]["completion/length_mean"] == logged[2]["completion/length_mean"]
    with pytest.raises(GRPOError, match="no checkpoint"):
        run_grpo(resume.model_copy(update={"out": str(tmp_path / "empty")}), reward_fn=alternating)


def _flat_or_mixed(rows, texts, lengths):
    """Rows marked flat get 1.0 for every completion; the others alternate 0/1 within a group."""
    r = torch.tensor([1.0 if row["flat"] else float(i % 2) for i, row in enumerate(rows)])
    return r, {"toy": r}


def _toy_batch(model, tok, cfg):
    rows = [{"prompt": QUESTION, "flat": False}] * 2
    return collect_batch(model, tok, rows, [[5, 6, 7], [8, 9, 10, 11]], PromptSampler(2, 0), cfg, _flat_or_mixed,
                         torch.Generator().manual_seed(1))  # fmt: skip


def _update(sharp_model, batch_rows, **settings):
    """Parameters after one optimise() step (plain SGD: Adam's first step is about lr * sign(grad),
    which rounding flips where grad ~ 0) on a fixed toy batch, and the stats."""
    torch.manual_seed(0)
    model, tok, _ = _policy(sharp_model)
    cfg = _cfg(sharp_model, "-", "-", max_new_tokens=6, lr=1e-2, max_grad_norm=0, **settings)  # no clipping
    batch = collect_batch(model, tok, batch_rows, [[5, 6, 7], [8, 9, 10, 11]], PromptSampler(2, 0), cfg,
                          _flat_or_mixed, torch.Generator().manual_seed(1))  # fmt: skip
    batch.rollouts.completion_mask[::3, 3:] = 0  # ragged lengths: token and sequence weights differ
    sgd = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1.0)
    before = [p.detach().clone() for p in model.parameters() if p.requires_grad]
    stats = optimise(model, None, sgd, batch, cfg)
    after = [p.detach().clone() for p in model.parameters() if p.requires_grad]
    assert any(not torch.equal(x, y) for x, y in zip(before, after))
    return [p.detach().clone() for p in model.parameters() if p.requires_grad], stats


def _same(a, b):
    """The same update up to float32 rounding, which the sharp model amplifies to ~1e-6 (a wrong
    weighting or a dropped row moves parameters by ~1e-1)."""
    (pa, sa), (pb, sb) = a, b
    assert all(torch.allclose(x, y, rtol=0, atol=1e-5) for x, y in zip(pa, pb))
    assert sa["loss"] == pytest.approx(sb["loss"], abs=1e-6)


@pytest.mark.parametrize("loss", ["grpo", "dr_grpo", "dapo"])
def test_micro_batches_and_skipped_zero_advantage_rows_give_the_same_update(sharp_model, loss, monkeypatch):
    mixed = [{"prompt": QUESTION, "flat": False}] * 2
    whole, micro = (_update(sharp_model, mixed, loss=loss, beta=0.05, micro_batch_size=m) for m in (0, 3))
    _same(whole, micro)
    assert whole[1]["entropy"] == pytest.approx(micro[1]["entropy"])
    # one group with equal rewards: without KL its rows are skipped, and the update is unchanged
    half = [{"prompt": QUESTION, "flat": True}, {"prompt": QUESTION, "flat": False}]
    skipped = _update(sharp_model, half, loss=loss, micro_batch_size=3)
    assert skipped[1]["trained_completions"] == 4
    monkeypatch.setattr(grpo, "_trained_rows", lambda adv, mask, cfg: torch.arange(adv.shape[0]))
    everything = _update(sharp_model, half, loss=loss)
    assert everything[1]["trained_completions"] == 8
    _same(skipped, everything)


def test_a_groups_prompt_runs_once_and_the_update_is_that_of_a_pass_per_row(sharp_model, monkeypatch):
    """The policy, old (mu 2) and reference (beta > 0) log-probs run each micro-batch's distinct
    prompts once (train.logprobs share_prompts); the update is the one a full pass per row gives.
    (With mu 2 the second step starts from parameters that differ by rounding, so updates are
    compared at mu 1.)"""
    import train.logprobs

    mixed = [{"prompt": QUESTION, "flat": False}] * 2
    settings = {"loss": "dapo", "beta": 0.05, "micro_batch_size": 3}  # micro-batches that span groups
    full_states, full_passes = train.logprobs._full_states, []
    monkeypatch.setattr(train.logprobs, "_full_states", lambda *a: full_passes.append(1) or full_states(*a))
    _update(sharp_model, mixed, **settings | {"iterations": 2})
    assert not full_passes  # every micro-batch held a repeated prompt: none ran the one pass
    shared = _update(sharp_model, mixed, **settings)
    scoring = train.logprobs.sequence_logprobs
    share_off = {"share_prompts": False}
    monkeypatch.setattr(train.logprobs, "sequence_logprobs", lambda *a, **kw: scoring(*a, **kw | share_off))
    plain = _update(sharp_model, mixed, **settings)
    assert full_passes
    _same(shared, plain)
    assert shared[1]["entropy"] == pytest.approx(plain[1]["entropy"])


def test_mask_truncated_takes_cut_off_completions_out_of_the_loss(sharp_model):
    from train.schedule import make_optimizer

    for masked in (True, False):
        model, tok, _ = _policy(sharp_model)
        cfg = _cfg(sharp_model, "-", "-", max_new_tokens=2, mask_truncated=masked, lr=1e-2)
        batch = _toy_batch(model, tok, cfg)
        assert all(batch.rollouts.truncated)
        before = [p.detach().clone() for p in model.parameters() if p.requires_grad]
        optimise(model, None, make_optimizer(model, cfg.lr), batch, cfg)
        after = [p for p in model.parameters() if p.requires_grad]
        assert all(torch.equal(x, y) for x, y in zip(before, after)) is masked


def test_full_model_with_kl_keeps_a_frozen_reference(tiny_model_dir, one_prompt, tmp_path):
    out = tmp_path / "full"
    run_grpo(_cfg(tiny_model_dir, one_prompt, out, max_steps=2, lora=False, beta=0.1, lr=1e-3),
             reward_fn=alternating)  # fmt: skip
    logged = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert logged[0]["train/kl"] == pytest.approx(0.0, abs=1e-7) and logged[1]["train/kl"] > 0
    assert (out / "final" / "model.safetensors").exists()


def test_a_run_that_trains_nothing_says_so(tiny_model_dir, one_prompt, tmp_path):
    """Every group's rewards equal (here all 0): no advantage, no update. The run says so once,
    names the likely causes, and its result counts the idle steps and trained completions."""

    def zero(rows, texts, lengths):
        r = torch.zeros(len(texts))
        return r, {"toy": r}

    said: list[str] = []
    result = run_grpo(_cfg(tiny_model_dir, one_prompt, tmp_path / "idle", max_steps=3), reward_fn=zero,
                      note=said.append)  # fmt: skip
    assert (result.steps, result.idle_steps, result.trained_completions) == (3, 3, 0)
    assert len(said) == 1 and said[0].startswith("step 1: no completion was trained")
    assert "--max-new-tokens" in said[0] and "too hard or too easy" in said[0]
    with pytest.warns(RuntimeWarning, match="no completion was trained"):  # the default: a Python warning
        run_grpo(_cfg(tiny_model_dir, one_prompt, tmp_path / "idle2", max_steps=1), reward_fn=zero)
    mixed = run_grpo(_cfg(tiny_model_dir, one_prompt, tmp_path / "mixed", max_steps=1), reward_fn=alternating,
                     note=said.append)  # fmt: skip
    assert mixed.idle_steps == 0 and mixed.trained_completions == 8 and len(said) == 1


def test_config_checks_and_yaml(tmp_path):
    cfg = GRPOConfig(model="m", data="d", out="o")
    assert check_config(cfg) == {"verifier": 1.0} and cfg.eps_high() == 0.28
    assert GRPOConfig(model="m", data="d", out="o", loss="grpo").eps_high() == 0.2
    assert "overlong" in check_config(GRPOConfig(model="m", data="d", out="o", overlong_buffer=16))
    # a bad setting is refused when the config is built, and the error names the field
    bad = {"group_size": 1, "loss": "ppo", "scale_rewards": "x", "max_steps": 0, "overlong_buffer": 10_000,
           "top_p": 1.5, "temperature": 0}  # fmt: skip
    for field, value in bad.items():
        with pytest.raises(ValidationError, match=field):
            GRPOConfig(model="m", data="d", out="o", **{field: value})
    # an unknown reward is refused as the config is built, named with the rewards known
    with pytest.raises(ValidationError, match="reward_weights(.|\n)*unknown reward 'speed'; known: verifier"):
        GRPOConfig(model="m", data="d", out="o", reward_weights="speed=1")
    with pytest.raises(GRPOError, match="overlong"):
        check_config(GRPOConfig(model="m", data="d", out="o", reward_weights="verifier=1,overlong=1"))
    spec = tmp_path / "grpo.yaml"
    spec.write_text("group-size: 4\nlr: 1\nepsilon_high: null\ndynamic_sampling: true\nmodel: a\n")
    cfg = load_grpo_config(spec, {"model": "b", "data": "d", "out": "o"})
    assert (cfg.group_size, cfg.lr, cfg.dynamic_sampling, cfg.model) == (4, 1.0, True, "b")
    spec.write_text("group_sise: 4\n")
    with pytest.raises(ConfigError, match=r"grpo.yaml: key 'group_sise': unknown key"):
        load_grpo_config(spec, {"model": "b", "data": "d", "out": "o"})
    with pytest.raises(ConfigError, match=r"command line: key 'data': Field required"):
        load_grpo_config(None, {"model": "b", "out": "o"})
    saved = tmp_path / "run"  # --resume with only --out: the run's saved settings, then the file, then flags
    saved.mkdir()
    (saved / "config.json").write_text(json.dumps({"model": "m0", "data": "d0", "out": str(saved), "group_size": 6,
                                                   "lr": 0.5, "max_steps": 2, "no_lora": True}))  # fmt: skip
    spec.write_text("lr: 0.25\n")
    cfg = load_grpo_config(spec, {"out": str(saved), "resume": True, "max_steps": 3})
    assert (cfg.model, cfg.group_size, cfg.lr, cfg.max_steps, cfg.resume) == ("m0", 6, 0.25, 3, True)
    assert cfg.lora is False  # a run saved before `lora` replaced `no_lora` resumes as it was
    assert load_grpo_config(None, {"out": str(saved), "resume": True, "lora": True}).lora is True
    spec.write_text("no_lora: true\n")  # the old key still reads in a YAML file
    assert load_grpo_config(spec, {"model": "b", "data": "d", "out": "o"}).lora is False
    spec.write_text("group_size: four\n")
    with pytest.raises(ConfigError, match="grpo.yaml: key 'group_size'"):
        load_grpo_config(spec, {"model": "b", "data": "d", "out": "o"})
