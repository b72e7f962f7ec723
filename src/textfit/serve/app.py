"""The HTTP prediction service: `create_app(classifier)` (FastAPI), run by `textfit serve RUN_DIR`.

Requests are checked against limits and answered with 4xx JSON errors ({"error", "hint"}); texts
of concurrent requests are grouped into micro-batches (at most `max_batch` texts, waiting at most
`max_wait_ms` for more) that one worker thread runs through the model. Needs the `serve` extra.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from textfit.errors import ModelError
from textfit.serve.batching import MicroBatcher, predict_in_length_groups
from textfit.serve.page import PAGE_HTML, PAGE_JS
from textfit.serve.schema import (
    PredictRequest,
    PredictResponse,
    ServeError,
    prediction_response,
    request_texts,
)

try:  # at module level: FastAPI reads the endpoints' annotations from this module's names
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import HTMLResponse, JSONResponse, Response
    from starlette.exceptions import HTTPException

    HAVE_FASTAPI = True
except ImportError:  # create_app says how to install it
    HAVE_FASTAPI = False

logger = logging.getLogger(__name__)

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
API_KEY_ENV = "TEXTFIT_API_KEY"


@dataclass(frozen=True)
class ServeSettings:
    """Limits and batching of the service.

    Attributes:
        max_texts: most texts in one request (413 above).
        max_chars: most characters in one text (413 above).
        max_body_bytes: most bytes in one request body (413 above).
        max_batch: most texts the model runs at once, from several requests.
        max_wait_ms: how long the first request of a batch waits for others to join it.
        api_key: when set, /predict and /info need it (header `X-API-Key` or `Authorization: Bearer`).
    """

    max_texts: int = 256
    max_chars: int = 20_000
    max_body_bytes: int = 16 * 2**20
    max_batch: int = 64
    max_wait_ms: float = 5.0
    api_key: str | None = field(default=None, repr=False)


JSON_HINT = 'send a JSON object such as {"text": "..."} with Content-Type: application/json'


def _media_type(content_type: str | None) -> str | None:
    """The media type of a Content-Type header (`text/plain` of `text/plain; charset=utf-8`)."""
    return content_type.split(";")[0].strip().lower() if content_type else None


def _is_json(media_type: str | None) -> bool:
    """Whether FastAPI parses a body of this media type as JSON: none given, JSON or `+json`."""
    return media_type is None or (
        media_type == "application/json"
        or (media_type.startswith("application/") and media_type.endswith("+json"))
    )


def _json_kind(value: Any) -> str:
    """What a parsed JSON value is, in JSON's words: a list, a string, a number, ..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    kinds = {list: "a list", str: "a string", int: "a number", float: "a number"}
    return kinds.get(type(value), type(value).__name__)


def _validation_error(errors: Sequence[Any], content_type: str | None = None) -> ServeError:
    """A ServeError for FastAPI's validation errors of a request with that Content-Type.

    415 for a body that is not sent as JSON (FastAPI then hands the model raw bytes), 400 for one
    that is not valid JSON, 422 otherwise: an empty body, JSON that is not an object, or the
    fields' own problems.
    """
    media_type = _media_type(content_type)
    if not _is_json(media_type):
        return ServeError(
            415,
            f"the request body must be JSON, sent with Content-Type: application/json (not {media_type})",
            hint=JSON_HINT + "; with curl: -H 'Content-Type: application/json'",
        )
    for error in errors:
        if error.get("type") == "json_invalid":
            reason = (error.get("ctx") or {}).get("error", "")
            return ServeError(
                400,
                f"the request body is not valid JSON ({reason})"
                if reason
                else "the request body is not valid JSON",
                hint=JSON_HINT,
            )
        if tuple(error.get("loc", ())) == ("body",):  # the body as a whole
            if error.get("type") == "missing":
                return ServeError(422, "the request body is empty", hint=JSON_HINT)
            return ServeError(
                422,
                f"the request body must be a JSON object, not {_json_kind(error.get('input'))}",
                hint='{"text": "..."} or {"texts": ["...", "..."]}, optional "top_k"; see /docs',
            )
    problems = []
    for error in errors[:10]:
        where = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
        problems.append(f"{where}: {error.get('msg')}" if where else str(error.get("msg")))
    return ServeError(
        422, "; ".join(problems), hint='{"text": "..."} or {"texts": [...]}, optional "top_k"; see /docs'
    )


