"""train(): the run folder it writes, what a tiny model learns, settings, and the errors raised."""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from safetensors.torch import load_file
from transformers import AutoModelForSequenceClassification, AutoTokenizer, TrainerCallback

import textfit
from conftest import CLASS_WORDS, FILLER_WORDS, class_rows, pair_rows, read_csv, write_csv
from textfit import ConfigError, DataError, ModelError, TrainResult, load_config
from textfit.checks.labels import few_examples_advice
from textfit.config.schema import DataConfig, ModelConfig
from textfit.data.rows import read_examples
from textfit.inference.classifier import Classifier
from textfit.modeling import load_tokenizer, pick_precision
from textfit.tokenization import tokenize_examples
from textfit.training.trainer import length_bucket_order

PRESET_HINT = "pass a local model folder with --model PATH, or one of the presets: minilm, mpnet"


def quick(tiny_settings: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """The tiny settings for a run whose learning is not under test: one epoch."""
    return {**tiny_settings, "epochs": 1, **changes}


# ---------------------------------------------------------------- the run folder


def test_run_folder_holds_model_tokenizer_config_metrics_and_card(tiny_run: TrainResult) -> None:
    run_dir = Path(tiny_run.run_dir)
    model_dir = run_dir / "model"

    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    assert config["id2label"] == {"0": "negative", "1": "positive"}
    assert config["label2id"] == {"negative": 0, "positive": 1}
    assert (model_dir / "model.safetensors").is_file()
    assert not list(run_dir.rglob("*.bin")), "no pickled weights or training_args.bin"
    assert (model_dir / "tokenizer.json").is_file()
    assert (model_dir / "tokenizer_config.json").is_file()
    assert (run_dir / "run_config.yaml").is_file()
    assert not (run_dir / "checkpoints").exists()
    assert sorted(p.name for p in run_dir.parent.iterdir()) == ["binary"], "no .partial / .old left"

    metrics = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
    assert metrics == json.loads(json.dumps(tiny_run.metrics))
    assert metrics["validation"]["labels"] == ["negative", "positive"]
    assert metrics["test"]["samples"] == 16
    assert metrics["train"]["precision"] == tiny_run.precision == "fp32"
    assert metrics["train"]["device"] == "cpu"

    card = (model_dir / "README.md").read_text(encoding="utf-8")
    assert card.startswith("---\n")
    front_matter = yaml.safe_load(card[4 : card.index("\n---\n", 4)])
    assert (front_matter["library_name"], front_matter["pipeline_tag"]) == (
        "transformers",
        "text-classification",
    )
    assert front_matter["model-index"][0]["results"][0]["dataset"]["split"] == "test"
    assert "- labels (2): `negative`, `positive`" in card
    assert f"| test | {metrics['test']['accuracy']:.4f} |" in card


def test_tiny_model_learns_the_two_class_task(tiny_run: TrainResult) -> None:
    test = tiny_run.metrics["test"]
    assert test["accuracy"] >= 0.9  # chance is 0.5; 16 held-out rows
    assert test["f1_macro"] >= 0.9
    assert tiny_run.metrics["validation"]["accuracy"] >= 0.8


def test_tiny_model_learns_three_classes(
    tiny_settings: dict[str, Any], topics_csv: Path, topics_test_csv: Path, tmp_path: Path
) -> None:
    result = textfit.train(
        train_file=topics_csv,
        test_file=topics_test_csv,
        output_dir=tmp_path / "topics",
        progress=False,
        **tiny_settings,
    )

    assert result.metrics["test"]["labels"] == ["food", "music", "sports"]
    assert result.metrics["test"]["accuracy"] >= 0.8  # chance is 0.33
    assert result.metrics["test"]["top_2_accuracy"] >= result.metrics["test"]["accuracy"]
    predictions = Classifier.load(result.run_dir).predict(["pizza soup", "drum song", "goal team"])
    assert [p.label for p in predictions] == ["food", "music", "sports"]


def test_integer_labels_keep_their_names_in_numeric_order(
    tiny_settings: dict[str, Any], tmp_path: Path
) -> None:
    # JSON Lines keeps the labels as numbers; 10 sorts after 2 (numerically, not as text).
    numbered = {"negative": 10, "positive": 2}
    rows = [{"text": row["text"], "label": numbered[row["label"]]} for row in class_rows(CLASS_WORDS, 24)]
    train_file = tmp_path / "numbers.jsonl"
    train_file.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")

    result = textfit.train(
        train_file=train_file, output_dir=tmp_path / "run", progress=False, **tiny_settings
    )

    config = json.loads((result.run_dir / "model" / "config.json").read_text(encoding="utf-8"))
    assert config["id2label"] == {"0": "2", "1": "10"}
    classifier = Classifier.load(result.run_dir)
    assert classifier.labels == ["2", "10"]
    assert [p.label for p in classifier.predict(["good great", "awful sad"])] == ["2", "10"]


# ---------------------------------------------------------------- sentence pairs


def test_sentence_pairs_are_tokenized_as_pairs_with_token_type_ids(
    tiny_model_dir: Path, pairs_csv: Path
) -> None:
    tokenizer = load_tokenizer(str(tiny_model_dir), ModelConfig(name=str(tiny_model_dir)))
    cfg = DataConfig(text_column="premise", text_pair_column="hypothesis")
    examples = read_examples(pairs_csv, cfg)

    paired = tokenize_examples(examples, tokenizer, max_length=16, label_ids=[0] * len(examples))
    single = tokenize_examples(read_examples(pairs_csv, DataConfig(text_column="premise")), tokenizer, 16)

    first = paired[0]
    assert first["input_ids"].count(tokenizer.sep_token_id) == 2
    assert 1 in first["token_type_ids"]
    assert first["token_type_ids"] == sorted(first["token_type_ids"]), "0s for the text, 1s for the pair"
    assert all(set(row) == {0} for row in single["token_type_ids"])
    assert paired["length"][0] == len(first["input_ids"])


def test_tiny_model_learns_a_task_only_the_second_text_carries(
    tiny_settings: dict[str, Any], pairs_csv: Path, pairs_test_csv: Path, tmp_path: Path
) -> None:
    result = textfit.train(
        train_file=pairs_csv,
        test_file=pairs_test_csv,
        text_column="premise",
        text_pair_column="hypothesis",
        output_dir=tmp_path / "pairs",
        progress=False,
        **tiny_settings,
    )

    # The first text alone gives chance, 0.5; over seeds 0-5 this reaches 0.81-1.0 (16 test pairs).
    assert result.metrics["test"]["accuracy"] >= 0.75
    assert "text pair `hypothesis`" in (result.run_dir / "model" / "README.md").read_text("utf-8")
    held_out = pair_rows(4, start=100)
    predictions = Classifier.load(result.run_dir).predict(
        [row["premise"] for row in held_out], [row["hypothesis"] for row in held_out]
    )
    right = sum(p.label == row["label"] for p, row in zip(predictions, held_out, strict=True))
    assert right >= 7, f"{right} of 8 held-out pairs"

    # evaluate and predict_file read the trained columns, second texts included, without flags.
    report = textfit.evaluate(result.run_dir, pairs_test_csv)
    assert report.metrics["accuracy"] == pytest.approx(result.metrics["test"]["accuracy"])
    out = tmp_path / "predicted.csv"
    textfit.predict_file(result.run_dir, str(pairs_test_csv), str(out))
    predicted = [row["predicted_label"] for row in read_csv(out)]
    right = sum(p == row["label"] for p, row in zip(predicted, read_csv(pairs_test_csv), strict=True))
    assert right == round(result.metrics["test"]["accuracy"] * len(predicted))

    # A pair model given single texts says what is missing instead of guessing.
    with pytest.raises(DataError, match="trained on sentence pairs") as caught:
        Classifier.load(result.run_dir).predict(["only one text"])
    assert "text_pairs=" in (caught.value.hint or "")
    singles = write_csv(tmp_path / "singles.csv", [{"premise": "x", "label": "good"}])
    with pytest.raises(
        DataError,
        match=re.escape(
            f"{singles}: the model was trained on sentence pairs (second text in column "
            "'hypothesis'), and this table has no column 'hypothesis'. Columns found: 'premise', 'label'"
        ),
    ) as caught:
        textfit.evaluate(result.run_dir, singles)
    assert caught.value.hint == "pass --text-pair-column with the column that holds the second texts"


# ---------------------------------------------------------------- settings and the run folder


def test_checkpoints_best_model_and_early_stopping_leave_a_clean_run(
    tiny_settings: dict[str, Any], binary_csv: Path, tmp_path: Path
) -> None:
    settings = {
        **tiny_settings,
        "epochs": 3,
        "save_strategy": "epoch",
        "load_best_model_at_end": True,
        "early_stopping_patience": 1,
    }

    result = textfit.train(train_file=binary_csv, output_dir=tmp_path / "run", progress=False, **settings)

    assert sorted(p.name for p in result.run_dir.iterdir()) == [
        "figures",
        "log_history.json",
        "metrics.json",
        "model",
        "predictions-validation.parquet",
        "report.html",
        "run_config.yaml",
        "textfit-run.json",
    ]
    history = json.loads((result.run_dir / "log_history.json").read_text(encoding="utf-8"))
    assert any("eval_f1_macro" in entry for entry in history)
    assert not list(result.run_dir.rglob("*.bin"))


def test_existing_run_folder_is_refused_without_overwrite_and_replaced_with_it(
    tiny_settings: dict[str, Any], binary_csv: Path, tmp_path: Path
) -> None:
    run_dir = tmp_path / "run"
    textfit.train(train_file=binary_csv, output_dir=run_dir, progress=False, **quick(tiny_settings))
    marker = json.loads((run_dir / "textfit-run.json").read_text(encoding="utf-8"))
    assert marker["textfit"] == textfit.__version__
    assert marker["kind"] == "train"

    with pytest.raises(ConfigError, match=re.escape(f"run folder {run_dir} already exists")) as err:
        textfit.train(train_file=binary_csv, output_dir=run_dir, **quick(tiny_settings, seed=7))
    assert err.value.hint == "pass --overwrite to replace it, or --output-dir to write somewhere else"
    assert load_config(run_dir / "run_config.yaml").train.seed == 0, "a refused run leaves the folder alone"

    seen_while_training: list[bool] = []

    class OldRunStillThere(TrainerCallback):
        def on_train_begin(self, *args: Any, **kwargs: Any) -> None:
            seen_while_training.append((run_dir / "model" / "model.safetensors").is_file())
            seen_while_training.append((tmp_path / "run.partial" / "textfit-run.json").is_file())

    result = textfit.train(
        train_file=binary_csv,
        output_dir=run_dir,
        overwrite=True,
        progress=False,
        callbacks=[OldRunStillThere()],
        **quick(tiny_settings, seed=7),
    )

    assert seen_while_training == [True, True], "the old run stays until the new one is complete"
    assert result.run_dir == run_dir
    assert load_config(run_dir / "run_config.yaml").train.seed == 7
    assert (run_dir / "model" / "model.safetensors").is_file()
    assert (run_dir / "textfit-run.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"], "no .partial / .old left"


def test_overwrite_keeps_the_old_run_when_the_new_one_fails(
    tiny_run_dir: Path, tiny_settings: dict[str, Any], make_csv: Any, tmp_path: Path
) -> None:
    run_dir = Path(shutil.copytree(tiny_run_dir, tmp_path / "run"))
    one_class = make_csv("one_class.csv", [{"text": f"good day {i}", "label": "pos"} for i in range(20)])

    with pytest.raises(DataError):
        textfit.train(train_file=one_class, output_dir=run_dir, overwrite=True, **quick(tiny_settings))

    assert (run_dir / "metrics.json").read_bytes() == (tiny_run_dir / "metrics.json").read_bytes()
    assert Classifier.load(run_dir).labels == ["negative", "positive"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one_class.csv", "run"], "no .partial / .old left"


def test_a_finished_run_that_cannot_be_moved_into_place_is_kept(
    tiny_settings: dict[str, Any], binary_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def in_the_way(partial_dir: Path, run_dir: Path) -> None:
        raise ConfigError(f"{run_dir}.old cannot be replaced")

    monkeypatch.setattr(sys.modules["textfit.training.save"], "finish_run", in_the_way)
    with pytest.raises(ConfigError, match="cannot be replaced"):
        textfit.train(
            train_file=binary_csv, output_dir=tmp_path / "run", progress=False, **quick(tiny_settings)
        )
    assert (tmp_path / "run.partial" / "model" / "model.safetensors").is_file(), "the trained run is kept"


def _not_textfits(folder: Path, entries: str) -> str:
    return f"{folder} cannot be replaced: it holds files textfit did not write: {entries}"


REPLACE_HINT = (
    "pass --output-dir with a new folder, or move those files out of it; "
    "--overwrite replaces only a folder textfit wrote"
)


def test_overwrite_refuses_a_folder_of_other_files(
    tiny_settings: dict[str, Any], binary_csv: Path, tmp_path: Path
) -> None:
    # Issue 18, item 1: --overwrite deleted any folder, the user's notes (and data) with it.
    project = tmp_path / "project"
    project.mkdir()
    (project / "notes.md").write_text("notes\n", encoding="utf-8")
    (project / "metrics.json").write_text("{}", encoding="utf-8")  # a name textfit writes, but no run

    for overwrite in (True, False):
        with pytest.raises(ConfigError, match=re.escape(_not_textfits(project, "'notes.md'"))) as err:
            textfit.train(
                train_file=binary_csv, output_dir=project, overwrite=overwrite, **quick(tiny_settings)
            )
        assert err.value.hint == REPLACE_HINT
    (project / "notes.md").unlink()
    with pytest.raises(ConfigError) as err:
        textfit.train(train_file=binary_csv, output_dir=project, overwrite=True, **quick(tiny_settings))
    assert err.value.message == (
        f"{project} cannot be replaced: textfit did not write it: "
        "it has no textfit-run.json or run_config.yaml"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["project"]
    assert (project / "metrics.json").read_text(encoding="utf-8") == "{}"


def test_overwrite_refuses_a_run_the_user_added_files_to(
    tiny_run_dir: Path, tiny_settings: dict[str, Any], binary_csv: Path, tmp_path: Path
) -> None:
    run_dir = Path(shutil.copytree(tiny_run_dir, tmp_path / "run"))
    (run_dir / "notes.md").write_text("what I tried\n", encoding="utf-8")
    (run_dir / "labels.xlsx").write_bytes(b"x")

    message = _not_textfits(run_dir, "'labels.xlsx', 'notes.md'")
    with pytest.raises(ConfigError, match=re.escape(message)):
        textfit.train(train_file=binary_csv, output_dir=run_dir, overwrite=True, **quick(tiny_settings))
    assert (run_dir / "notes.md").is_file()
    assert (run_dir / "model" / "model.safetensors").is_file()


def test_overwrite_replaces_a_run_written_before_the_marker(
    tiny_run_dir: Path, tiny_settings: dict[str, Any], binary_csv: Path, tmp_path: Path
) -> None:
    run_dir = Path(shutil.copytree(tiny_run_dir, tmp_path / "run"))
    (run_dir / "textfit-run.json").unlink()  # as textfit wrote runs before issue 18
    (run_dir / "eval-test.json").write_text("{}", encoding="utf-8")  # textfit evaluate wrote it

    textfit.train(
        train_file=binary_csv, output_dir=run_dir, overwrite=True, progress=False, **quick(tiny_settings)
    )
    assert (run_dir / "textfit-run.json").is_file()
    assert not (run_dir / "eval-test.json").exists()


def test_overwrite_never_replaces_a_folder_holding_an_input(
    tiny_run_dir: Path, tiny_settings: dict[str, Any], binary_csv: Path, tmp_path: Path
) -> None:
    run_dir = Path(shutil.copytree(tiny_run_dir, tmp_path / "run"))
    data = Path(shutil.copy(binary_csv, run_dir / "model" / "data.csv"))  # deep in a name textfit writes

    with pytest.raises(ConfigError) as err:
        textfit.train(train_file=data, output_dir=run_dir, overwrite=True, **quick(tiny_settings))
    assert err.value.message == (
        f"{run_dir} holds {data}, which this command reads: textfit never replaces it"
    )
    assert err.value.hint == "pass --output-dir with a folder that holds none of the input files"
    data.unlink()
    # Fine-tuning a run's own model further, into the same folder: the model is an input.
    with pytest.raises(ConfigError, match=re.escape(f"{run_dir} holds {run_dir / 'model'}, which")):
        textfit.train(
            train_file=binary_csv,
            output_dir=run_dir,
            overwrite=True,
            **quick(tiny_settings, model=str(run_dir / "model")),
        )
    assert (run_dir / "model" / "model.safetensors").is_file()


def test_a_partial_folder_textfit_did_not_write_is_left_alone(
    tiny_settings: dict[str, Any], binary_csv: Path, tmp_path: Path
) -> None:
    partial = tmp_path / "run.partial"
    partial.mkdir()
    (partial / "thesis.tex").write_text("\\section{}\n", encoding="utf-8")

    with pytest.raises(ConfigError, match=re.escape(_not_textfits(partial, "'thesis.tex'"))) as err:
        textfit.train(train_file=binary_csv, output_dir=tmp_path / "run", **quick(tiny_settings))
    assert f"textfit writes the run to {partial} until it is complete" in str(err.value.hint)
    assert (partial / "thesis.tex").is_file()


def test_run_folder_that_is_a_file_is_a_config_error(binary_csv: Path, tmp_path: Path) -> None:
    path = tmp_path / "run"
    path.write_text("not a folder\n", encoding="utf-8")

    with pytest.raises(ConfigError, match=re.escape(f"run folder {path} is a file")) as err:
        textfit.train(train_file=binary_csv, output_dir=path, overwrite=True)
    assert err.value.hint == "pass --output-dir with a folder path"


def test_keyword_form_writes_runs_slash_file_stem_and_never_prints(
    tiny_model_dir: Path,
    binary_csv: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)

    result = textfit.train(
        train_file=binary_csv,
        model=str(tiny_model_dir),
        epochs=1,
        max_length=16,
        precision="fp32",
        progress=False,
    )

    assert result.run_dir == Path("runs") / "binary"
    assert (tmp_path / "runs" / "binary" / "model" / "model.safetensors").is_file()
    cfg = load_config(tmp_path / "runs" / "binary" / "run_config.yaml")
    assert cfg.model.name == str(tiny_model_dir)
    assert cfg.train.epochs == 1
    assert cfg.data.train_file == binary_csv.resolve()
    assert capsys.readouterr().out == "", "library code never prints (the Trainer's log dicts)"


def test_keyword_form_names_a_misspelt_setting(binary_csv: Path) -> None:
    with pytest.raises(ConfigError, match=re.escape("unknown settings: epoch (did you mean 'epochs'?)")):
        textfit.train(train_file=binary_csv, epoch=2)


def test_saved_run_config_reproduces_the_run(tiny_run: TrainResult, tmp_path: Path) -> None:
    saved = load_config(Path(tiny_run.run_dir) / "run_config.yaml")
    again = saved.model_copy(update={"output_dir": tmp_path / "again"})

    result = textfit.train(again, progress=False)

    reloaded = load_config(tmp_path / "again" / "run_config.yaml")
    assert reloaded == again
    assert reloaded.model_copy(update={"output_dir": saved.output_dir}) == saved
    for split in ("validation", "test"):
        assert result.metrics[split]["accuracy"] == tiny_run.metrics[split]["accuracy"]
        assert result.metrics[split]["confusion_matrix"] == tiny_run.metrics[split]["confusion_matrix"]
    assert result.metrics["train"]["final_loss"] == pytest.approx(
        tiny_run.metrics["train"]["final_loss"], rel=1e-4
    )


def test_long_texts_are_cut_with_a_warning(
    tiny_settings: dict[str, Any], make_csv: Any, tmp_path: Path
) -> None:
    rows = [
        {"text": " ".join([*FILLER_WORDS, *FILLER_WORDS, row["text"]]), "label": row["label"]}
        for row in class_rows(CLASS_WORDS, 12)
    ]
    train_file = make_csv("long.csv", rows)

    result = textfit.train(
        train_file=train_file, output_dir=tmp_path / "run", progress=False, **quick(tiny_settings)
    )

    assert "100.0% of training texts are longer than 16 tokens and will be cut" in result.warnings


def test_validation_loss_is_the_mean_over_rows_of_unequal_batches(
    tiny_settings: dict[str, Any], make_csv: Any, tmp_path: Path
) -> None:
    # Rows of 3 to 60 tokens: under the 1,024-token cap the batches of 32 hold 17 to 32 rows. The
    # Trainer alone would weigh every batch's mean loss as 32 rows.
    rows = [
        {"text": " ".join([*FILLER_WORDS * (i % 6), row["text"]]), "label": row["label"]}
        for i, row in enumerate(class_rows(CLASS_WORDS, 30))
    ]
    settings = quick(tiny_settings, max_length=64, eval_batch_size=32, logging_strategy="epoch")
    result = textfit.train(
        train_file=make_csv("train.csv", class_rows(CLASS_WORDS, 12, start=30)),
        validation_file=make_csv("validation.csv", rows),
        output_dir=tmp_path / "run",
        progress=False,
        **settings,
    )

    history = json.loads((Path(result.run_dir) / "log_history.json").read_text())
    logged = [entry["eval_loss"] for entry in history if "eval_loss" in entry][-1]
    model = AutoModelForSequenceClassification.from_pretrained(Path(result.run_dir) / "model").eval()
    tokenizer = AutoTokenizer.from_pretrained(Path(result.run_dir) / "model")
    label_ids = model.config.label2id
    with torch.no_grad():
        losses = [
            model(
                **tokenizer(row["text"], truncation=True, max_length=64, return_tensors="pt"),
                labels=torch.tensor([label_ids[row["label"]]]),
            ).loss.item()
            for row in rows
        ]
    assert logged == pytest.approx(sum(losses) / len(losses), abs=1e-4)


@pytest.mark.parametrize("batch_size", [4, 5], ids=["48 rows in batches of 4", "48 rows, 3 left over"])
def test_every_evaluation_while_training_counts_every_validation_row(
    tiny_settings: dict[str, Any], binary_csv: Path, make_csv: Any, tmp_path: Path, batch_size: int
) -> None:
    # Issue 18: with a training set that does not divide the batch, each evaluation counted only as many
    # validation rows as the last training batch held (accelerate trimmed to that loader's remainder),
    # so the best checkpoint and early stopping were chosen on part of the validation set.
    rows = class_rows(CLASS_WORDS, 10, start=24)
    validation = make_csv(
        "validation.csv",
        [{**row, "text": f"{row['text']} " + "day " * (i % 9)} for i, row in enumerate(rows)],
    )
    settings = quick(tiny_settings, epochs=2, batch_size=batch_size, learning_rate=2e-3, eval_batch_size=8)
    result = textfit.train(
        train_file=binary_csv,
        validation_file=validation,
        output_dir=tmp_path / "run",
        progress=False,
        **settings,
    )

    history = json.loads((Path(result.run_dir) / "log_history.json").read_text())
    evaluations = [entry for entry in history if "eval_loss" in entry]
    assert [entry["eval_samples"] for entry in evaluations] == [20, 20]
    evaluated = textfit.evaluate(result.run_dir, validation, precision="fp32", report=False).metrics
    for key in ("accuracy", "f1_macro", "f1_weighted"):  # the last evaluation scored the saved model
        assert (
            evaluations[-1][f"eval_{key}"]
            == pytest.approx(evaluated[key])
            == result.metrics["validation"][key]
        )


def test_train_runs_the_data_checks_and_keeps_their_warnings(
    tiny_settings: dict[str, Any], make_csv: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rows = class_rows(CLASS_WORDS, 12)
    train_file = make_csv("train.csv", [*rows, rows[0], rows[0]])
    validation_file = make_csv("val.csv", class_rows(CLASS_WORDS, 4, start=12))
    repeats = (
        f"{train_file}: 2 training rows repeat an earlier row's text; "
        "repeats weigh more in training and can inflate validation scores"
    )

    with caplog.at_level("WARNING", logger="textfit.training.train"):
        result = textfit.train(
            train_file=train_file,
            validation_file=validation_file,
            output_dir=tmp_path / "run",
            progress=False,
            **quick(tiny_settings),
        )

    assert result.warnings == [repeats, few_examples_advice({"positive": 12, "negative": 14}, 1, 4, "x")]
    assert repeats in caplog.text
    metrics = json.loads((result.run_dir / "metrics.json").read_text(encoding="utf-8"))
    checks = {check["name"]: check["status"] for check in metrics["checks"]["checks"]}
    assert checks == {
        "columns": "pass",
        "rows": "pass",
        "empty": "pass",
        "labels": "pass",
        "imbalance": "pass",
        "duplicates": "warn",
        "overlap": "pass",
        "conflicts": "pass",
        "length": "pass",
    }
    assert metrics["checks"]["warnings"] == 1


def test_a_failed_data_check_stops_training(
    tiny_settings: dict[str, Any], binary_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from textfit.checks.base import Check, CheckReport

    failed = CheckReport([Check("conflicts", "fail", "2 texts have two labels", hint="fix the labels")])
    train_module = sys.modules["textfit.training.train"]  # textfit.train is the function
    monkeypatch.setattr(train_module, "check_splits", lambda *args, **kwargs: failed)

    with pytest.raises(
        DataError, match=re.escape("data check 'conflicts' failed: 2 texts have two labels")
    ) as caught:
        textfit.train(
            train_file=binary_csv, output_dir=tmp_path / "run", progress=False, **quick(tiny_settings)
        )

    assert caught.value.hint == "fix the labels"
    assert not (tmp_path / "run").exists()


# ---------------------------------------------------------------- model errors


@pytest.mark.parametrize("name", ["./no-such-model", "/no/such/model", "~/no-such-model-folder"])
def test_missing_model_folder_is_a_model_error_with_the_presets(
    name: str, binary_csv: Path, tmp_path: Path
) -> None:
    with pytest.raises(ModelError, match=re.escape(f"cannot load model {name!r}: no such folder")) as err:
        textfit.train(train_file=binary_csv, model=name, output_dir=tmp_path / "run")
    assert err.value.hint == PRESET_HINT
    assert not (tmp_path / "run").exists()


def test_folder_without_config_is_not_a_model_folder(binary_csv: Path, tmp_path: Path) -> None:
    folder = tmp_path / "not-a-model"
    folder.mkdir()
    (folder / "weights.txt").write_text("?", encoding="utf-8")

    with pytest.raises(
        ModelError, match=re.escape(f"{folder} is not a model folder: it has no config.json")
    ) as err:
        textfit.train(train_file=binary_csv, model=str(folder), output_dir=tmp_path / "run")
    assert "save_pretrained" in (err.value.hint or "")


def test_unreachable_hub_id_fails_at_once_offline(binary_csv: Path, tmp_path: Path) -> None:
    name = "textfit-tests/no-such-model"
    message = f"cannot load model {name!r}: no such folder, and it could not be downloaded (offline?)"

    with pytest.raises(ModelError, match=re.escape(message)) as err:
        textfit.train(train_file=binary_csv, model=name, output_dir=tmp_path / "run")
    assert err.value.hint == PRESET_HINT


def test_pickled_weights_are_refused(
    tiny_settings: dict[str, Any], tiny_model_dir: Path, binary_csv: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "pickled"
    shutil.copytree(tiny_model_dir, folder)
    torch.save(load_file(folder / "model.safetensors"), folder / "pytorch_model.bin")
    (folder / "model.safetensors").unlink()

    with pytest.raises(ModelError, match="has no safetensors weights; textfit does not load pickled"):
        textfit.train(
            train_file=binary_csv,
            output_dir=tmp_path / "run",
            **{**tiny_settings, "model": str(folder)},
        )


# ---------------------------------------------------------------- precision


def test_fp16_needs_a_cuda_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)

    with pytest.raises(ModelError, match="precision fp16 needs a CUDA GPU") as err:
        pick_precision("fp16")
    assert "--precision fp32" in (err.value.hint or "")


@pytest.mark.parametrize(("fast_bf16", "expected"), [(True, "bf16"), (False, "fp32")])
def test_auto_precision_on_cpu_is_bf16_only_where_it_is_fast(
    fast_bf16: bool, expected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr("textfit.modeling.cpu_has_fast_bf16", lambda: fast_bf16)

    assert pick_precision("auto") == expected
    assert pick_precision("fp32") == "fp32"


def test_auto_precision_here_is_bf16_or_fp32() -> None:
    assert pick_precision("auto") in (("bf16", "fp16") if torch.cuda.is_available() else ("bf16", "fp32"))


# ---------------------------------------------------------------- length-bucketed batches


def test_length_bucket_order_groups_lengths_and_keeps_batch_order_random() -> None:
    lengths = [(i * 37) % 101 + 1 for i in range(203)]  # 203 rows: 12 full batches of 16, then 11
    order = length_bucket_order(lengths, batch_size=16, pool=4, generator=torch.Generator().manual_seed(0))

    assert sorted(order) == list(range(203)), "every row once per epoch"
    batches = [order[i : i + 16] for i in range(0, 203, 16)]
    assert [len(batch) for batch in batches] == [16] * 12 + [11], "the short batch comes last"
    # Sorted within pools of 4 batches: a batch spans far less than the whole range of lengths.
    spread = [max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches]
    assert sum(spread) / len(spread) < 40
    # Not a long-to-short sweep: the batches' longest lengths are not in descending order.
    longest = [max(lengths[i] for i in batch) for batch in batches[:-1]]
    assert longest != sorted(longest, reverse=True)
    again = length_bucket_order(lengths, batch_size=16, pool=4, generator=torch.Generator().manual_seed(0))
    other = length_bucket_order(lengths, batch_size=16, pool=4, generator=torch.Generator().manual_seed(1))
    assert again == order, "seeded"
    assert other != order


def test_one_pool_sorts_the_whole_epoch_and_shuffles_equal_lengths() -> None:
    lengths = [i % 5 + 1 for i in range(200)]  # 40 rows of each length 1..5: two batches each
    first = length_bucket_order(lengths, batch_size=20, pool=None, generator=torch.Generator().manual_seed(0))
    second = length_bucket_order(
        lengths, batch_size=20, pool=None, generator=torch.Generator().manual_seed(1)
    )

    batches = [first[i : i + 20] for i in range(0, 200, 20)]
    assert sorted(first) == list(range(200))
    assert all(len({lengths[i] for i in batch}) == 1 for batch in batches), "no padding at all"
    longest = [lengths[batch[0]] for batch in batches]
    assert longest != sorted(longest), "the batch order is random"
    others = {frozenset(second[i : i + 20]) for i in range(0, 200, 20)}
    assert {frozenset(batch) for batch in batches} != others, "which rows of a length share a batch varies"


# ---------------------------------------------------------------- the CPU fast path


@pytest.mark.parametrize("enabled", [True, False])
def test_cpu_fast_path_is_used_while_training_only(
    enabled: bool,
    tiny_settings: dict[str, Any],
    binary_csv: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from transformers import TrainerCallback

    from textfit.accel import fastpath
    from textfit.accel.fastpath import ATTENTION, FastDropout

    seen: dict[str, Any] = {}
    norms: list[float] = []
    clip = fastpath.clip_grad_norm

    def counted(*args: Any) -> Any:
        norm = clip(*args)
        norms.append(float(norm))
        return norm

    monkeypatch.setattr(fastpath, "clip_grad_norm", counted)

    class Spy(TrainerCallback):
        def on_step_begin(self, args: Any, state: Any, control: Any, model: Any = None, **kw: Any) -> None:
            seen["attention"] = model.config._attn_implementation
            seen["fast dropout"] = any(isinstance(m, FastDropout) for m in model.modules())

        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            seen["steps"] = state.global_step

    result = textfit.train(
        **{**tiny_settings, "cpu_fast_path": enabled},
        train_file=binary_csv,
        output_dir=tmp_path / "run",
        callbacks=[Spy()],
        progress=False,
    )

    steps = seen.pop("steps")
    assert seen == {"attention": ATTENTION if enabled else "sdpa", "fast dropout": enabled}
    assert len(norms) == (steps if enabled else 0)  # the fast path's clipping, every step
    assert all(norm > 0 for norm in norms)
    assert result.metrics["validation"]["accuracy"] >= 0.9
    saved = json.loads((result.run_dir / "model" / "config.json").read_text(encoding="utf-8"))
    assert not any("attn" in key for key in saved), "the saved model does not depend on textfit"


def test_a_wrapped_model_is_clipped_by_the_trainer_s_own_clipping(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # DDP (torchrun) and DataParallel hand the Trainer a wrapper without get_input_embeddings.
    from types import SimpleNamespace

    from transformers import Trainer

    from textfit.accel import fastpath
    from textfit.training.trainer import BudgetEvalTrainer

    calls: list[str] = []

    def fast(model: Any, max_norm: float) -> torch.Tensor:
        calls.append("fast path")
        return torch.tensor(1.0)

    monkeypatch.setattr(Trainer, "_clip_grad_norm", lambda self, model: calls.append("trainer"))
    monkeypatch.setattr(fastpath, "clip_grad_norm", fast)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=2)
    fastpath.enable(model)
    trainer = object.__new__(BudgetEvalTrainer)
    trainer.args = SimpleNamespace(world_size=1, max_grad_norm=1.0)
    trainer.accelerator = SimpleNamespace(scaler=None)

    trainer._clip_grad_norm(model)
    trainer._clip_grad_norm(torch.nn.ModuleList([model]))  # a wrapper, as DDP is
    trainer.args.world_size = 2
    trainer._clip_grad_norm(model)
    assert calls == ["fast path", "trainer", "trainer"]


@pytest.mark.parametrize("frozen", [True, False])
def test_freeze_embeddings_keeps_the_word_embeddings_as_pretrained(
    frozen: bool, tiny_settings: dict[str, Any], tiny_model_dir: Path, binary_csv: Path, tmp_path: Path
) -> None:
    result = textfit.train(
        **quick(tiny_settings, freeze_embeddings=frozen),
        train_file=binary_csv,
        output_dir=tmp_path / "run",
        progress=False,
    )

    before = load_file(tiny_model_dir / "model.safetensors")
    after = load_file(result.run_dir / "model" / "model.safetensors")
    name = "bert.embeddings.word_embeddings.weight"
    assert torch.equal(before[name], after[name]) == frozen
    assert not torch.equal(
        before["bert.encoder.layer.0.output.dense.weight"], after["bert.encoder.layer.0.output.dense.weight"]
    )
