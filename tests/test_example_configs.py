"""Every YAML config in the repository loads; each tutorial scenario has a runnable example.

The examples whose data is at hand (the packaged SMS sample; AG News where ../shared/data/ag_news lies
beside the clone, as in CI) are trained end to end on a small slice through the command each one's
comment gives; the Hub examples also run on stand-in folders laid out like their data sets.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from conftest import CLASS_WORDS, TOPIC_WORDS, class_rows, pair_rows, read_csv, write_csv
from textfit.cli.main import app
from textfit.config.loading import load_config
from textfit.config.schema import RunConfig
from textfit.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
SKIPPED_FOLDERS = {"runs", "build", "dist", "node_modules", "site-packages"}  # and hidden ones (.venv, .git)
# The scenarios the tutorials cover, each with its example (examples/<name>.yaml) and what it must name.
SCENARIOS: dict[str, dict[str, str]] = {
    "sms_spam": {
        "run": "sms_spam",
        "model": "minilm",
        "train_file": "src/textfit/samples/sms_spam/train.csv",
    },
    "emotion": {"run": "emotion", "model": "distilbert-base-uncased", "dataset": "dair-ai/emotion"},
    "nace_multilingual": {
        "run": "nace",
        "model": "bert-base-multilingual-uncased",
        "train_file": "data/companies.csv",
    },
    "mrpc": {"run": "mrpc", "model": "bert-base-uncased", "dataset": "nyu-mll/glue"},
    "ag_news": {"run": "ag_news", "model": "minilm", "dataset": "fancyzhx/ag_news"},
}
# A copy of AG News beside the clone (CI has one; AG News is non-commercial, so the repository has none).
SHARED_AG_NEWS = ROOT.parent / "shared" / "data" / "ag_news"
AG_NEWS_TOPICS = ["World", "Sports", "Business", "Sci/Tech"]  # fancyzhx/ag_news's ClassLabel, in order


def repository_yaml_files() -> list[Path]:
    """The *.yaml and *.yml files of the repository, outside hidden, build and run folders."""
    found = []
    for folder, subfolders, files in os.walk(ROOT):
        subfolders[:] = [
            name
            for name in subfolders
            if not name.startswith(".") and name not in SKIPPED_FOLDERS and not name.endswith(".egg-info")
        ]
        found += [Path(folder) / name for name in files if name.endswith((".yaml", ".yml"))]
    return sorted(found)


CONFIGS = repository_yaml_files()


def example_command(path: Path) -> list[str]:
    """The `textfit train --config ...` command an example's comment gives, as arguments."""
    commands = [
        line.lstrip("# ").strip()
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.startswith("#") and "textfit train --config" in line
    ]
    assert len(commands) == 1, f"{path.name}: one `textfit train --config` command in its comments"
    return shlex.split(commands[0])


def test_the_examples_are_found() -> None:
    names = {path.name for path in CONFIGS if path.parent == EXAMPLES / "configs"}

    assert {"multilingual.yaml", "long_run.yaml", "sentence_pair.yaml"} <= names
    assert {path.stem for path in EXAMPLES.glob("*.yaml")} == set(SCENARIOS)


@pytest.mark.parametrize("path", CONFIGS, ids=lambda path: str(path.relative_to(ROOT)))
def test_config_file_is_valid(path: Path) -> None:
    cfg = load_config(path)

    assert cfg != RunConfig(), "an example that sets nothing shows nothing"
    assert cfg.data.train_file is not None or cfg.data.dataset is not None, "an example names its data"


@pytest.mark.parametrize("name", SCENARIOS)
def test_each_scenario_names_its_data_model_and_command(name: str) -> None:
    path = EXAMPLES / f"{name}.yaml"
    written = yaml.safe_load(path.read_text(encoding="utf-8"))
    cfg = load_config(path)

    assert example_command(path) == ["textfit", "train", "--config", f"examples/{name}.yaml"]
    assert written["model"]["name"] == SCENARIOS[name]["model"], "the model is named, not left to the default"
    if "dataset" in SCENARIOS[name]:
        assert cfg.data.dataset == SCENARIOS[name]["dataset"]
        assert cfg.data.train_file is None
    else:
        assert str(cfg.data.train_file) == SCENARIOS[name]["train_file"]
        assert cfg.data.dataset is None
    assert cfg.output_dir == Path("runs") / SCENARIOS[name]["run"]


def test_the_multilingual_codes_example_ranks_by_top_2_accuracy() -> None:
    cfg = load_config(EXAMPLES / "nace_multilingual.yaml")

    assert cfg.train.metric_for_best_model == "top_2_accuracy"
    assert cfg.train.class_weights == "balanced"


def test_the_mrpc_example_encodes_sentence_pairs() -> None:
    cfg = load_config(EXAMPLES / "mrpc.yaml")

    assert (cfg.data.dataset_config, cfg.data.text_column, cfg.data.text_pair_column) == (
        "mrpc",
        "sentence1",
        "sentence2",
    )


