"""`textfit serve`: a live server on loopback, spoken to over real HTTP.

The app runs in uvicorn in a thread (one subprocess test covers the command line); requests go
through http.client, so the bytes on the wire are what a client sends.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from browser import run_chromium
from textfit import Classifier
from textfit.serve.app import ServeSettings, create_app, run_info
from textfit.serve.batching import MicroBatcher, predict_in_length_groups

POSITIVE, NEGATIVE = "a good great day", "the awful sad movie"


@contextlib.contextmanager
def live_server(app: Any) -> Iterator[int]:
    """Serve app with uvicorn on a free loopback port, in a thread; yields the port."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive(), "the server stopped while starting"
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.01)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def call(
    port: int,
    method: str,
    path: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    raw: bytes | None = None,
) -> tuple[int, dict[str, str], Any]:
    """One HTTP request; returns status, headers (lower-case names) and the decoded JSON (or text)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    data = raw if raw is not None else None if body is None else json.dumps(body).encode()
    sent = {"Content-Type": "application/json", **(headers or {})} if data is not None else headers or {}
    connection.request(method, path, body=data, headers=sent)
    response = connection.getresponse()
    payload = response.read()
    connection.close()
    found = {name.lower(): value for name, value in response.getheaders()}
    if found.get("content-type", "").startswith("application/json"):
        return response.status, found, json.loads(payload)
    return response.status, found, payload.decode()


@pytest.fixture(scope="module")
def classifier(tiny_run_dir: Path) -> Classifier:
    return Classifier.load(tiny_run_dir, precision="fp32", device="cpu")


@pytest.fixture(scope="module")
def server(classifier: Classifier, tiny_run_dir: Path) -> Iterator[int]:
    settings = ServeSettings(max_texts=8, max_chars=100, max_body_bytes=20_000)
    with live_server(create_app(classifier, settings, run_info(tiny_run_dir))) as port:
        yield port


def test_one_text_and_a_batch_get_the_classifiers_predictions(server: int, classifier: Classifier) -> None:
    texts = [POSITIVE, NEGATIVE, "bad terrible", "happy lovely"]
    expected = classifier.predict_proba(texts)

    status, _, one = call(server, "POST", "/predict", {"text": POSITIVE, "top_k": 1})
    batch_status, _, batch = call(server, "POST", "/predict", {"texts": texts})

    assert (status, batch_status) == (200, 200)
    assert [p["label"] for p in batch["predictions"]] == ["positive", "negative", "negative", "positive"]
    for prediction, row in zip(batch["predictions"], expected, strict=True):
        assert [item["label"] for item in prediction["top_k"]] == [
            classifier.labels[i] for i in np.argsort(-row)
        ]
        assert [item["probability"] for item in prediction["top_k"]] == pytest.approx(
            sorted(row, reverse=True)
        )
        assert prediction["probability"] == pytest.approx(row.max())
    assert one["predictions"] == [{**batch["predictions"][0], "top_k": batch["predictions"][0]["top_k"][:1]}]


@pytest.mark.parametrize(
    ("body", "status", "error", "hint"),
    [
        (
            {"texts": ["good"] * 9},
            413,
            "9 texts in one request; the most is 8",
            "send the texts in requests of at most 8",
        ),
        (
            {"texts": ["good", "g" * 101]},
            413,
            "text 1 has 101 characters; the most is 100",
            "send a shorter text (the model reads only its first few hundred tokens)",
        ),
        ({"text": "  \n"}, 422, "text is empty", "send texts with at least one visible character"),
        ({"texts": ["good", ""]}, 422, "text 1 is empty", "send texts with at least one visible character"),
        ({}, 422, "give either 'text' or 'texts'", '{"text": "..."} or {"texts": ["...", "..."]}'),
        (
            {"text": "good", "texts": ["bad"]},
            422,
            "give either 'text' or 'texts'",
            '{"text": "..."} or {"texts": ["...", "..."]}',
        ),
        (
            {"texts": ["good", 3]},
            422,
            "texts.1: Input should be a valid string",
            '{"text": "..."} or {"texts": [...]}, optional "top_k"; see /docs',
        ),
        (
            {"text": "good", "top_k": "2"},
            422,
            "top_k: Input should be a valid integer",
            '{"text": "..."} or {"texts": [...]}, optional "top_k"; see /docs',
        ),
        (
            {"text": "good", "top_k": 0},
            422,
            "top_k: Input should be greater than or equal to 1",
            '{"text": "..."} or {"texts": [...]}, optional "top_k"; see /docs',
        ),
        (
            {"txt": "good"},
            422,
            "txt: Extra inputs are not permitted",
            '{"text": "..."} or {"texts": [...]}, optional "top_k"; see /docs',
        ),
        (
            ["good"],
            422,
            "the request body must be a JSON object, not a list",
            '{"text": "..."} or {"texts": ["...", "..."]}, optional "top_k"; see /docs',
        ),
        (
            "good",
            422,
            "the request body must be a JSON object, not a string",
            '{"text": "..."} or {"texts": ["...", "..."]}, optional "top_k"; see /docs',
        ),
        (
            {"text": "good", "text_pair": "bad"},
            422,
            "this model reads single texts: leave out 'text_pair'",
            None,
        ),
    ],
)
def test_bad_requests_get_a_4xx_that_says_what_is_wrong(
    server: int, body: Any, status: int, error: str, hint: str | None
) -> None:
    got_status, headers, answer = call(server, "POST", "/predict", body)

    assert got_status == status
    assert headers["content-type"] == "application/json"
    assert answer == {"error": error, **({"hint": hint} if hint else {})}


JSON_HINT = 'send a JSON object such as {"text": "..."} with Content-Type: application/json'


@pytest.mark.parametrize(
    ("content_type", "raw"),
    [
        ("text/plain", b"good great"),
        ("text/plain; charset=utf-8", b'{"text": "good great"}'),
        ("application/x-www-form-urlencoded", b'{"text": "good great"}'),  # curl -d without -H
        ("multipart/form-data; boundary=x", b"--x--"),
    ],
)
def test_a_body_not_sent_as_json_gets_415_saying_to_send_json(
    server: int, content_type: str, raw: bytes
) -> None:
    status, headers, answer = call(
        server, "POST", "/predict", raw=raw, headers={"Content-Type": content_type}
    )

    assert status == 415
    assert headers["content-type"] == "application/json"
    media_type = content_type.split(";")[0]
    assert answer == {
        "error": "the request body must be JSON, sent with Content-Type: application/json "
        f"(not {media_type})",
        "hint": JSON_HINT + "; with curl: -H 'Content-Type: application/json'",
    }


def test_an_empty_body_or_json_null_says_what_to_send(server: int) -> None:
    empty = call(server, "POST", "/predict", raw=b"")
    null = call(server, "POST", "/predict", raw=b"null")
    vendor_json = call(
        server,
        "POST",
        "/predict",
        raw=b'{"text": "good"}',
        headers={"Content-Type": "application/vnd.x+json"},
    )

    assert empty[0] == 422
    assert empty[2] == {"error": "the request body is empty", "hint": JSON_HINT}
    assert null[0] == 422
    assert null[2]["error"] == "the request body must be a JSON object, not null"
    assert vendor_json[0] == 200, "a +json media type is JSON"


def test_no_texts_get_no_predictions(server: int) -> None:
    assert call(server, "POST", "/predict", {"texts": []})[:3:2] == (200, {"predictions": []})


def test_malformed_json_oversized_bodies_and_unknown_routes(server: int) -> None:
    malformed = call(server, "POST", "/predict", raw=b'{"text": "good",}')
    too_large = call(server, "POST", "/predict", raw=json.dumps({"text": "g" * 30_000}).encode())
    unknown = call(server, "GET", "/predict")

    assert malformed[0] == 400
    assert malformed[2]["error"].startswith("the request body is not valid JSON (")
    assert malformed[2]["hint"] == (
        'send a JSON object such as {"text": "..."} with Content-Type: application/json'
    )
    assert too_large[:1] == (413,)
    assert too_large[2] == {
        "error": "the request body is over 20,000 bytes",
        "hint": "send fewer or shorter texts per request",
    }
    assert unknown[0] == 405
    assert unknown[2] == {"error": "Method Not Allowed", "hint": "see /docs for the API"}


def test_a_streamed_body_over_the_limit_is_refused(server: int) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", server, timeout=60)
    chunks = [b'{"text": "', b"g" * 15_000, b"g" * 15_000, b'"}']
    connection.request("POST", "/predict", body=iter(chunks), encode_chunked=True)
    response = connection.getresponse()

    assert response.status == 413
    assert json.loads(response.read())["error"] == "the request body is over 20,000 bytes"


def test_health_info_and_openapi(server: int, tiny_run_dir: Path) -> None:
    metrics = json.loads((tiny_run_dir / "metrics.json").read_text(encoding="utf-8"))

    assert call(server, "GET", "/health")[2] == {
        "status": "ok",
        "api_key_required": False,
        "text_pair": False,
    }
    _, _, info = call(server, "GET", "/info")
    assert info["labels"] == ["negative", "positive"]
    assert info["run"] == tiny_run_dir.name
    assert info["metrics"]["test"]["f1_macro"] == metrics["test"]["f1_macro"]
    assert info["limits"]["max_texts"] == 8
    assert (info["backend"], info["precision"]) == ("Classifier", "fp32")
    _, _, schema = call(server, "GET", "/openapi.json")
    assert set(schema["paths"]) == {"/predict", "/health", "/info"}
    assert "additionalProperties" in json.dumps(schema["components"]["schemas"]["PredictRequest"])


def test_concurrent_requests_share_batches_and_each_gets_its_own_answer(
    classifier: Classifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Requests that queue up while the model is busy run in full batches of at most max_batch texts.

    No clock decides the outcome: the model holds its first batch until every other request is queued.
    """
    texts = [
        f"{word} {filler}" for word in ("good", "awful", "happy", "sad") for filler in ("day", "movie", "it")
    ]  # similar lengths: each batch runs through the model as one length group
    expected = [p.label for p in classifier.predict(texts)]
    batches: list[list[str]] = []
    model_busy, release_model, all_queued = threading.Event(), threading.Event(), threading.Event()

    class HeldModel:
        labels, columns, precision = classifier.labels, classifier.columns, "fp32"

        def predict_proba(self, texts: list[str], pairs: list[str] | None) -> Any:
            batches.append(texts)
            if len(batches) == 1:  # hold the first batch until the rest have queued behind it
                model_busy.set()
                assert release_model.wait(60), "the test never released the model"
            return classifier.predict_proba(texts, pairs)

    class QueueWatcher(MicroBatcher):
        """The service's batcher; tells the test once len(texts) - 1 requests wait in its queue."""

        def __init__(self, *args: Any) -> None:
            super().__init__(*args)
            put = self.queue.put_nowait

            def put_and_count(job: Any) -> None:
                put(job)
                if self.queue.qsize() == len(texts) - 1:
                    all_queued.set()

            self.queue.put_nowait = put_and_count  # type: ignore[method-assign]

    monkeypatch.setattr("textfit.serve.app.MicroBatcher", QueueWatcher)
    answers: dict[int, Any] = {}
    settings = ServeSettings(max_batch=4, max_wait_ms=50)
    with live_server(create_app(HeldModel(), settings)) as port:

        def ask(index: int) -> None:
            answers[index] = call(port, "POST", "/predict", {"text": texts[index]})

        threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(texts))]
        try:
            threads[0].start()
            assert model_busy.wait(60), "the first request never reached the model"
            for thread in threads[1:]:
                thread.start()
            assert all_queued.wait(60), "the other requests never queued up"
        finally:
            release_model.set()
            for thread in threads:
                if thread.ident is not None:
                    thread.join(60)

    assert [answers[i][2]["predictions"][0]["label"] for i in range(len(texts))] == expected
    assert batches[0] == texts[:1]
    # the 11 requests queued behind the first batch run as full batches of max_batch, then the rest
    assert [len(batch) for batch in batches] == [1, 4, 4, 3]
    assert sorted(text for batch in batches for text in batch) == sorted(texts)


