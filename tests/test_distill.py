"""distill(): a student learns a teacher run, from rows with and without labels; the loss; the CLI."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from conftest import TINY_TRAIN_SETTINGS, TOPIC_WORDS, class_rows, write_csv
from textfit import ConfigError, DataError, train
from textfit.cli.main import app
from textfit.inference.classifier import Classifier
from textfit.training.distill import DistillResult, distill, soften
from textfit.training.losses import distillation_loss

runner = CliRunner()


def blank_labels(rows: list[dict[str, Any]], keep_every: int) -> list[dict[str, Any]]:
    """The rows, every `keep_every`-th keeping its label, the others with an empty one."""
    return [{**row, "label": row["label"] if i % keep_every == 0 else ""} for i, row in enumerate(rows)]


# ---------------------------------------------------------------- the loss


def test_distillation_loss_is_the_hand_computed_kl_times_t_squared() -> None:
    student = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.3, 0.2]])
    teacher_logits = np.array([[3.0, 1.0, 0.0], [-1.0, 2.0, 0.5]])
    temperature = 2.0
    teacher = soften(np.exp(teacher_logits) / np.exp(teacher_logits).sum(1, keepdims=True), temperature)
    labels = torch.tensor(np.concatenate([teacher, [[-1.0], [-1.0]]], axis=1))  # no row has a label

    loss = distillation_loss(temperature, alpha=0.5)({"logits": student}, labels)

    expected = 0.0
    for row in range(2):
        q = np.exp(teacher_logits[row] / temperature) / np.exp(teacher_logits[row] / temperature).sum()
        p = np.exp(student[row].numpy() / temperature) / np.exp(student[row].numpy() / temperature).sum()
        expected += temperature**2 * float(np.sum(q * (np.log(q) - np.log(p))))
    assert float(loss) == pytest.approx(expected / 2, rel=1e-5)


def test_alpha_mixes_the_cross_entropy_of_rows_with_a_label_only() -> None:
    student = torch.tensor([[2.0, 0.5], [0.1, 0.3]])
    teacher = np.array([[0.7, 0.3], [0.4, 0.6]], dtype=np.float32)
    labels = torch.tensor(np.concatenate([teacher, [[1.0], [-1.0]]], axis=1))  # row 0 is labelled 1
    kl = distillation_loss(1.0, alpha=0.0)({"logits": student}, labels) * 2  # sum over the rows

    loss = distillation_loss(1.0, alpha=0.25)({"logits": student}, labels)

    log_p = torch.log_softmax(student, dim=-1)
    kl_rows = (torch.tensor(teacher) * (torch.tensor(teacher).log() - log_p)).sum(-1)
    assert float(kl) == pytest.approx(float(kl_rows.sum()), rel=1e-5)
    expected = 0.75 * kl_rows[0] + 0.25 * -log_p[0, 1] + kl_rows[1]  # row 1 has no label: KL alone
    assert float(loss) == pytest.approx(float(expected) / 2, rel=1e-5)


def test_validation_labels_are_ids_and_give_the_plain_cross_entropy() -> None:
    student = torch.tensor([[2.0, 0.5], [0.1, 0.3]])
    labels = torch.tensor([0, 1])

    loss = distillation_loss(2.0, alpha=0.0)({"logits": student}, labels)

    assert float(loss) == pytest.approx(float(torch.nn.functional.cross_entropy(student, labels)))


def test_num_items_in_batch_counts_the_floats_of_the_rows() -> None:
    student = torch.randn(4, 3)
    labels = torch.cat([torch.softmax(torch.randn(4, 3), -1), torch.full((4, 1), -1.0)], dim=1)
    loss = distillation_loss(2.0, alpha=0.0)

    # Two accumulated batches of 4 rows: the Trainer counts 8 rows * 4 floats.
    assert float(loss({"logits": student}, labels, num_items_in_batch=torch.tensor(32))) == pytest.approx(
        float(loss({"logits": student}, labels)) / 2
    )


def test_soften_is_the_softmax_of_the_logits_over_t() -> None:
    logits = np.array([[3.0, 1.0, -2.0]])
    probabilities = np.exp(logits) / np.exp(logits).sum()

    assert soften(probabilities, 1.0) == pytest.approx(probabilities, rel=1e-5)
    expected = np.exp(logits / 4) / np.exp(logits / 4).sum()
    assert soften(probabilities, 4.0) == pytest.approx(expected, rel=1e-5)


# ---------------------------------------------------------------- a distilled run


@pytest.fixture(scope="module")
def topics_teacher(tmp_path_factory: pytest.TempPathFactory, tiny_settings: dict[str, Any]) -> Path:
    """A tiny 3-class teacher run (sports / food / music), trained on labels."""
    folder = tmp_path_factory.mktemp("distill")
    train_file = write_csv(folder / "teacher.csv", class_rows(TOPIC_WORDS, 16))
    result = train(train_file=train_file, output_dir=folder / "teacher", progress=False, **tiny_settings)
    return Path(result.run_dir)


@pytest.fixture(scope="module")
def mixed_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Other topic sentences, one row in three with its label, the others with an empty one."""
    rows = blank_labels(class_rows(TOPIC_WORDS, 30, start=16, seed=1), keep_every=3)
    return write_csv(tmp_path_factory.mktemp("mixed") / "mixed.csv", rows)


