"""Pushing a run to the Hub, against a stand-in Hub on loopback (never the real one).

The stand-in answers what huggingface_hub 2.4's model_info, create_repo, create_branch and
create_commit ask: repo info, repo creation, branch creation, README metadata validation, the
preupload step ("regular" upload for every file, so no LFS or Xet transfer) and the NDJSON commit
with base64 file contents, which it decodes and keeps.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from conftest import TINY_TRAIN_SETTINGS
from textfit import ConfigError, HubError, ModelError, push_run
from textfit.cli.main import app
from textfit.config.loading import load_config
from textfit.training.card import base_license, base_model, card_metadata, hub_model_card

TOKEN = "hf_standin_token_for_tests"
REPO = "someone/tiny-classifier"


class StandInHub:
    """A Hub on 127.0.0.1 that records every request and keeps each commit's files."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.repos: dict[str, dict[str, Any]] = {}  # repo id -> {"private": bool}
        self.commits: list[dict[str, Any]] = []  # {"repo", "revision", "summary", "files": {path: bytes}}
        self.branches: list[tuple[str, str]] = []
        self.fail_with: int | None = None  # answer every request with this status
        self.card_errors: list[str] = []  # what /api/validate-yaml finds wrong in README.md
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                hub.handle(self, "GET")

            def do_POST(self) -> None:
                hub.handle(self, "POST")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def handle(self, request: BaseHTTPRequestHandler, method: str) -> None:
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length) if length else b""
        path = request.path.split("?")[0]
        self.requests.append(
            {"method": method, "path": path, "authorization": request.headers.get("Authorization")}
        )
        if self.fail_with is not None:
            headers = {"X-Error-Message": "Invalid credentials in Authorization header"}
            return self.answer(request, self.fail_with, {"error": "stand-in failure"}, headers)
        if method == "GET" and (match := re.fullmatch(r"/api/models/([^/]+/[^/]+)", path)):
            repo = self.repos.get(match[1])
            if repo is None:
                return self.answer(
                    request, 404, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound"}
                )
            return self.answer(request, 200, {"id": match[1], "private": repo["private"], "sha": "0" * 40})
        if method == "POST" and path == "/api/repos/create":
            payload = json.loads(body)
            repo_id = f"{payload['organization']}/{payload['name']}"
            if repo_id in self.repos:
                return self.answer(request, 409, {"error": "You already created this model repo"})
            # huggingface_hub 1.9 on asks with "visibility", earlier releases with "private" (both work)
            private = payload.get("visibility") == "private" or payload.get("private") is True
            self.repos[repo_id] = {"private": private, "payload": payload}
            return self.answer(request, 200, {"url": f"{self.url}/{repo_id}"})
        if method == "POST" and path == "/api/validate-yaml":
            errors = [{"message": message} for message in self.card_errors]
            return self.answer(request, 400 if errors else 200, {"errors": errors, "warnings": []})
        if method == "POST" and (match := re.fullmatch(r"/api/models/([^/]+/[^/]+)/branch/(.+)", path)):
            self.branches.append((match[1], match[2]))
            return self.answer(request, 200, {})
        if method == "POST" and (match := re.fullmatch(r"/api/models/([^/]+/[^/]+)/preupload/(.+)", path)):
            files = json.loads(body)["files"]
            modes = [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in files]
            return self.answer(request, 200, {"files": modes})
        if method == "POST" and (match := re.fullmatch(r"/api/models/([^/]+/[^/]+)/commit/(.+)", path)):
            lines = [json.loads(line) for line in body.splitlines() if line.strip()]
            header = next(line["value"] for line in lines if line["key"] == "header")
            files = {
                line["value"]["path"]: base64.b64decode(line["value"]["content"])
                for line in lines
                if line["key"] == "file"
            }
            assert all(line["key"] in ("header", "file") for line in lines), "only regular files"
            self.commits.append(
                {"repo": match[1], "revision": match[2], "summary": header["summary"], "files": files}
            )
            return self.answer(
                request, 200, {"commitUrl": f"{self.url}/{match[1]}/commit/{'1' * 40}", "commitOid": "1" * 40}
            )
        return self.answer(request, 404, {"error": f"the stand-in has no {method} {path}"})

    @staticmethod
    def answer(
        request: BaseHTTPRequestHandler, status: int, payload: Any, headers: dict[str, str] | None = None
    ) -> None:
        data = json.dumps(payload).encode()
        request.send_response(status)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            request.send_header(key, value)
        request.end_headers()
        request.wfile.write(data)