def test_a_micro_batch_runs_in_groups_of_similar_length(classifier: Classifier) -> None:
    calls: list[list[str]] = []

    class Recording:
        labels = classifier.labels

        def predict_proba(self, texts: list[str], pairs: list[str] | None) -> Any:
            calls.append(texts)
            return classifier.predict_proba(texts, pairs)

    long_text = " ".join(["good great"] * 40)
    texts = ["bad day", long_text, "sad it", "happy day", long_text + " lovely"]

    probabilities = predict_in_length_groups(Recording(), texts, None)

    assert calls == [["sad it", "bad day", "happy day"], [long_text, long_text + " lovely"]]
    np.testing.assert_allclose(probabilities, classifier.predict_proba(texts), atol=1e-5)


def test_api_key(classifier: Classifier) -> None:
    with live_server(create_app(classifier, ServeSettings(api_key="s3cret-key"))) as port:
        missing = call(port, "POST", "/predict", {"text": POSITIVE})
        malformed = call(port, "POST", "/predict", raw=b"{not json")
        wrong = call(port, "POST", "/predict", {"text": POSITIVE}, {"X-API-Key": "s3cret-kez"})
        info = call(port, "GET", "/info")
        header = call(port, "POST", "/predict", {"text": POSITIVE}, {"X-API-Key": "s3cret-key"})
        bearer = call(port, "POST", "/predict", {"text": POSITIVE}, {"Authorization": "Bearer s3cret-key"})
        health = call(port, "GET", "/health")

    assert (missing[0], missing[1]["www-authenticate"]) == (401, "Bearer")
    assert missing[2] == {"error": "this service needs an API key", "hint": "send it as X-API-Key: KEY"}
    assert wrong[2] == {"error": "wrong API key", "hint": "send the key the server was started with"}
    assert (wrong[0], info[0], malformed[0]) == (401, 401, 401)
    assert header[0] == bearer[0] == 200
    assert header[2]["predictions"][0]["label"] == "positive"
    assert health[:1] == (200,)
    assert health[2]["api_key_required"] is True