def test_a_renamed_setting_in_an_example_fails(tmp_path: Path) -> None:
    text = (EXAMPLES / "configs" / "long_run.yaml").read_text(encoding="utf-8")
    renamed = tmp_path / "long_run.yaml"
    renamed.write_text(text.replace("early_stopping_patience:", "patience:"), encoding="utf-8")

    with pytest.raises(ConfigError, match=re.escape("train.patience: unknown setting")):
        load_config(renamed)


def label_slice(source: Path, per_label: int, target: Path) -> Path:
    """The first `per_label` rows of each label of `source`, in file order."""
    kept: dict[str, list[dict[str, str]]] = {}
    for row in read_csv(source):
        rows = kept.setdefault(row["label"], [])
        if len(rows) < per_label:
            rows.append(row)
    return write_csv(target, [row for rows in kept.values() for row in rows], fieldnames=["text", "label"])


# (example, training rows per label, test rows per label, least test macro-F1: chance is 0.5 / 0.25)
RUNNABLE = [("sms_spam", 120, 40, 0.75), ("ag_news", 80, 40, 0.5)]


def ag_news_from_shared(root: Path, train_rows: int, test_rows: int) -> Path:
    """fancyzhx/ag_news's layout (text, a ClassLabel of the four topics; train and test splits) holding
    slices of ../shared/data/ag_news; skips where that folder is not beside the clone."""
    import datasets

    if not SHARED_AG_NEWS.is_dir():
        message = "../shared/data/ag_news is not beside this clone (CI has it)"
        if os.environ.get("CI"):
            pytest.fail(f"{message}, but CI is set: CI must train AG News")
        pytest.skip(message)
    features = datasets.Features(
        {"text": datasets.Value("string"), "label": datasets.ClassLabel(names=AG_NEWS_TOPICS)}
    )
    splits = {}
    for split, per_label in {"train": train_rows, "test": test_rows}.items():
        rows = read_csv(label_slice(SHARED_AG_NEWS / f"{split}.csv", per_label, root / f"{split}.csv"))
        splits[split] = {
            "text": [row["text"] for row in rows],
            "label": [AG_NEWS_TOPICS.index(row["label"]) for row in rows],
        }
    return hub_repository(root / "fancyzhx-ag_news", "default", features, splits)


