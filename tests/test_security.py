"""What a model folder, a run folder or the data may not make textfit do: unpickle weights, run a
model's own code, or write outside the run folder."""

from __future__ import annotations

import json
import re
import runpy
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

import textfit
from conftest import write_csv
from textfit.cli.main import app
from textfit.errors import ModelError
from textfit.evaluation import evaluate
from textfit.inference.classifier import Classifier
from textfit.inference.files import predict_file

PICKLE_HINT = (
    "pass --allow-pickle if you trust where the folder came from, or convert the weights to model.safetensors"
)
CODE_HINT = "pass --trust-remote-code if you trust whoever wrote that code, or pick another model"
runner = CliRunner()


def pickled_copy(model_dir: Path, target: Path) -> Path:
    """A copy of a model folder whose weights are a pickle (pytorch_model.bin) only."""
    shutil.copytree(model_dir, target)
    torch.save(load_file(target / "model.safetensors"), target / "pytorch_model.bin")
    (target / "model.safetensors").unlink()
    return target


# ---------------------------------------------------------------- pickled weights


def test_a_run_with_pickled_weights_only_is_refused(tiny_run_dir: Path, tmp_path: Path) -> None:
    folder = pickled_copy(tiny_run_dir / "model", tmp_path / "model")
    message = (
        f"{folder} has only pickled weights (pytorch_model.bin); textfit loads pickled weights only "
        "with --allow-pickle (unpickling can run code)"
    )
    with pytest.raises(ModelError, match=re.escape(message)) as caught:
        Classifier.load(tmp_path)
    assert caught.value.hint == PICKLE_HINT


def test_allow_pickle_loads_the_same_model(tiny_run_dir: Path, tmp_path: Path) -> None:
    pickled_copy(tiny_run_dir / "model", tmp_path / "model")
    texts = ["good great happy", "bad awful sad"]
    safe = Classifier.load(tiny_run_dir, precision="fp32").predict_proba(texts)
    unpickled = Classifier.load(tmp_path, precision="fp32", allow_pickle=True).predict_proba(texts)
    assert unpickled.ravel().tolist() == pytest.approx(safe.ravel().tolist(), abs=1e-6)


def test_predict_and_evaluate_cli_refuse_pickles_unless_allowed(
    tiny_run_dir: Path, binary_test_csv: Path, tmp_path: Path
) -> None:
    pickled_copy(tiny_run_dir / "model", tmp_path / "model")
    refused = runner.invoke(app, ["predict", str(tmp_path), "--text", "good great"])
    assert refused.exit_code == 1
    assert refused.stdout == ""
    assert "has only pickled weights (pytorch_model.bin)" in refused.stderr
    assert f"hint: {PICKLE_HINT}" in refused.stderr
    allowed = runner.invoke(app, ["predict", str(tmp_path), "--text", "good great", "--allow-pickle"])
    assert allowed.exit_code == 0, allowed.stderr
    assert allowed.stdout.startswith("positive\t")
    refused = runner.invoke(app, ["evaluate", str(tmp_path), str(binary_test_csv)])
    assert refused.exit_code == 1
    assert "has only pickled weights" in refused.stderr
    allowed = runner.invoke(
        app, ["evaluate", str(tmp_path), str(binary_test_csv), "--allow-pickle", "--json"]
    )
    assert allowed.exit_code == 0, allowed.stderr
    assert json.loads(allowed.stdout)["samples"] == 16


def test_train_from_pickled_weights_with_allow_pickle(
    tiny_settings: dict[str, Any], tiny_model_dir: Path, binary_csv: Path, tmp_path: Path
) -> None:
    folder = pickled_copy(tiny_model_dir, tmp_path / "pickled")
    settings = {**tiny_settings, "model": str(folder)}
    with pytest.raises(ModelError, match=re.escape("unless --allow-pickle is given")) as caught:
        textfit.train(train_file=binary_csv, output_dir=tmp_path / "refused", progress=False, **settings)
    assert caught.value.hint is not None
    assert caught.value.hint.startswith("pass --allow-pickle if you trust where the weights came from")
    result = textfit.train(
        train_file=binary_csv, output_dir=tmp_path / "run", progress=False, allow_pickle=True, **settings
    )
    assert result.metrics["validation"]["accuracy"] > 0.8  # it learnt from the unpickled weights
    assert (tmp_path / "run" / "model" / "model.safetensors").is_file()  # and saved safetensors


# ---------------------------------------------------------------- a model's own code


