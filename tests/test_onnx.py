"""ONNX Runtime export, the check against PyTorch, and prediction with the checked model."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from conftest import CLASS_WORDS, class_rows, read_csv, write_csv
from test_cli import invoke
from textfit import Classifier, ConfigError, ModelError
from textfit.data.tasks import REGRESSION
from textfit.inference.onnx import OnnxCheck, OnnxClassifier, check_model, export_onnx, format_check_table

TEXTS = [row["text"] for row in class_rows(CLASS_WORDS, 6, start=40)]


@pytest.fixture(scope="module")
def exported_run(tiny_run_dir: Path, binary_test_csv: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("onnx") / "run"
    shutil.copytree(tiny_run_dir, run_dir)
    export_onnx(run_dir, binary_test_csv, int8=True)
    return run_dir


def test_int8_export_leaves_the_root_logger_s_level_as_it_was(
    tiny_run_dir: Path, binary_test_csv: Path, tmp_path: Path
) -> None:
    # quantize_dynamic's advice is silenced through the root logger; a level left at ERROR hid the
    # warnings of every later test in the process (test_hostile's --drop-invalid cases after this file).
    run_dir = tmp_path / "run"
    shutil.copytree(tiny_run_dir, run_dir)
    root = logging.getLogger()
    saved = root.level
    root.setLevel(logging.INFO)
    try:
        export_onnx(run_dir, binary_test_csv, int8=True)
        assert root.level == logging.INFO
    finally:
        root.setLevel(saved)


def test_export_writes_both_models_and_the_check(exported_run: Path, binary_test_csv: Path) -> None:
    report = json.loads((exported_run / "onnx" / "check.json").read_text(encoding="utf-8"))

    files = {check["model"]: check["file"] for check in report["checks"]}
    chosen = "int8" if next(c for c in report["checks"] if c["model"] == "int8")["passed"] else "fp32"
    assert files[chosen] == "model.onnx"  # the model OnnxClassifier takes: the one optimum loads
    assert sorted(p.name for p in (exported_run / "onnx").iterdir()) == sorted(
        ["check.json", "config.json", "tokenizer.json", "tokenizer_config.json", *files.values()]
    )
    assert set(files.values()) in ({"model.onnx", "model.fp32.onnx"}, {"model.onnx", "model.int8.onnx"})
    assert not (exported_run / "onnx.partial").exists()
    assert report["check_file"] == str(binary_test_csv)
    assert report["texts"] == 16
    fp32 = next(check for check in report["checks"] if check["model"] == "fp32")
    assert fp32["agreement"] == 1.0
    assert fp32["max_difference"] < 1e-4
    assert fp32["metric"] == "f1_macro"
    assert fp32["score"] == fp32["score_pytorch"]
    assert fp32["passed"] is True


def test_onnx_fp32_predicts_what_pytorch_fp32_predicts(exported_run: Path) -> None:
    from textfit.inference.onnx import _session

    reference = Classifier.load(exported_run, precision="fp32")
    report = json.loads((exported_run / "onnx" / "check.json").read_text(encoding="utf-8"))
    fp32 = next(check["file"] for check in report["checks"] if check["model"] == "fp32")
    session = _session(exported_run / "onnx" / fp32)
    onnx = OnnxClassifier(session, reference.model.config, reference.tokenizer, 4, "fp32")

    np.testing.assert_allclose(onnx.predict_proba(TEXTS), reference.predict_proba(TEXTS), atol=1e-5)
    assert onnx.labels == reference.labels
    assert onnx.columns == reference.columns


def test_load_takes_the_int8_model_only_if_it_passed(exported_run: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    shutil.copytree(exported_run, run_dir)
    check_file = run_dir / "onnx" / "check.json"
    report = json.loads(check_file.read_text(encoding="utf-8"))
    for check in report["checks"]:
        check["passed"] = check["model"] == "fp32"
    check_file.write_text(json.dumps(report), encoding="utf-8")

    assert OnnxClassifier.load(run_dir).precision == "fp32"
    for check in report["checks"]:
        check["passed"] = True
    check_file.write_text(json.dumps(report), encoding="utf-8")
    assert OnnxClassifier.load(run_dir).precision == "int8"
    for check in report["checks"]:
        check["passed"] = False
    check_file.write_text(json.dumps(report), encoding="utf-8")
    with pytest.raises(ModelError, match=r"no ONNX model .* agreed with PyTorch within the bounds"):
        OnnxClassifier.load(run_dir)


def test_the_export_folder_is_laid_out_as_optimum_loads_it(exported_run: Path) -> None:
    from transformers import AutoTokenizer

    from textfit.inference.onnx import _session

    folder = exported_run / "onnx"
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    run_config = json.loads((exported_run / "model" / "config.json").read_text(encoding="utf-8"))
    assert (config["id2label"], config["label2id"]) == (run_config["id2label"], run_config["label2id"])
    tokenizer = AutoTokenizer.from_pretrained(folder)
    encoded = tokenizer(TEXTS, padding=True, return_tensors="np")
    assert (
        encoded["input_ids"].tolist()
        == AutoTokenizer.from_pretrained(exported_run / "model")(TEXTS, padding=True, return_tensors="np")[
            "input_ids"
        ].tolist()
    )
    session = _session(folder / "model.onnx")
    inputs = {i.name: encoded[i.name].astype(np.int64) for i in session.get_inputs()}
    [logits] = session.run(["logits"], inputs)
    assert logits.shape == (len(TEXTS), len(config["id2label"]))
    loaded = OnnxClassifier.load(exported_run)  # it takes model.onnx
    np.testing.assert_allclose(loaded.predict_proba(TEXTS), _softmax(logits), atol=1e-5)
    try:
        from optimum.onnxruntime import ORTModelForSequenceClassification
    except ImportError:
        return  # optimum is no dependency: the layout above is what it reads
    model = ORTModelForSequenceClassification.from_pretrained(folder)
    np.testing.assert_allclose(
        model(**tokenizer(TEXTS, padding=True, return_tensors="pt")).logits, logits, atol=1e-5
    )


def _softmax(logits: np.ndarray) -> np.ndarray:
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


def test_an_int8_model_that_failed_its_check_is_not_named_model_onnx(tmp_path: Path) -> None:
    from textfit.inference.onnx_folder import arrange_models

    for name in ("model.onnx", "model.int8.onnx"):
        (tmp_path / name).write_bytes(name.encode())

    assert arrange_models(tmp_path, ["fp32"]) == {"int8": "model.int8.onnx", "fp32": "model.onnx"}
    assert (tmp_path / "model.onnx").read_bytes() == b"model.onnx"
    assert arrange_models(tmp_path, ["fp32", "int8"]) == {"int8": "model.onnx", "fp32": "model.fp32.onnx"}
    assert (tmp_path / "model.onnx").read_bytes() == b"model.int8.onnx"
    assert (tmp_path / "model.fp32.onnx").read_bytes() == b"model.onnx"


def test_load_without_an_export_says_how_to_make_one(tiny_run_dir: Path) -> None:
    with pytest.raises(ModelError, match="has no checked ONNX export") as caught:
        OnnxClassifier.load(tiny_run_dir)
    assert caught.value.hint == f"textfit export {tiny_run_dir} --format onnx --check test.csv"


def test_check_model_bounds() -> None:
    pytorch = np.array([[0.9, 0.1]] * 99 + [[0.6, 0.4]], dtype=np.float32)
    one_flip = pytorch.copy()
    one_flip[-1] = [0.4, 0.6]
    two_flips = one_flip.copy()
    two_flips[0] = [0.4, 0.6]

    assert check_model("int8", pytorch, one_flip, None, ["a", "b"]).passed  # 99% agree
    assert not check_model("int8", pytorch, two_flips, None, ["a", "b"]).passed  # 98%
    labels = [0] * 99 + [0]  # the flip is an error: macro-F1 falls
    checked = check_model("int8", pytorch, one_flip, labels, ["a", "b"])
    assert checked.score is not None
    assert checked.score_pytorch is not None
    assert checked.score < checked.score_pytorch - 0.005
    assert not checked.passed


def test_unlabelled_check_file_checks_agreement_only(tiny_run_dir: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    shutil.copytree(tiny_run_dir, run_dir)
    texts = write_csv(tmp_path / "texts.csv", [{"text": text} for text in TEXTS])

    (fp32,) = export_onnx(run_dir, texts, int8=False)

    assert (fp32.model, fp32.score, fp32.passed) == ("fp32", None, True)


def test_cli_export_and_predict_with_onnx(exported_run: Path, binary_test_csv: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    shutil.copytree(exported_run, run_dir)
    shutil.rmtree(run_dir / "onnx")

    exported = invoke(
        "export", run_dir, "--format", "onnx", "--check", binary_test_csv, "--quantize", "none", "-q"
    )
    predicted = invoke(
        "predict", run_dir, binary_test_csv, "--backend", "onnx", "-o", tmp_path / "p.csv", "-q"
    )
    torch_side = invoke(
        "predict", run_dir, binary_test_csv, "-o", tmp_path / "t.csv", "--precision", "fp32", "-q"
    )

    assert exported.exit_code == 0, exported.stderr
    assert "| fp32 | 100.00% |" in exported.stdout
    assert predicted.exit_code == 0, predicted.stderr
    assert torch_side.exit_code == 0, torch_side.stderr
    onnx_rows, torch_rows = read_csv(tmp_path / "p.csv"), read_csv(tmp_path / "t.csv")
    assert [r["predicted_label"] for r in onnx_rows] == [r["predicted_label"] for r in torch_rows]


def test_cli_rejects_an_unknown_backend(tiny_run_dir: Path, binary_test_csv: Path) -> None:
    result = invoke("predict", tiny_run_dir, binary_test_csv, "--backend", "tensorrt")

    assert result.exit_code == 2
    assert "Invalid value for '--backend'" in result.stderr
    assert "'tensorrt' is not one of 'torch', 'onnx'" in result.stderr


def test_cli_export_checks_on_the_runs_test_file_by_default(exported_run: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    shutil.copytree(exported_run, run_dir)

    result = invoke("export", run_dir, "--quantize", "int8", "-q")

    test_file = yaml.safe_load((run_dir / "run_config.yaml").read_text(encoding="utf-8"))["data"]["test_file"]
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith(
        f"checked on {test_file} against PyTorch fp32 (bounds: labels agree on >= 99%"
    )
    assert "| int8 | " in result.stdout
    assert "| fp32 | 100.00% |" in result.stdout
    assert f"next: textfit serve {run_dir} --backend onnx" in result.stdout


def test_cli_export_fails_when_a_model_is_outside_the_bounds(
    exported_run: Path, binary_test_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import textfit.inference.onnx

    run_dir = tmp_path / "run"
    shutil.copytree(exported_run, run_dir)
    monkeypatch.setattr(textfit.inference.onnx, "MIN_AGREEMENT", 1.01)  # no model can reach it

    result = invoke("export", run_dir, "--check", binary_test_csv, "--quantize", "none", "-q")

    assert result.exit_code == 1
    assert "| fp32 | 100.00% |" in result.stdout
    assert "| no |" in result.stdout
    assert result.stderr.splitlines() == [
        f"error: the fp32 export disagrees with PyTorch beyond the bounds; it is not used "
        f"(figures in {run_dir / 'onnx' / 'check.json'})",
        "hint: predict and serve with PyTorch (the default backend)",
    ]


def test_cli_export_usage_errors(tiny_run_dir: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    shutil.copytree(tiny_run_dir, run_dir)
    (run_dir / "run_config.yaml").write_text("data: {}\n", encoding="utf-8")

    tflite = invoke("export", run_dir, "--format", "tflite")
    int4 = invoke("export", run_dir, "--quantize", "int4")
    unchecked = invoke("export", run_dir)

    assert tflite.exit_code == int4.exit_code == 2
    assert "Invalid value for '--format'" in tflite.stderr
    assert "'tflite' is not one of 'onnx'" in tflite.stderr
    assert "Invalid value for '--quantize'" in int4.stderr
    assert "'int4' is not one of 'auto', 'int8', 'none'" in int4.stderr
    assert unchecked.exit_code == 1
    assert unchecked.stdout == ""
    assert unchecked.stderr.splitlines() == [
        f"error: no check file given, and {run_dir} names no test or validation file that exists",
        "hint: pass --check test.csv: a table of texts (with labels, for the F1 bound too)",
    ]
    assert not (run_dir / "onnx").exists()


def test_cli_serve_with_onnx_needs_an_export(tiny_run_dir: Path) -> None:
    result = invoke("serve", tiny_run_dir, "--backend", "onnx")

    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"error: {tiny_run_dir} has no checked ONNX export "
        f"({tiny_run_dir / 'onnx' / 'check.json'} is missing)",
        f"hint: textfit export {tiny_run_dir} --format onnx --check test.csv",
    ]


def test_a_change_that_rounds_to_nothing_shows_as_plus_zero() -> None:
    checks = [
        OnnxCheck("fp32", REGRESSION, 1.0, 2e-7, "rmse", 1.07991, 1.079912, passed=True),
        OnnxCheck("int8", REGRESSION, 0.99, 0.01, "rmse", 1.0812, 1.0799, passed=True),
    ]

    rows = format_check_table(checks)

    assert rows[2].endswith("| 1.0799 | 1.0799 | +0.0000 | yes |")
    assert rows[3].endswith("| 1.0812 | 1.0799 | +0.0013 | yes |")


def test_export_never_replaces_an_onnx_folder_holding_other_files(
    tiny_run_dir: Path, binary_test_csv: Path, tmp_path: Path
) -> None:
    # Issue 18, item 1: export replaced RUN/onnx whatever it held, the check file too.
    run_dir = Path(shutil.copytree(tiny_run_dir, tmp_path / "run"))
    onnx_dir = run_dir / "onnx"
    onnx_dir.mkdir()
    check_file = Path(shutil.copy(binary_test_csv, onnx_dir / "check.csv"))

    with pytest.raises(ConfigError) as err:
        export_onnx(run_dir, check_file)
    assert err.value.message == (
        f"{onnx_dir} holds {check_file}, which this command reads: textfit never replaces it"
    )
    assert err.value.hint == f"move {check_file} out of the run's onnx folder"

    (onnx_dir / "notes.md").write_text("int8 was slower on the old server\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        export_onnx(run_dir, binary_test_csv)
    assert err.value.message == (
        f"{onnx_dir} cannot be replaced: it holds files textfit did not write: 'check.csv', 'notes.md'"
    )
    assert err.value.hint == f"move those files out of {onnx_dir}, then export again"
    assert sorted(p.name for p in onnx_dir.iterdir()) == ["check.csv", "notes.md"]
    assert not (run_dir / "onnx.partial").exists()