def test_pair_models_take_text_pairs(tiny_pair_run_dir: Path) -> None:
    pairs = Classifier.load(tiny_pair_run_dir, precision="fp32", device="cpu")
    premises, hypotheses = ["pizza soup", "bread cake"], ["good great", "awful sad"]
    with live_server(create_app(pairs)) as port:
        both = call(port, "POST", "/predict", {"texts": premises, "text_pairs": hypotheses})
        one = call(port, "POST", "/predict", {"text": premises[0], "text_pair": hypotheses[0]})
        unpaired = call(port, "POST", "/predict", {"texts": premises})
        uneven = call(port, "POST", "/predict", {"texts": premises, "text_pairs": hypotheses[:1]})
        health = call(port, "GET", "/health")

    expected = [p.label for p in pairs.predict(premises, hypotheses)]
    assert [p["label"] for p in both[2]["predictions"]] == expected
    assert one[2]["predictions"][0]["label"] == expected[0]
    assert unpaired[:1] == (422,)
    assert unpaired[2] == {
        "error": "this model reads text pairs: give 'text_pairs' too",
        "hint": "text_pairs as well",
    }
    assert uneven[2] == {"error": "2 texts but 1 text pairs", "hint": "give one pair per text"}
    assert health[2]["text_pair"] is True