def evil_folder(model_dir: Path, target: Path, where: str) -> tuple[Path, Path]:
    """A copy of a model folder whose config (or tokenizer config) maps a class to a file of code
    that writes a marker file; returns the folder and the marker."""
    shutil.copytree(model_dir, target)
    marker = target.parent / "MARKER"
    (target / "evil.py").write_text(
        f"import pathlib\npathlib.Path({str(marker)!r}).write_text('the code ran')\n"
        "from transformers import BertForSequenceClassification, PreTrainedTokenizerFast\n"
        "class EvilModel(BertForSequenceClassification):\n    pass\n"
        "class EvilTokenizer(PreTrainedTokenizerFast):\n    pass\n",
        encoding="utf-8",
    )
    file_name, auto_map = {
        "model": ("config.json", {"AutoModelForSequenceClassification": "evil.EvilModel"}),
        "tokenizer": ("tokenizer_config.json", {"AutoTokenizer": [None, "evil.EvilTokenizer"]}),
    }[where]
    settings = json.loads((target / file_name).read_text(encoding="utf-8"))
    settings["auto_map"] = auto_map
    (target / file_name).write_text(json.dumps(settings), encoding="utf-8")
    return target, marker


def test_the_evil_code_would_write_its_marker(tiny_model_dir: Path, tmp_path: Path) -> None:
    folder, marker = evil_folder(tiny_model_dir, tmp_path / "evil", "model")
    runpy.run_path(str(folder / "evil.py"))
    assert marker.read_text(encoding="utf-8") == "the code ran"


@pytest.mark.parametrize(
    ("where", "found"),
    [
        ("model", "auto_map in config.json: AutoModelForSequenceClassification -> evil.EvilModel"),
        ("tokenizer", "auto_map in tokenizer_config.json: AutoTokenizer -> [None, 'evil.EvilTokenizer']"),
    ],
)
def test_training_from_a_folder_with_its_own_code_is_refused(
    tiny_settings: dict[str, Any],
    tiny_model_dir: Path,
    binary_csv: Path,
    tmp_path: Path,
    where: str,
    found: str,
) -> None:
    folder, marker = evil_folder(tiny_model_dir, tmp_path / "evil", where)
    message = (
        f"model {str(folder)!r} comes with its own Python code ({found}); textfit runs a model's code "
        "only with --trust-remote-code"
    )
    with pytest.raises(ModelError, match=re.escape(message)) as caught:
        textfit.train(
            train_file=binary_csv,
            output_dir=tmp_path / "run",
            progress=False,
            **{**tiny_settings, "model": str(folder)},
        )
    assert caught.value.hint == CODE_HINT
    assert not marker.exists()


def test_a_run_folder_with_its_own_code_is_refused(
    tiny_run_dir: Path, binary_test_csv: Path, tmp_path: Path
) -> None:
    _, marker = evil_folder(tiny_run_dir / "model", tmp_path / "run" / "model", "model")
    with pytest.raises(
        ModelError, match=re.escape("comes with its own Python code (auto_map in config.json")
    ):
        Classifier.load(tmp_path / "run")
    result = runner.invoke(app, ["evaluate", str(tmp_path / "run"), str(binary_test_csv)])
    assert result.exit_code == 1
    assert f"hint: {CODE_HINT}" in result.stderr
    assert "Traceback" not in result.stderr
    assert not marker.exists()


def test_a_hub_model_with_its_own_code_is_named_as_such() -> None:
    from textfit.modeling import _load_error

    err = ValueError(
        "The repository org/model contains custom code which must be executed to correctly load the "
        "model. Please pass the argument `trust_remote_code=True` to allow custom code to be run."
    )
    error = _load_error("org/model", err)
    assert error.message == (
        "model 'org/model' comes with its own Python code (the repository's Python files); textfit runs "
        "a model's code only with --trust-remote-code"
    )
    assert error.hint == CODE_HINT


# ---------------------------------------------------------------- nothing written outside the run folder


def files_under(folder: Path) -> set[Path]:
    return {path for path in folder.rglob("*") if path.is_file()}


def test_labels_and_file_names_from_data_write_nothing_outside_the_run(
    tiny_settings: dict[str, Any], tmp_path: Path
) -> None:
    hostile = ["../../evil", "/tmp/evil", "..\\evil"]
    words = ["good great", "bad awful", "song guitar"]
    rows = [{"text": f"{words[i % 3]} {n}", "label": hostile[i % 3]} for n, i in enumerate(range(36))]
    data = tmp_path / "data" / "deep"
    train_file = write_csv(data / "..train.csv", rows)
    test_file = write_csv(data / "-evil name.csv", rows[:9])
    run_dir = tmp_path / "work" / "runs" / "r"
    before = files_under(tmp_path)

    result = textfit.train(train_file=train_file, output_dir=run_dir, progress=False, **tiny_settings)
    assert set(result.metrics["validation"]["per_class"]) == set(hostile)
    report = evaluate(run_dir, data / ".." / "deep" / "-evil name.csv")
    predict_file(run_dir, str(test_file), str(run_dir / "predictions.csv"))

    assert report.output == run_dir / "eval--evil name.json"
    new = files_under(tmp_path) - before
    assert new, "the run wrote its files"
    outside = sorted(str(path) for path in new if run_dir not in path.parents)
    assert outside == []
    assert not Path("/tmp/evil").exists()