@pytest.fixture(scope="module")
def topics_test_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_csv(
        tmp_path_factory.mktemp("test") / "test.csv", class_rows(TOPIC_WORDS, 8, start=60, seed=2)
    )


@pytest.fixture(scope="module")
def student(
    tmp_path_factory: pytest.TempPathFactory,
    tiny_settings: dict[str, Any],
    topics_teacher: Path,
    mixed_csv: Path,
    topics_test_file: Path,
) -> DistillResult:
    return distill(
        topics_teacher,
        train_file=mixed_csv,
        test_file=topics_test_file,
        output_dir=tmp_path_factory.mktemp("runs") / "student",
        progress=False,
        **tiny_settings,
    )


def test_the_student_has_the_teachers_labels_in_its_order(
    student: DistillResult, topics_teacher: Path
) -> None:
    config = json.loads((student.run_dir / "model" / "config.json").read_text(encoding="utf-8"))
    teacher = json.loads((topics_teacher / "model" / "config.json").read_text(encoding="utf-8"))

    assert config["id2label"] == teacher["id2label"] == {"0": "food", "1": "music", "2": "sports"}
    assert Classifier.load(student.run_dir).labels == ["food", "music", "sports"]


def test_unlabelled_rows_are_trained_on_counted_and_reported(student: DistillResult) -> None:
    metrics = json.loads((student.run_dir / "metrics.json").read_text(encoding="utf-8"))
    distillation = metrics["distillation"]

    # 90 rows, 30 with a label: 3 of those (a stratified 0.1) validate, 27 train beside the 60 others.
    assert (distillation["labelled_rows"], distillation["unlabelled_rows"]) == (27, 60)
    assert metrics["train"]["samples"] == 87
    assert metrics["validation"]["samples"] == 3
    assert distillation["validation_labels"] == "labels given"
    assert (distillation["temperature"], distillation["alpha"]) == (2.0, 0.0)
    assert distillation["teacher"]["test"]["f1_macro"] > 0.9
    assert student.teacher == distillation


def test_the_student_learns_the_teacher(student: DistillResult) -> None:
    assert student.agreement["test"] >= 0.8  # chance: 1/3
    assert student.metrics["test"]["f1_macro"] >= 0.8


def test_the_run_folder_is_complete_with_a_card_naming_the_teacher(
    student: DistillResult, topics_teacher: Path
) -> None:
    names = {path.name for path in student.run_dir.iterdir()}

    assert {"model", "metrics.json", "report.html", "run_config.yaml", "textfit-run.json"} <= names
    assert {"predictions-validation.parquet", "predictions-test.parquet", "log_history.json"} <= names
    assert not student.run_dir.with_name("student.partial").exists()
    card = (student.run_dir / "model" / "README.md").read_text(encoding="utf-8")
    assert f"Distilled from the run `{topics_teacher}`" in card
    assert "27 labelled and 60 unlabelled training rows" in card
    assert "The teacher on the same rows: validation macro F1" in card


def test_an_existing_run_folder_is_refused_without_overwrite(
    student: DistillResult, topics_teacher: Path, mixed_csv: Path, tiny_settings: dict[str, Any]
) -> None:
    with pytest.raises(ConfigError, match=re.escape(f"run folder {student.run_dir} already exists")) as err:
        distill(
            topics_teacher, train_file=mixed_csv, output_dir=student.run_dir, progress=False, **tiny_settings
        )

    assert err.value.hint == "pass --overwrite to replace it, or --output-dir to write somewhere else"