def test_onnx_backend_serves_the_labels_pytorch_gives(
    tiny_run_dir: Path, binary_test_csv: Path, classifier: Classifier, tmp_path: Path
) -> None:
    import shutil

    from textfit.inference.onnx import OnnxClassifier, export_onnx

    run_dir = tmp_path / "run"
    shutil.copytree(tiny_run_dir, run_dir)
    export_onnx(run_dir, binary_test_csv, int8=False)
    texts = [POSITIVE, NEGATIVE, "bad terrible", "happy lovely"]
    with live_server(create_app(OnnxClassifier.load(run_dir))) as port:
        status, _, answer = call(port, "POST", "/predict", {"texts": texts})
        _, _, info = call(port, "GET", "/info")

    assert status == 200
    assert [p["label"] for p in answer["predictions"]] == [p.label for p in classifier.predict(texts)]
    assert (info["backend"], info["precision"]) == ("OnnxClassifier", "fp32")


def test_opening_it_to_the_network_warns(
    classifier: Classifier, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import uvicorn

    from textfit.serve.app import serve

    started: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: started.update(kwargs))
    with caplog.at_level(logging.WARNING, logger="textfit.serve.app"):
        serve(classifier, host="0.0.0.0", port=8123)
        serve(classifier)

    assert caplog.messages == [
        "serving on 0.0.0.0: anyone who can reach this machine on port 8123 can use the model "
        "(set an API key: --api-key or $TEXTFIT_API_KEY)"
    ]
    assert started["host"] == "127.0.0.1"