@pytest.fixture
def online(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Offline mode off (conftest turns it on), no login file, no token unless a test sets one."""
    import huggingface_hub.constants as constants

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HF_OIDC_RESOURCE", raising=False)
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "no-login" / "token"))
    monkeypatch.setattr(constants, "HF_STORED_TOKENS_PATH", str(tmp_path / "no-login" / "stored_tokens"))


@pytest.fixture
def hub(online: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[StandInHub]:
    """The stand-in Hub, named by HF_ENDPOINT, and a token in HF_TOKEN."""
    stand_in = StandInHub()
    monkeypatch.setenv("HF_ENDPOINT", stand_in.url)
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    yield stand_in
    stand_in.close()


@pytest.fixture
def closed_port(online: None, monkeypatch: pytest.MonkeyPatch) -> str:
    """HF_ENDPOINT at a loopback port nothing listens on, and a token."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    endpoint = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    return endpoint


def snapshot(folder: Path) -> dict[str, tuple[int, str]]:
    """Every file under folder: (modification time, content hash)."""
    return {
        path.relative_to(folder).as_posix(): (
            path.stat().st_mtime_ns,
            hashlib.sha256(path.read_bytes()).hexdigest(),
        )
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def front_matter(card: str) -> dict[str, Any]:
    """The card's metadata as huggingface_hub reads it."""
    from huggingface_hub import ModelCard

    return ModelCard(card).data.to_dict()


# ---------------------------------------------------------------- what a push uploads


def test_push_uploads_the_model_card_metrics_and_settings_but_no_data(
    hub: StandInHub, tiny_run_dir: Path
) -> None:
    before = snapshot(tiny_run_dir)

    result = push_run(tiny_run_dir, REPO)

    assert snapshot(tiny_run_dir) == before  # the run folder is only read
    assert len(hub.commits) == 1
    commit = hub.commits[0]
    files = commit["files"]
    figures = {f"figures/{path.name}" for path in (tiny_run_dir / "figures").iterdir()}
    assert set(files) == {
        "README.md",
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "metrics.json",
        "run_config.yaml",
        "log_history.json",
        *figures,
    }
    assert figures, "the run has figures"
    assert files["model.safetensors"] == (tiny_run_dir / "model" / "model.safetensors").read_bytes()
    assert files["config.json"] == (tiny_run_dir / "model" / "config.json").read_bytes()
    assert commit["revision"] == "main"
    assert commit["summary"].startswith(f"Upload {tiny_run_dir.name} with textfit")
    # private by default; the token in every request
    assert hub.repos[REPO]["private"] is True
    assert (hub.repos[REPO]["payload"]["organization"], hub.repos[REPO]["payload"]["name"]) == (
        "someone",
        "tiny-classifier",
    )
    assert hub.requests
    assert all(request["authorization"] == f"Bearer {TOKEN}" for request in hub.requests)
    # no rows of the data, and no local paths
    assert not [name for name in files if name.endswith((".parquet", ".html"))]
    metrics = json.loads(files["metrics.json"])
    assert "checks" not in metrics
    assert metrics["test"] == json.loads((tiny_run_dir / "metrics.json").read_text())["test"]
    config = yaml.safe_load(files["run_config.yaml"])
    saved = load_config(tiny_run_dir / "run_config.yaml")
    assert config["data"]["train_file"] == saved.data.train_file.name == "binary.csv"  # type: ignore[union-attr]
    assert config["output_dir"] == tiny_run_dir.name
    assert config["model"]["name"] == Path(saved.model.name).name
    for text in (
        files["README.md"].decode(),
        files["run_config.yaml"].decode(),
        files["metrics.json"].decode(),
    ):
        assert str(tiny_run_dir.parent) not in text
        assert str(saved.data.train_file.parent) not in text  # type: ignore[union-attr]
    # what came back, and what stayed behind with the reason
    assert result.repo_id == REPO
    assert result.url == f"{hub.url}/{REPO}"
    assert result.private is True
    assert result.revision == "main"
    assert result.commit_url == f"{hub.url}/{REPO}/commit/{'1' * 40}"
    assert result.uploaded == sorted(files)
    assert set(result.left_out) == {
        "predictions-test.parquet",
        "predictions-validation.parquet",
        "report.html",
    }
    assert all("rows of your data" in reason for reason in result.left_out.values())


def test_the_card_front_matter_parses_with_huggingface_hub(
    hub: StandInHub, tiny_run_dir: Path, tmp_path: Path
) -> None:
    from huggingface_hub import metadata_load

    push_run(tiny_run_dir, REPO)

    card = hub.commits[0]["files"]["README.md"].decode()
    (tmp_path / "README.md").write_text(card, encoding="utf-8")
    metadata = metadata_load(tmp_path / "README.md")
    assert metadata is not None
    assert metadata["library_name"] == "transformers"
    assert metadata["pipeline_tag"] == "text-classification"
    assert metadata["tags"] == ["textfit", "text-classification"]
    assert "base_model" not in metadata  # a local folder is no Hub model
    assert "datasets" not in metadata
    assert metadata["metrics"] == ["accuracy", "f1", "precision", "recall"]
    [index] = metadata["model-index"]
    assert index["name"] == "tiny-classifier"
    [results] = index["results"]
    assert results["dataset"] == {"name": "binary_test.csv", "type": "binary_test.csv", "split": "test"}
    test = json.loads((tiny_run_dir / "metrics.json").read_text())["test"]
    by_name = {metric["name"]: metric for metric in results["metrics"]}
    assert by_name["Accuracy"]["value"] == round(test["accuracy"], 4)
    assert by_name["Macro F1"] == {
        "type": "f1",
        "value": round(test["f1_macro"], 4),
        "name": "Macro F1",
        "args": {"average": "macro"},
    }
    assert front_matter(card)["model-index"] == metadata["model-index"]
    # the body: the run's card, used from the Hub
    assert "## Metrics" in card
    assert f'pipeline("text-classification", model="{REPO}")' in card


def test_the_local_card_carries_the_hub_card_s_metadata(hub: StandInHub, tiny_run_dir: Path) -> None:
    local = (tiny_run_dir / "model" / "README.md").read_text(encoding="utf-8")
    assert local.startswith("---\n")
    metadata = yaml.safe_load(local[4 : local.index("\n---\n", 4)])

    assert metadata["library_name"] == "transformers"
    assert metadata["pipeline_tag"] == "text-classification"
    assert metadata["tags"] == ["textfit", "text-classification"]
    assert "base_model" not in metadata  # a local folder is no Hub model
    assert "license" not in metadata  # nor has it a card naming one
    assert metadata["metrics"] == ["accuracy", "f1", "precision", "recall"]
    [index] = metadata["model-index"]
    assert index["name"] == tiny_run_dir.name
    [results] = index["results"]
    assert results["dataset"] == {"name": "binary_test.csv", "type": "binary_test.csv", "split": "test"}
    test = json.loads((tiny_run_dir / "metrics.json").read_text())["test"]
    assert {m["name"]: m["value"] for m in results["metrics"]}["Accuracy"] == round(test["accuracy"], 4)
    # the Hub card: the same metadata, but for the model's name
    push_run(tiny_run_dir, REPO)
    pushed = front_matter(hub.commits[0]["files"]["README.md"].decode())
    assert pushed["pipeline_tag"] == "text-classification"
    assert pushed["model-index"][0]["results"] == index["results"]
    assert {**pushed, "model-index": None} == {**metadata, "model-index": None}


def test_the_card_names_the_licence_of_a_preset_or_of_a_local_model_s_card(tmp_path: Path) -> None:
    metrics = {"task": "single_label", "validation": {"accuracy": 0.5}, "test": None}

    metadata = yaml.safe_load(card_metadata({"model": {"name": "mpnet"}}, metrics, "run"))

    assert metadata["license"] == "apache-2.0"
    assert metadata["base_model"] == "sentence-transformers/all-mpnet-base-v2"
    assert metadata["pipeline_tag"] == "text-classification"
    assert metadata["model-index"][0]["results"][0]["dataset"]["split"] == "validation"
    (tmp_path / "README.md").write_text("---\nlicense: mit\nlanguage: en\n---\n# a model\n", encoding="utf-8")
    assert base_license(str(tmp_path)) == "mit"
    (tmp_path / "README.md").write_text("# no front matter\n", encoding="utf-8")
    assert base_license(str(tmp_path)) is None
    assert base_license("bert-base-uncased") is None  # a Hub id: not looked up


def test_the_pushed_files_load_with_the_transformers_pipeline(
    hub: StandInHub, tiny_run_dir: Path, tmp_path: Path
) -> None:
    from transformers import pipeline

    push_run(tiny_run_dir, REPO)
    for name, content in hub.commits[0]["files"].items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(content)

    classify = pipeline("text-classification", model=str(tmp_path), device="cpu")
    predictions = classify(["a really good lovely day", "this was an awful terrible day"])

    assert [prediction["label"] for prediction in predictions] == ["positive", "negative"]


def test_public_push_to_a_branch_with_a_message(hub: StandInHub, tiny_run_dir: Path) -> None:
    result = push_run(tiny_run_dir, REPO, private=False, revision="experiment-2", commit_message="Second try")

    assert hub.repos[REPO]["private"] is False
    assert hub.branches == [(REPO, "experiment-2")]
    assert hub.commits[0]["revision"] == "experiment-2"
    assert hub.commits[0]["summary"] == "Second try"
    assert result.private is False
    assert result.revision == "experiment-2"


def test_a_second_push_goes_to_the_existing_repo(hub: StandInHub, tiny_run_dir: Path) -> None:
    push_run(tiny_run_dir, REPO)
    push_run(tiny_run_dir, REPO)

    assert len(hub.commits) == 2
    assert [r["path"] for r in hub.requests].count("/api/repos/create") == 1


def test_an_existing_public_repo_is_not_pushed_to_unless_public(hub: StandInHub, tiny_run_dir: Path) -> None:
    hub.repos[REPO] = {"private": False}

    with pytest.raises(
        HubError, match=re.escape(f"{REPO} already exists on {hub.url} and is public")
    ) as caught:
        push_run(tiny_run_dir, REPO)

    assert (
        caught.value.hint
        == "pass --public (hub.private: false) to push to it anyway, or choose another repo id"
    )
    assert hub.commits == []
    push_run(tiny_run_dir, REPO, private=False)
    assert len(hub.commits) == 1


@pytest.mark.filterwarnings("ignore:It seems that you are about to commit a data file")
def test_include_data_files_adds_predictions_and_report(hub: StandInHub, tiny_run_dir: Path) -> None:
    result = push_run(tiny_run_dir, REPO, include_data_files=True)

    files = hub.commits[0]["files"]
    for name in ("predictions-test.parquet", "predictions-validation.parquet", "report.html"):
        assert files[name] == (tiny_run_dir / name).read_bytes()
    assert result.left_out == {}


def test_other_parts_of_a_run_are_left_out_with_reasons(
    hub: StandInHub, tiny_run_dir: Path, tmp_path: Path
) -> None:
    run = shutil.copytree(tiny_run_dir, tmp_path / "run")
    (run / "checkpoints" / "checkpoint-4").mkdir(parents=True)
    (run / "checkpoints" / "checkpoint-4" / "optimizer.pt").write_bytes(b"state")
    (run / "tensorboard").mkdir()
    (run / "eval-new.json").write_text("{}")
    (run / "eval-new.predictions.parquet").write_bytes(b"rows")
    (run / "model" / "training_args.bin").write_bytes(b"pickle")

    result = push_run(run, REPO)

    assert result.left_out["checkpoints/"] == (
        "training state (weights and optimizer at a checkpoint), not needed to use the model"
    )
    assert result.left_out["tensorboard/"] == "TensorBoard logs of the training"
    assert "rows of your data" in result.left_out["eval-new.predictions.parquet"]
    assert "rows of your data" in result.left_out["eval-new.json"]
    assert result.left_out["model/training_args.bin"].startswith("pickled weights")
    assert not [name for name in hub.commits[0]["files"] if "checkpoint" in name or name.endswith(".bin")]


# ---------------------------------------------------------------- the card's metadata


def test_base_model_is_the_hub_id_of_a_preset_or_a_hub_model(tmp_path: Path) -> None:
    assert base_model("minilm") == "sentence-transformers/all-MiniLM-L6-v2"
    assert base_model("mpnet") == "sentence-transformers/all-mpnet-base-v2"
    assert base_model("FacebookAI/xlm-roberta-base") == "FacebookAI/xlm-roberta-base"
    assert base_model("bert-base-uncased") == "bert-base-uncased"
    assert base_model(str(tmp_path)) is None
    assert base_model("./models/bert") is None
    assert base_model("~/models/bert") is None


def test_the_card_names_a_hub_dataset_and_the_validation_results_without_a_test_file(tmp_path: Path) -> None:
    config = {
        "model": {"name": "minilm"},
        "data": {"train_file": "/home/someone/data/reviews.csv", "dataset": "stanfordnlp/imdb"},
    }
    metrics = {
        "task": "regression",
        "validation": {"rmse": 0.5, "mae": 0.25, "pearson": float("nan"), "spearman": 0.8},
        "test": None,
    }

    card = hub_model_card(tmp_path, "someone/scores", config, metrics)

    data = front_matter(card)
    assert data["base_model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert data["license"] == "apache-2.0"
    assert data["datasets"] == ["stanfordnlp/imdb"]
    [results] = data["model-index"][0]["results"]
    assert results["dataset"] == {
        "name": "stanfordnlp/imdb",
        "type": "stanfordnlp/imdb",
        "split": "validation",
    }
    assert [(m["type"], m["value"]) for m in results["metrics"]] == [
        ("rmse", 0.5),
        ("mae", 0.25),
        ("spearmanr", 0.8),
    ]
    assert "Text classifier trained with textfit" in card  # no README.md in the folder: a short body


# ---------------------------------------------------------------- errors


def test_no_token_is_an_error_before_any_request(
    hub: StandInHub, tiny_run_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HF_TOKEN")

    with pytest.raises(
        ConfigError, match=re.escape(f"no Hugging Face token to push to {REPO} with")
    ) as caught:
        push_run(tiny_run_dir, REPO)

    assert caught.value.hint == (
        "export HF_TOKEN=hf_... (a token with write access, from https://huggingface.co/settings/tokens), "
        "or run `hf auth login`"
    )
    assert hub.requests == []


def test_offline_mode_is_an_error_before_any_request(
    hub: StandInHub, tiny_run_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    with pytest.raises(HubError) as caught:
        push_run(tiny_run_dir, REPO)

    assert (
        caught.value.message == f"cannot push to {REPO} on {hub.url}: offline mode is on (HF_HUB_OFFLINE=1)"
    )
    assert (
        caught.value.hint
        == f"unset HF_HUB_OFFLINE, then push the run with: textfit push {tiny_run_dir} {REPO}"
    )
    assert hub.requests == []


def test_offline_mode_of_huggingface_hub_is_an_error_too(
    hub: StandInHub, tiny_run_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # set at import, as a user's environment does

    with pytest.raises(HubError, match=re.escape("offline mode is on (HF_HUB_OFFLINE=1)")):
        push_run(tiny_run_dir, REPO)
    assert hub.requests == []


def test_an_unreachable_hub_fails_at_once_with_the_retry_command(
    closed_port: str, tiny_run_dir: Path
) -> None:
    before = snapshot(tiny_run_dir)
    started = time.monotonic()

    with pytest.raises(HubError) as caught:
        push_run(tiny_run_dir, REPO, private=False)

    # Not a speed test: huggingface_hub's retry loops (5 retries, 23 s of waits) would show here.
    assert time.monotonic() - started < 10
    assert caught.value.message.startswith(f"cannot reach {closed_port} to push to {REPO} (")
    assert caught.value.hint == (
        "check the network connection (and HF_ENDPOINT, HTTPS_PROXY); the run folder is unchanged; "
        f"retry with: textfit push {tiny_run_dir} {REPO} --public"
    )
    assert snapshot(tiny_run_dir) == before


def test_a_hub_that_does_not_answer_fails_after_the_timeout(
    online: None, tiny_run_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import textfit.push

    monkeypatch.setattr(textfit.push, "TIMEOUT_SECONDS", 0.5)
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    with socket.socket() as silent:  # accepts connections (the kernel's backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        endpoint = f"http://127.0.0.1:{silent.getsockname()[1]}"

        with pytest.raises(HubError) as caught:
            push_run(tiny_run_dir, REPO, endpoint=endpoint)

    assert caught.value.message == f"no answer from {endpoint} within 0.5 s when pushing to {REPO}"
    assert caught.value.hint is not None
    assert caught.value.hint.startswith("check the network connection (and HF_ENDPOINT, HTTPS_PROXY)")


@pytest.mark.parametrize(
    ("status", "message", "hint"),
    [
        (
            401,
            "{url} refused the token (401 Unauthorized) when pushing to {repo}",
            "check HF_TOKEN, or run `hf auth login`",
        ),
        (
            403,
            "the token may not write to {repo} on {url} (403 Forbidden)",
            "use a token with write access to someone",
        ),
        (
            404,
            "{repo} was not found on {url} (404 Not Found)",
            "check the repo id (OWNER/NAME), the --revision",
        ),
        (500, "pushing to {repo} on {url} failed: HTTP 500", "the Hub may be busy or down"),
    ],
)
def test_refusals_of_the_hub_are_clear_errors(
    hub: StandInHub, tiny_run_dir: Path, status: int, message: str, hint: str
) -> None:
    hub.fail_with = status

    with pytest.raises(HubError, match=re.escape(message.format(url=hub.url, repo=REPO))) as caught:
        push_run(tiny_run_dir, REPO)

    assert caught.value.hint is not None
    assert caught.value.hint.startswith(hint)
    assert caught.value.hint.endswith(
        f"the run folder is unchanged; retry with: textfit push {tiny_run_dir} {REPO}"
    )
    assert len(hub.requests) <= 2  # no retry loop


def test_a_card_the_hub_refuses_is_a_clear_error(hub: StandInHub, tiny_run_dir: Path) -> None:
    hub.card_errors = ['"base_model" is not a valid model id']

    with pytest.raises(HubError) as caught:
        push_run(tiny_run_dir, REPO)

    assert caught.value.message == (
        f"{hub.url} refused the model card's metadata when pushing to {REPO}: "
        '- "base_model" is not a valid model id'
    )
    assert hub.commits == []


def test_unfinished_and_damaged_runs_are_refused(hub: StandInHub, tiny_run_dir: Path, tmp_path: Path) -> None:
    partial = shutil.copytree(tiny_run_dir, tmp_path / "run.partial")
    with pytest.raises(ModelError, match=re.escape(f"{partial} is an unfinished run")):
        push_run(partial, REPO)

    no_weights = shutil.copytree(tiny_run_dir, tmp_path / "no-weights")
    (no_weights / "model" / "model.safetensors").unlink()
    with pytest.raises(ModelError, match=re.escape("has no safetensors weights (model.safetensors)")):
        push_run(no_weights, REPO)

    no_metrics = shutil.copytree(tiny_run_dir, tmp_path / "no-metrics")
    (no_metrics / "metrics.json").unlink()
    with pytest.raises(ModelError, match=re.escape(f"{no_metrics} is not a finished textfit run")) as caught:
        push_run(no_metrics, REPO)
    assert caught.value.hint == "push the folder `textfit train` wrote (runs/<name> by default)"
    assert hub.requests == []


def test_a_repo_id_needs_an_owner(hub: StandInHub, tiny_run_dir: Path) -> None:
    with pytest.raises(
        ConfigError, match=re.escape("'tiny-classifier' is not a Hub repo id: give OWNER/NAME")
    ):
        push_run(tiny_run_dir, "tiny-classifier")
    assert hub.requests == []


def test_a_bad_repo_id_in_the_config_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=re.escape("hub.push_to_hub: 'a/b/c' is not a Hub repo id")):
        load_config(None, {"hub.push_to_hub": "a/b/c"})


def test_hub_settings_by_name() -> None:
    from textfit.config.loading import with_settings

    hub = with_settings(None, {"push_to_hub": REPO, "private": False}).hub
    assert (hub.push_to_hub, hub.private) == (REPO, False)


def test_tune_does_not_push(tmp_path: Path, binary_csv: Path) -> None:
    from textfit import tune

    cfg = load_config(
        None, {"data.train_file": binary_csv, "hub.push_to_hub": REPO, "output_dir": tmp_path / "t"}
    )
    with pytest.raises(ConfigError, match=re.escape("textfit tune does not push to the Hub")) as caught:
        tune(cfg)
    assert (
        caught.value.hint
        == f"leave out hub.push_to_hub; after the study: textfit push {tmp_path / 't' / 'best'} {REPO}"
    )


# ---------------------------------------------------------------- the command line

runner = CliRunner()


def test_textfit_push_prints_the_repo_and_the_files(hub: StandInHub, tiny_run_dir: Path) -> None:
    result = runner.invoke(app, ["push", str(tiny_run_dir), REPO, "--revision", "v1"])

    assert result.exit_code == 0, result.stderr
    assert f"pushed to {hub.url}/{REPO} (private, branch v1)" in result.stdout
    assert "  model.safetensors\n" in result.stdout
    assert "  README.md\n" in result.stdout
    assert (
        "left out:\n  predictions-test.parquet, predictions-validation.parquet, report.html: they hold rows"
        in result.stdout
    )
    assert f'pipeline("text-classification", model="{REPO}")' in result.stdout
    assert hub.commits[0]["revision"] == "v1"


def test_textfit_push_with_a_token_flag(
    hub: StandInHub, tiny_run_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HF_TOKEN")

    result = runner.invoke(app, ["push", str(tiny_run_dir), REPO, "--token", "hf_other", "--public"])

    assert result.exit_code == 0, result.stderr
    assert {request["authorization"] for request in hub.requests} == {"Bearer hf_other"}
    assert hub.repos[REPO]["private"] is False


def test_textfit_push_errors(closed_port: str, tiny_run_dir: Path) -> None:
    result = runner.invoke(app, ["push", str(tiny_run_dir), REPO])

    assert result.exit_code == 1
    assert result.stdout == ""
    assert f"error: cannot reach {closed_port} to push to {REPO}" in result.stderr
    assert f"retry with: textfit push {tiny_run_dir} {REPO}\n" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.fixture
def tiny_train_args(tiny_model_dir: Path, binary_csv: Path, tmp_path: Path) -> list[str]:
    """`textfit train` of the tiny model on the 2-class task into tmp_path/run."""
    train = {key: value for key, value in TINY_TRAIN_SETTINGS.items() if key != "max_length"}
    values = {
        "model": {"name": str(tiny_model_dir), "max_length": TINY_TRAIN_SETTINGS["max_length"]},
        "train": train,
    }
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(values), encoding="utf-8")
    return [
        "train",
        str(binary_csv),
        "--config",
        str(config),
        "--output-dir",
        str(tmp_path / "run"),
        "--quiet",
    ]


def test_train_push_to_hub_pushes_the_saved_run(
    hub: StandInHub, tiny_train_args: list[str], tmp_path: Path
) -> None:
    result = runner.invoke(app, [*tiny_train_args, "--push-to-hub", REPO])

    assert result.exit_code == 0, result.stderr
    run = tmp_path / "run"
    assert f"run saved to {run}" in result.stdout
    assert f"pushed to {hub.url}/{REPO} (private, branch main)" in result.stdout
    files = hub.commits[0]["files"]
    assert files["model.safetensors"] == (run / "model" / "model.safetensors").read_bytes()
    assert front_matter(files["README.md"].decode())["pipeline_tag"] == "text-classification"
    assert load_config(run / "run_config.yaml").hub.push_to_hub == REPO


def test_train_push_to_hub_with_the_hub_down_keeps_the_run(
    closed_port: str, tiny_train_args: list[str], tmp_path: Path
) -> None:
    result = runner.invoke(app, [*tiny_train_args, "--push-to-hub", REPO])

    run = tmp_path / "run"
    assert result.exit_code == 1
    assert f"run saved to {run}" in result.stdout  # the results are still shown
    assert f"error: cannot reach {closed_port} to push to {REPO}" in result.stderr
    assert f"the run is saved in {run}; push it with: textfit push {run} {REPO}\n" in result.stderr
    assert (run / "model" / "model.safetensors").is_file()
    assert (run / "metrics.json").is_file()
    assert not (tmp_path / "run.partial").exists()


def test_train_push_to_hub_without_a_token_fails_before_training(
    online: None, tiny_train_args: list[str], tmp_path: Path
) -> None:
    result = runner.invoke(app, [*tiny_train_args, "--push-to-hub", REPO])

    assert result.exit_code == 1
    assert result.stdout == ""
    assert f"error: no Hugging Face token to push to {REPO} with" in result.stderr
    assert "hint: export HF_TOKEN=hf_..." in result.stderr
    assert not (tmp_path / "run").exists()
    assert not (tmp_path / "run.partial").exists()


def test_train_push_to_hub_offline_fails_before_training(
    tiny_train_args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    result = runner.invoke(app, [*tiny_train_args, "--push-to-hub", REPO])

    assert result.exit_code == 1
    assert "offline mode is on (HF_HUB_OFFLINE=1)" in result.stderr
    assert (
        f"hint: unset HF_HUB_OFFLINE, then push the run with: textfit push {tmp_path / 'run'} {REPO}"
        in result.stderr
    )
    assert not (tmp_path / "run").exists()


@pytest.mark.subprocess
def test_only_the_main_process_of_a_distributed_run_pushes(
    hub: StandInHub, tiny_settings: dict[str, Any], binary_csv: Path, tmp_path: Path
) -> None:
    from test_distributed import _flags, _torchrun

    settings = {**tiny_settings, "batch_size": 2, "epochs": 2}
    done = _torchrun(
        "train", str(binary_csv), "-o", "run", "--push-to-hub", REPO, *_flags(settings), cwd=tmp_path
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.count(f"pushed to {hub.url}/{REPO}") == 1
    assert len(hub.commits) == 1
    assert (
        hub.commits[0]["files"]["model.safetensors"]
        == (tmp_path / "run" / "model" / "model.safetensors").read_bytes()
    )