def test_a_student_of_unlabelled_rows_alone_learns_the_classes(
    topics_teacher: Path, tiny_settings: dict[str, Any], topics_test_file: Path, tmp_path: Path
) -> None:
    rows = [{"text": row["text"]} for row in class_rows(TOPIC_WORDS, 30, start=16, seed=3)]  # no label column
    train_file = write_csv(tmp_path / "texts.csv", rows)

    result = distill(
        topics_teacher,
        train_file=train_file,
        test_file=topics_test_file,
        output_dir=tmp_path / "student",
        progress=False,
        **tiny_settings,
    )

    assert result.teacher["unlabelled_rows"] == 81  # 90 less a validation share of 9
    assert result.teacher["labelled_rows"] == 0
    assert result.teacher["validation_labels"] == "the teacher's classes (no row has a label)"
    assert result.metrics["test"]["f1_macro"] >= 0.8  # scored on the test file's true labels


def test_with_a_validation_file_every_row_of_the_training_file_trains(
    topics_teacher: Path,
    tiny_settings: dict[str, Any],
    mixed_csv: Path,
    topics_test_file: Path,
    tmp_path: Path,
) -> None:
    result = distill(
        topics_teacher,
        train_file=mixed_csv,
        validation_file=topics_test_file,
        output_dir=tmp_path / "s",
        progress=False,
        **{**tiny_settings, "epochs": 1},
    )

    assert (result.teacher["labelled_rows"], result.teacher["unlabelled_rows"]) == (30, 60)
    assert result.teacher["validation_labels"] == "the validation file's labels"
    assert result.metrics["validation"]["samples"] == 24


def test_alpha_one_on_labelled_rows_still_trains(
    topics_teacher: Path, tiny_settings: dict[str, Any], mixed_csv: Path, tmp_path: Path
) -> None:
    result = distill(
        topics_teacher,
        train_file=mixed_csv,
        output_dir=tmp_path / "s",
        alpha=1.0,
        progress=False,
        **tiny_settings,
    )

    assert result.teacher["alpha"] == 1.0
    assert math.isfinite(result.metrics["train"]["final_loss"])


# ---------------------------------------------------------------- errors


def test_a_multi_label_teacher_is_refused(
    tiny_settings: dict[str, Any], mixed_csv: Path, tmp_path: Path
) -> None:
    rows = [{"text": row["text"], "label": f"{row['label']}|x"} for row in class_rows(TOPIC_WORDS, 8)]
    rows += [{"text": row["text"], "label": row["label"]} for row in class_rows(TOPIC_WORDS, 8, start=8)]
    teacher = train(
        train_file=write_csv(tmp_path / "multi.csv", rows),
        output_dir=tmp_path / "multi",
        progress=False,
        **{**tiny_settings, "epochs": 1, "task": "multi_label", "label_delimiter": "|"},
    )

    with pytest.raises(
        ConfigError, match="is a multi_label classifier; distillation takes a single-label teacher"
    ) as err:
        distill(
            teacher.run_dir, train_file=mixed_csv, output_dir=tmp_path / "s", progress=False, **tiny_settings
        )

    assert err.value.hint == "pass the run of a single-label classifier as TEACHER_RUN"
    assert not (tmp_path / "s").exists()
    assert not (tmp_path / "s.partial").exists()


def test_a_label_the_teacher_does_not_know_names_the_rows(
    topics_teacher: Path, tiny_settings: dict[str, Any], tmp_path: Path
) -> None:
    rows = class_rows(TOPIC_WORDS, 4, start=16, seed=1)
    rows[2]["label"] = "weather"
    train_file = write_csv(tmp_path / "weather.csv", rows)

    with pytest.raises(
        DataError, match=re.escape("1 row has a label the model was not trained on: row 3 (line 4)")
    ):
        distill(
            topics_teacher, train_file=train_file, output_dir=tmp_path / "s", progress=False, **tiny_settings
        )


@pytest.mark.parametrize(
    ("weights", "message", "hint"),
    [
        ({"temperature": 0.0}, "temperature must be above 0, not 0", "pass --temperature 2"),
        ({"alpha": 1.5}, "alpha is the weight of the label loss, from 0 to 1, not 1.5", "pass --alpha 0.5"),
    ],
)
def test_temperature_and_alpha_out_of_range(
    weights: dict[str, float], message: str, hint: str, topics_teacher: Path, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)) as err:
        distill(topics_teacher, train_file=tmp_path / "x.csv", output_dir=tmp_path / "s", **weights)

    assert err.value.hint == hint