# ---------------------------------------------------------------- the page


@pytest.mark.subprocess
def test_the_page_shows_labels_with_bars_in_chromium(classifier: Classifier, tmp_path: Path) -> None:
    from PIL import Image

    hostile = "<img src=x onerror=\"document.title='pwned'\">"

    class Hostile:
        labels, columns, precision = [hostile, "positive & more"], {}, "fp32"

        def predict_proba(self, texts: list[str], pairs: list[str] | None) -> Any:
            return classifier.predict_proba(texts, pairs)

    with live_server(create_app(Hostile())) as port:
        status, headers, page = call(port, "GET", "/")
        url = f"http://127.0.0.1:{port}/?text=good+great+happy"
        dom = run_chromium(tmp_path / "profile-dom", "--virtual-time-budget=10000", "--dump-dom", url)
        screenshot = tmp_path / "page.png"
        run_chromium(
            tmp_path / "profile-shot", "--virtual-time-budget=10000", f"--screenshot={screenshot}", url
        )

    assert status == 200
    assert "script-src 'self'" in headers["content-security-policy"]
    assert "<script>" not in page
    assert 'data-state="shown"' in dom, dom[-2000:]
    assert "&lt;img src=x onerror=\"document.title='pwned'\"&gt;" in dom
    assert "positive &amp; more" in dom
    assert "<img" not in dom
    assert "pwned</title>" not in dom
    widths = [float(w) for w in re.findall(r'class="bar" style="width: ([\d.]+)%', dom)]
    assert len(widths) == 2
    assert sum(widths) == pytest.approx(100, abs=0.2)
    assert widths[0] >= widths[1]
    with Image.open(screenshot) as shot:
        rgb = np.asarray(shot.convert("RGB"), dtype=np.int16)
    bar_blue = (
        (abs(rgb[..., 0] - 0x24) < 12) & (abs(rgb[..., 1] - 0x57) < 12) & (abs(rgb[..., 2] - 0xC5) < 12)
    )
    assert bar_blue.sum() > 2000, "no probability bar drawn"
    assert (rgb < 100).all(axis=-1).sum() > 500, "no text drawn"


# ---------------------------------------------------------------- the command line


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.subprocess
def test_textfit_serve_command(tiny_run_dir: Path) -> None:
    port = free_port()
    env = {**os.environ, "TEXTFIT_API_KEY": "from-the-env"}
    command = [
        sys.executable,
        "-m",
        "textfit",
        "serve",
        str(tiny_run_dir),
        "--port",
        str(port),
        "--threads",
        "1",
    ]
    process = subprocess.Popen(
        [*command, "-q"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, process.communicate()[1]
            assert time.monotonic() < deadline, "textfit serve did not start"
            with contextlib.suppress(OSError):
                if call(port, "GET", "/health")[0] == 200:
                    break
            time.sleep(0.2)
        refused = call(port, "POST", "/predict", {"text": POSITIVE})
        answered = call(port, "POST", "/predict", {"text": POSITIVE}, {"X-API-Key": "from-the-env"})
    finally:
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=30)

    assert refused[0] == 401
    assert answered[2]["predictions"][0]["label"] == "positive"
    assert stdout == ""
    assert f"serving {tiny_run_dir} on http://127.0.0.1:{port}/" in stderr
    assert process.returncode == 0, stderr