def _key_digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


def _check_api_key(headers: Any, settings: ServeSettings) -> None:
    """Compare the request's key with the service's in constant time (of equal-length digests)."""
    if settings.api_key is None:
        return
    given = headers.get("x-api-key")
    authorization = headers.get("authorization", "")
    if given is None and authorization[:7].lower() == "bearer ":
        given = authorization[7:].strip()
    if given is None:
        raise ServeError(401, "this service needs an API key", hint="send it as X-API-Key: KEY")
    if not hmac.compare_digest(_key_digest(given), _key_digest(settings.api_key)):
        raise ServeError(401, "wrong API key", hint="send the key the server was started with")


class _BodyLimit:
    """ASGI middleware: 413 for a request body over max_bytes, whether announced or streamed.

    The body is read here (FastAPI reads it whole anyway) and handed on once it is within the limit.
    """

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length", b"0")
        if not length.isdigit() or int(length) > self.max_bytes:
            await self._refuse(send)
            return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_bytes:
                await self._refuse(send)
                return
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Any:
            nonlocal replayed
            if replayed:
                return await receive()  # waits for the disconnect, as Starlette expects
            replayed = True
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

        await self.app(scope, replay, send)

    async def _refuse(self, send: Any) -> None:
        body = json.dumps(
            {
                "error": f"the request body is over {self.max_bytes:,} bytes",
                "hint": "send fewer or shorter texts per request",
            }
        ).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


# ---------------------------------------------------------------- the app


def run_info(run_dir: Path) -> dict[str, Any]:
    """What /info tells about a run: its model name and the metrics measured at training time."""
    import yaml

    info: dict[str, Any] = {"run": run_dir.name, "model": None, "metrics": {}}
    config_file, metrics_file = run_dir / "run_config.yaml", run_dir / "metrics.json"
    if config_file.is_file():
        info["model"] = (
            (yaml.safe_load(config_file.read_text(encoding="utf-8")) or {}).get("model", {}).get("name")
        )
    if metrics_file.is_file():
        metrics = json.loads(metrics_file.read_text(encoding="utf-8"))
        for split in ("validation", "test"):
            if isinstance(metrics.get(split), dict):
                info["metrics"][split] = {
                    key: metrics[split][key]
                    for key in ("samples", "accuracy", "f1_macro", "f1_weighted")
                    if key in metrics[split]
                }
    return info


def create_app(
    classifier: Any, settings: ServeSettings | None = None, info: dict[str, Any] | None = None
) -> Any:
    """The FastAPI app serving a classifier.

    Args:
        classifier: a `Classifier` (or `OnnxClassifier`): `labels`, `columns`, `predict_proba`.
        settings: limits, batching and the API key.
        info: more to show at /info (see `run_info`).

    Returns:
        A FastAPI app: POST /predict, GET /health, GET /info, the page at /, OpenAPI at /docs.

    Raises:
        ModelError: FastAPI is not installed.
    """
    if not HAVE_FASTAPI:
        raise ModelError("FastAPI is not installed", hint='pip install "textfit[serve]"')
    settings = settings or ServeSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        batcher = MicroBatcher(
            partial(predict_in_length_groups, classifier),
            settings.max_batch,
            settings.max_wait_ms,
        )
        app.state.batcher = batcher
        worker = asyncio.create_task(batcher.run())
        yield
        worker.cancel()
        batcher.executor.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(title="textfit", summary="A fine-tuned text classifier", lifespan=lifespan)
    app.add_middleware(_BodyLimit, max_bytes=settings.max_body_bytes)
    _add_error_handlers(app, settings)
    _add_routes(app, classifier, settings, info or {})
    _add_page(app)
    return app


def _error_response(err: ServeError) -> Any:
    """A refusal as JSON ({"error", "hint"}), with its status."""
    content = {"error": err.error, **({"hint": err.hint} if err.hint else {})}
    headers = {"WWW-Authenticate": "Bearer"} if err.status == 401 else None
    return JSONResponse(content, status_code=err.status, headers=headers)


