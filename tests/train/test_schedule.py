"""train.schedule: warmup + cosine and the optimizer over trainable parameters."""

from __future__ import annotations

import math

import pytest
import torch

from train.schedule import lr_factor, make_optimizer, make_scheduler, warmup_steps_for


def _lrs(warmup: int, total: int, min_ratio: float = 0.0, lr: float = 1.0) -> list[float]:
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)
    sched = make_scheduler(opt, warmup, total, min_ratio)
    out = []
    for _ in range(total):
        out.append(sched.get_last_lr()[0])
        opt.step()
        sched.step()
    return out


def test_warmup_is_linear_then_cosine_decays():
    lrs = _lrs(warmup=4, total=20, lr=2.0)
    assert lrs[:4] == pytest.approx([0.5, 1.0, 1.5, 2.0])  # no step is wasted at lr 0
    assert lrs[4] == pytest.approx(2.0)
    decay = lrs[4:]
    assert all(a > b for a, b in zip(decay, decay[1:]))
    mid = 4 + (20 - 4) // 2
    assert lrs[mid] == pytest.approx(1.0)  # half way through the cosine: half the peak
    assert 0 < lrs[-1] < 0.05


def test_min_lr_ratio_is_the_floor():
    assert lr_factor(100, 0, 10, min_lr_ratio=0.1) == pytest.approx(0.1)
    assert lr_factor(5, 0, 10, min_lr_ratio=0.1) == pytest.approx(0.1 + 0.9 * 0.5)
    lrs = _lrs(warmup=0, total=10, min_ratio=0.2)
    assert lrs[0] == pytest.approx(1.0) and min(lrs) > 0.2


def test_scheduler_state_resumes():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = make_scheduler(opt, 2, 10)
    for _ in range(5):
        opt.step()
        sched.step()
    again = make_scheduler(torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0), 2, 10)
    again.load_state_dict(sched.state_dict())
    assert again.get_last_lr() == sched.get_last_lr()
    assert again.get_last_lr()[0] == pytest.approx(lr_factor(5, 2, 10))


def test_bad_schedules_are_refused():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    with pytest.raises(ValueError, match="total_steps 0"):
        make_scheduler(opt, 0, 0)
    with pytest.raises(ValueError, match="min_lr_ratio"):
        make_scheduler(opt, 0, 5, min_lr_ratio=2.0)


def test_warmup_steps_for():
    assert warmup_steps_for(100, None, 0.03) == 3
    assert warmup_steps_for(10, None, 0.03) == 1
    assert warmup_steps_for(10, 0, 0.5) == 0
    assert warmup_steps_for(10, 50, 0.0) == 10


def test_optimizer_takes_trainable_params_and_spares_biases_from_decay():
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.LayerNorm(4), torch.nn.Linear(4, 2))
    model[2].requires_grad_(False)
    opt = make_optimizer(model, lr=1e-3, weight_decay=0.1)
    decayed, spared = opt.param_groups
    assert [p.shape for p in decayed["params"]] == [torch.Size([4, 4])]
    assert decayed["weight_decay"] == 0.1 and spared["weight_decay"] == 0.0
    assert len(spared["params"]) == 3  # linear bias, norm weight and bias
    ids = {id(p) for g in opt.param_groups for p in g["params"]}
    assert not ids & {id(p) for p in model[2].parameters()}
    before = model[0].weight.detach().clone()
    model(torch.randn(3, 4)).sum().backward()
    opt.step()
    assert not torch.equal(before, model[0].weight)
    assert math.isclose(opt.param_groups[0]["lr"], 1e-3)


def test_optimizer_needs_something_to_train():
    model = torch.nn.Linear(2, 2).requires_grad_(False)
    with pytest.raises(ValueError, match="no trainable parameters"):
        make_optimizer(model, lr=1e-3)