@pytest.mark.slow
@pytest.mark.usefixtures("all_threads")
@pytest.mark.parametrize(("name", "train_rows", "test_rows", "least_f1"), RUNNABLE)
def test_an_example_with_local_data_trains_on_a_slice(
    name: str,
    train_rows: int,
    test_rows: int,
    least_f1: float,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The example's own settings on real rows: the packaged sample's files, or AG News from
    ../shared laid out as its Hub data set (the example's split slice, columns and ClassLabel)."""
    cfg = load_config(EXAMPLES / f"{name}.yaml")
    if cfg.data.dataset is None:
        assert cfg.data.train_file is not None
        assert cfg.data.test_file is not None
        train_file = label_slice(ROOT / cfg.data.train_file, train_rows, tmp_path / "train.csv")
        test_file = label_slice(ROOT / cfg.data.test_file, test_rows, tmp_path / "test.csv")
        data = ["--set", f"data.train_file={train_file}", "--set", f"data.test_file={test_file}"]
    else:
        assert cfg.data.dataset == "fancyzhx/ag_news"
        data = ["--set", f"data.dataset={ag_news_from_shared(tmp_path / 'data', train_rows, test_rows)}"]
    monkeypatch.chdir(ROOT)  # the examples' paths start from the repository root

    result = CliRunner().invoke(
        app,
        [
            *example_command(EXAMPLES / f"{name}.yaml")[1:],
            *data,
            "--output-dir", str(tmp_path / "run"),
            "-q",
        ],
    )  # fmt: skip

    assert result.exit_code == 0, result.stderr
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["test"]["samples"] == test_rows * len(metrics["test"]["per_class"])
    assert metrics["test"]["f1_macro"] >= least_f1, metrics["test"]


# ---------------------------------------------------------------- the Hub examples, on stand-in data


def hub_repository(root: Path, config: str, features: Any, splits: dict[str, dict[str, list[Any]]]) -> Path:
    """A folder laid out like a Hub data set repository: <config>/<split>-00000-of-00001.parquet,
    the configurations named in README.md, the features (ClassLabel names) kept in the Parquet files."""
    import datasets

    for split, columns in splits.items():
        path = root / config / f"{split}-00000-of-00001.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        datasets.Dataset.from_dict(columns, features=features).to_parquet(str(path))
    files = [{"split": split, "path": f"{config}/{split}-*"} for split in splits]
    card = yaml.safe_dump({"configs": [{"config_name": config, "data_files": files}]})
    (root / "README.md").write_text(f"---\n{card}---\n", encoding="utf-8")
    return root


def mrpc_like(root: Path) -> Path:
    """nyu-mll/glue's mrpc layout: sentence1, sentence2, a ClassLabel label, idx; test unlabelled (-1)."""
    import datasets

    names = ["not_equivalent", "equivalent"]
    features = datasets.Features(
        {
            "sentence1": datasets.Value("string"),
            "sentence2": datasets.Value("string"),
            "label": datasets.ClassLabel(names=names),
            "idx": datasets.Value("int32"),
        }
    )
    meaning = {"negative": "not_equivalent", "positive": "equivalent"}
    splits = {}
    for split, rows in {"train": pair_rows(24), "validation": pair_rows(8, start=24)}.items():
        splits[split] = {
            "sentence1": [row["premise"] for row in rows],
            "sentence2": [row["hypothesis"] for row in rows],
            "label": [names.index(meaning[row["label"]]) for row in rows],
            "idx": list(range(len(rows))),
        }
    test = pair_rows(4, start=32)
    splits["test"] = {
        "sentence1": [row["premise"] for row in test],
        "sentence2": [row["hypothesis"] for row in test],
        "label": [-1] * len(test),
        "idx": list(range(len(test))),
    }
    return hub_repository(root, "mrpc", features, splits)


EMOTIONS = ["sadness", "joy", "love", "anger", "fear", "surprise"]


def emotion_like(root: Path) -> Path:
    """dair-ai/emotion's layout: text and a ClassLabel of the six emotions, config 'split'."""
    import datasets

    features = datasets.Features(
        {"text": datasets.Value("string"), "label": datasets.ClassLabel(names=EMOTIONS)}
    )
    words = {**TOPIC_WORDS, **CLASS_WORDS}  # five word sets stand for five of the emotions
    as_emotion = dict(zip(words, EMOTIONS, strict=False))
    splits = {}
    for split, rows in {
        "train": class_rows(words, 16),
        "validation": class_rows(words, 4, start=16),
        "test": class_rows(words, 4, start=20),
    }.items():
        splits[split] = {
            "text": [row["text"] for row in rows],
            "label": [EMOTIONS.index(as_emotion[row["label"]]) for row in rows],
        }
    return hub_repository(root, "split", features, splits)


def ag_news_like(root: Path) -> Path:
    """fancyzhx/ag_news's layout: text and a ClassLabel of the four topics; train and test, no
    validation split (the example holds out a share of train)."""
    import datasets

    features = datasets.Features(
        {"text": datasets.Value("string"), "label": datasets.ClassLabel(names=AG_NEWS_TOPICS)}
    )
    words = {**TOPIC_WORDS, **CLASS_WORDS}  # four of the five word sets stand for the four topics
    as_topic = dict(zip(words, AG_NEWS_TOPICS, strict=False))
    splits = {}
    for split, rows in {"train": class_rows(words, 24), "test": class_rows(words, 6, start=24)}.items():
        rows = [row for row in rows if row["label"] in as_topic]
        splits[split] = {
            "text": [row["text"] for row in rows],
            "label": [AG_NEWS_TOPICS.index(as_topic[row["label"]]) for row in rows],
        }
    return hub_repository(root, "default", features, splits)


TINY_OVERRIDES = [
    "--max-length", "16", "--epochs", "8", "--learning-rate", "5e-3", "--batch-size", "4",
    "--precision", "fp32", "--set", "train.lr_scheduler=constant", "--set", "train.warmup_ratio=0.0",
    "--set", "train.save_strategy=no", "--set", "train.load_best_model_at_end=false",
    "--set", "train.logging_strategy=no", "--set", "train.group_by_length=false", "--seed", "0",
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "stand_in", "splits"),
    [
        ("mrpc", mrpc_like, {"train": "train", "validation": "validation"}),
        ("emotion", emotion_like, {"train": "train", "validation": "validation", "test": "test"}),
        ("ag_news", ag_news_like, {"train": "train[:10000]", "test": "test"}),
    ],
)
def test_a_hub_example_runs_on_a_folder_laid_out_like_its_data_set(
    name: str,
    stand_in: Any,
    splits: dict[str, str],
    tiny_model_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The example's own settings (config, splits, columns) on data shaped like the Hub's; the model
    is the tiny one and the data set a local folder: nothing is downloaded."""
    folder = stand_in(tmp_path / name)
    monkeypatch.chdir(ROOT)

    result = CliRunner().invoke(
        app,
        [
            *example_command(EXAMPLES / f"{name}.yaml")[1:],
            "--set", f"data.dataset={folder}",
            "--model", str(tiny_model_dir),
            "--output-dir", str(tmp_path / "run"),
            *TINY_OVERRIDES,
            "-q",
        ],
    )  # fmt: skip

    assert result.exit_code == 0, result.stderr
    run = tmp_path / "run"
    metrics = json.loads((run / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["dataset"]["splits"] == splits  # mrpc's unlabelled test split is skipped
    labels = json.loads((run / "model" / "config.json").read_text(encoding="utf-8"))["id2label"]
    if name == "mrpc":
        assert metrics["test"] is None
        assert sorted(labels.values()) == ["equivalent", "not_equivalent"]
        assert metrics["validation"]["f1_macro"] >= 0.9, "the pair is encoded as a pair: only sentence2 tells"
    else:
        names = EMOTIONS[:5] if name == "emotion" else AG_NEWS_TOPICS
        assert set(labels.values()) == set(names)
        assert metrics["test"]["f1_macro"] >= 0.8, metrics["test"]
