"""`cotmill train sft`: one real run in a subprocess (train, store metrics, summary), then
resume and config errors in-process."""

from __future__ import annotations

import json
import shutil

from click.testing import CliRunner

from cotmill.cli import main
from tests.conftest import query, run_cli


def test_sft_trains_stores_metrics_and_refuses_an_empty_resume(tiny_model_dir, workspace_exports, tmp_path):  # noqa: F811
    ws = tmp_path / "ws"
    shutil.copytree(workspace_exports.workspace, ws, ignore=shutil.ignore_patterns("cotmill.lock"))
    out = tmp_path / "run"
    args = ["train", "sft", "--model", str(tiny_model_dir), "--data", str(workspace_exports.sft), "--out", str(out),
            "--max-steps", "2", "--batch-size", "2", "--max-length", "128", "--log-every", "1",
            "--eval-samples", "1", "--eval-max-new-tokens", "4", "--workspace", str(ws), "--run", "cli-sft"]  # fmt: skip
    done = run_cli(*args, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "run cli-sft: 2 steps, train loss" in done.stdout
    assert f"final: {out / 'final'}" in done.stdout
    assert (out / "final" / "adapter_config.json").exists()
    names = dict(query(ws, "SELECT name, count(*) FROM metrics WHERE run = 'cli-sft' GROUP BY name"))
    assert names["train/loss"] == 2 and names["eval/loss"] == 1 and "eval/accuracy" in names
    status, config = query(ws, "SELECT status, config FROM runs WHERE run = 'cli-sft'")[0]
    assert status == "finished" and json.loads(config)["max_length"] == 128
    assert "data: mixture train-mix, format sft, " in done.stderr  # what the manifest says it trains on

    # --resume takes the run's saved settings; a finished run has nothing left to train
    again = CliRunner().invoke(main, ["train", "sft", "--out", str(out), "--resume"])
    assert again.exit_code != 0
    assert "error: nothing to train: checkpoint at step 2, --max-steps 2" in again.output
    assert again.exception is None or isinstance(again.exception, SystemExit)


def test_sft_config_errors_name_file_and_key(tiny_model_dir, workspace_exports, tmp_path):  # noqa: F811
    runner = CliRunner()
    bad = tmp_path / "sft.yaml"
    bad.write_text("model: m\ndata: d\nout: o\nlora-rank: 4\n")
    done = runner.invoke(main, ["train", "sft", "--config", str(bad)])
    assert done.exit_code != 0
    assert f"error: {bad}: key 'lora_rank': unknown key" in done.output
    missing = runner.invoke(main, ["train", "sft", "--model", "m", "--out", "o", "--batch-size", "0"])
    assert "key 'data': Field required" in missing.output and "key 'batch_size'" in missing.output
    absent = runner.invoke(main, ["train", "sft", "--model", str(tmp_path / "nope"), "--data", str(workspace_exports.sft),
                                  "--out", str(tmp_path / "o")])  # fmt: skip
    assert absent.exit_code != 0 and "no such directory" in absent.output
    assert isinstance(absent.exception, SystemExit)  # a clear message, not a traceback
    qlora = runner.invoke(main, ["train", "sft", "--model", str(tiny_model_dir), "--data", str(workspace_exports.sft),
                                 "--out", str(tmp_path / "q"), "--qlora", "--device", "cpu"])  # fmt: skip
    assert qlora.exit_code != 0 and "QLoRA needs a CUDA device" in qlora.output


def test_bad_models_and_data_are_one_line_errors(tiny_model_dir, workspace_exports, tmp_path):  # noqa: F811
    """Broken model directories and unusable exports end in one `error:` line naming the file."""

    def model(name, config=None, remove=()):
        path = tmp_path / name
        shutil.copytree(tiny_model_dir, path)
        if config:
            (path / "config.json").write_text(
                json.dumps({**json.loads((path / "config.json").read_text()), **config})
            )
        for file in remove:
            (path / file).unlink()
        return path

    truncated = model("truncated")
    weights = truncated / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    empty = tmp_path / "empty-export"  # made by another tool: no manifest
    empty.mkdir()
    (empty / "train.jsonl").write_text("")
    good, sft = tiny_model_dir, workspace_exports.sft
    cases = [
        (model("hidden", {"hidden_size": -1}), sft, "config.json: hidden_size is -1"),
        (model("vocab", {"vocab_size": 0}), sft, "config.json: vocab_size is 0"),
        (truncated, sft, "model.safetensors: cannot read the weights"),
        (model("notok", remove=["tokenizer.json", "tokenizer_config.json"]), sft, "notok: no tokenizer files"),
        (good, empty, f"{empty / 'train.jsonl'}: 0 rows; the export is empty"),
        (good, workspace_exports.rl, "an rl export of mixture train-mix; train sft needs an sft export"),
    ]  # fmt: skip
    for path, data, message in cases:
        args = ["train", "sft", "--model", str(path), "--data", str(data), "--out", str(tmp_path / "o"),
                "--max-steps", "1", "--device", "cpu"]  # fmt: skip
        done = CliRunner().invoke(main, args)
        assert done.exit_code == 1 and isinstance(done.exception, SystemExit), (message, done.output)
        errors = [line for line in done.output.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and message in errors[0], (message, done.output)
        assert done.output.rstrip().endswith(errors[0]), done.output  # the message is the whole of its line


def test_help_defaults_match_the_config():
    """--help states defaults without importing torch; they must be SFTConfig's."""
    import re

    from cotmill.cmd_sft import sft
    from train.sft import SFTConfig

    checked = 0
    for param in sft.params:
        found = re.search(r"\[default: ([^\]]+)\]", param.help or "")
        field = SFTConfig.model_fields.get(param.name)
        if not found or field is None:
            continue
        stated, default = found.group(1), field.default
        try:
            assert float(stated) == default, param.name
        except ValueError:
            if isinstance(default, str):
                assert stated == default, param.name
            else:
                continue
        checked += 1
    assert checked >= 20