def _add_error_handlers(app: FastAPI, settings: ServeSettings) -> None:
    """Every error as JSON: refusals, invalid requests, unknown routes, crashes; the API key check first."""

    @app.exception_handler(ServeError)
    async def serve_error(request: Request, err: ServeError) -> Any:
        return _error_response(err)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, err: RequestValidationError) -> Any:
        return _error_response(_validation_error(err.errors(), request.headers.get("content-type")))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, err: HTTPException) -> Any:
        return _error_response(ServeError(err.status_code, str(err.detail), hint="see /docs for the API"))

    @app.exception_handler(Exception)
    async def crashed(request: Request, err: Exception) -> Any:
        logger.exception("prediction failed")
        return _error_response(ServeError(500, "the model failed on this request; the server log has why"))

    @app.middleware("http")  # added last, so it runs first: before the body is read or parsed
    async def require_key(request: Request, call_next: Any) -> Any:
        if request.url.path in ("/predict", "/info"):
            try:
                _check_api_key(request.headers, settings)
            except ServeError as err:
                return _error_response(err)
        return await call_next(request)


def _add_routes(app: FastAPI, classifier: Any, settings: ServeSettings, info: dict[str, Any]) -> None:
    """POST /predict, GET /health and GET /info."""
    labels = list(classifier.labels)
    pair_model = bool(classifier.columns.get("text_pair_column"))

    @app.post("/predict", response_model=PredictResponse)
    async def predict(body: PredictRequest, request: Request) -> PredictResponse:
        """Labels, probabilities and the top_k labels of one text or a batch."""
        texts, pairs = request_texts(body, pair_model, settings.max_texts, settings.max_chars)
        if not texts:  # no texts, no predictions (as Classifier.predict([]))
            return PredictResponse(predictions=[])
        batcher: MicroBatcher = request.app.state.batcher  # set by lifespan before any request
        return prediction_response(await batcher.submit(texts, pairs), labels, body.top_k)

    @app.get("/health")
    async def health() -> dict[str, Any]:
        """Whether the service is up, and what the page needs to know."""
        return {"status": "ok", "api_key_required": settings.api_key is not None, "text_pair": pair_model}

    @app.get("/info")
    async def info_route() -> dict[str, Any]:
        """The labels, the model and its metrics at training time, the limits."""
        return {
            **info,
            "labels": labels,
            "text_pair": pair_model,
            "backend": type(classifier).__name__,
            "precision": classifier.precision,
            "limits": {
                "max_texts": settings.max_texts,
                "max_chars": settings.max_chars,
                "max_body_bytes": settings.max_body_bytes,
                "max_batch": settings.max_batch,
                "max_wait_ms": settings.max_wait_ms,
            },
        }


def _add_page(app: FastAPI) -> None:
    """The page at / and its script, under a strict content security policy."""
    security = {"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY"}

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page() -> Any:
        policy = "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; connect-src 'self'"
        return HTMLResponse(PAGE_HTML, headers={**security, "Content-Security-Policy": policy})

    @app.get("/page.js", include_in_schema=False)
    async def page_script() -> Any:
        return Response(PAGE_JS, media_type="text/javascript", headers=security)


def serve(
    classifier: Any,
    host: str = "127.0.0.1",
    port: int = 8000,
    settings: ServeSettings | None = None,
    info: dict[str, Any] | None = None,
    log_level: str = "info",
) -> None:
    """Serve a classifier over HTTP until interrupted (uvicorn); see `create_app`."""
    import uvicorn

    settings = settings or ServeSettings()
    if host not in LOOPBACK_HOSTS:
        logger.warning(
            "serving on %s: anyone who can reach this machine on port %d can use the model%s",
            host,
            port,
            "" if settings.api_key else f" (set an API key: --api-key or ${API_KEY_ENV})",
        )
    uvicorn.run(
        create_app(classifier, settings, info),
        host=host,
        port=port,
        log_level=log_level,
        access_log=log_level == "debug",
        server_header=False,
    )