def test_settings_distillation_does_not_take_are_named(
    topics_teacher: Path, mixed_csv: Path, tmp_path: Path
) -> None:
    with pytest.raises(
        ConfigError, match=re.escape("these settings do not apply: train.loss, model.long_text")
    ):
        distill(
            topics_teacher, train_file=mixed_csv, output_dir=tmp_path / "s", loss="focal", long_text="window"
        )
    with pytest.raises(ConfigError, match=re.escape("do not apply: hub.push_to_hub")) as err:
        distill(topics_teacher, train_file=mixed_csv, output_dir=tmp_path / "s", push_to_hub="me/student")
    assert "textfit push" in err.value.hint


def test_train_still_refuses_empty_labels(
    tiny_settings: dict[str, Any], mixed_csv: Path, tmp_path: Path
) -> None:
    with pytest.raises(DataError, match=re.escape("rows have an empty label in column 'label'")):
        train(train_file=mixed_csv, output_dir=tmp_path / "run", progress=False, **tiny_settings)


# ---------------------------------------------------------------- the CLI


@pytest.fixture(scope="module")
def tiny_flags(tiny_model_dir: Path) -> list[str]:
    settings = TINY_TRAIN_SETTINGS
    return [
        "--model", str(tiny_model_dir), "--epochs", str(settings["epochs"]),
        "--learning-rate", str(settings["learning_rate"]), "--batch-size", str(settings["batch_size"]),
        "--max-length", str(settings["max_length"]), "--precision", "fp32", "--seed", "0",
        "--set", "train.lr_scheduler=constant", "--set", "train.warmup_ratio=0",
    ]  # fmt: skip


def test_cli_distill_prints_the_teacher_beside_the_student(
    topics_teacher: Path, mixed_csv: Path, topics_test_file: Path, tiny_flags: list[str], tmp_path: Path
) -> None:
    output_dir = tmp_path / "student"
    args = [
        topics_teacher,
        mixed_csv,
        "--test-file",
        topics_test_file,
        "-o",
        output_dir,
        "--temperature",
        "3",
        "-q",
    ]

    result = runner.invoke(app, ["distill", *map(str, args), *tiny_flags])

    assert result.exit_code == 0, result.stderr
    assert f"run saved to {output_dir}" in result.stdout
    assert f"distilled from {topics_teacher} " in result.stdout
    assert "at temperature 3, alpha 0: 27 training rows with a label, 60 without" in result.stdout
    table = result.stdout.split("macro F1 ")[1].splitlines()
    assert table[0].split()[:3] == ["teacher", "student", "agreement"]
    assert [line.split()[0] for line in table[1:3]] == ["validation", "test"]
    assert all(0 <= float(cell) <= 1 for line in table[1:3] for cell in line.split()[1:])
    metrics = json.loads((output_dir / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["distillation"]["temperature"] == 3.0


def test_cli_distill_from_a_folder_that_is_no_run_is_an_error(tmp_path: Path, mixed_csv: Path) -> None:
    teacher = tmp_path / "teacher"
    (teacher / "model").mkdir(parents=True)  # not a run: Classifier.load says so

    result = runner.invoke(app, ["distill", str(teacher), str(mixed_csv), "-o", str(tmp_path / "s")])

    assert result.exit_code == 1
    assert result.stdout == ""
    assert "error: " in result.stderr
    assert "hint: " in result.stderr


def test_cli_lists_distill_after_train() -> None:
    result = runner.invoke(app, ["--help"], env={"COLUMNS": "200"})

    commands = [
        line.split()[0] for line in result.stdout.splitlines() if line.startswith("  ") and line.split()
    ]
    assert commands.index("distill") == commands.index("train") + 1


def test_the_student_of_the_teachers_own_file_goes_beside_the_teacher_by_default(
    tiny_settings: dict[str, Any], tiny_flags: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    data = write_csv(tmp_path / "topics.csv", class_rows(TOPIC_WORDS, 16))
    teacher = train(train_file=data, progress=False, **tiny_settings).run_dir  # runs/topics

    result = runner.invoke(app, ["distill", str(teacher), str(data), "-q", *tiny_flags])

    assert result.exit_code == 0, result.stderr
    assert sorted(path.name for path in (tmp_path / "runs").iterdir()) == ["topics", "topics-distilled"]
    assert (tmp_path / "runs" / "topics-distilled" / "metrics.json").is_file()
