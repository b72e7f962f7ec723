"""Push a saved run to the Hugging Face Hub: the files that go (and those that stay, and why).

Also the Hub's errors as TextfitErrors, and training followed by a push (hub.push_to_hub). The run
folder is only read; its model card comes from textfit.training.card.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import logging
import os
import shlex
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from textfit.config.loading import load_config
from textfit.config.schema import RunConfig, repo_id_problem
from textfit.errors import ConfigError, HubError, ModelError, TextfitError
from textfit.runs.layout import LABEL_ERRORS_FILE, MARKER
from textfit.runs.model import model_folder
from textfit.tokenization import ProgressCallback
from textfit.training.card import hub_model_card, local_paths
from textfit.training.train import TrainResult, resolve_run, train_run
from textfit.version import __version__

logger = logging.getLogger(__name__)

# Seconds the first request (the repo's info) may take: an unreachable Hub fails within this.
TIMEOUT_SECONDS = 10.0
# Files of a run folder that hold rows of the user's data, or come from evaluating on the user's
# files: uploaded only with include_data_files.
DATA_FILES = ("predictions-*.parquet", "report*.html", "eval-*", "figures-*", LABEL_ERRORS_FILE)
DATA_REASON = "they hold rows of your data (texts, labels, predictions); --include-data-files uploads them"
# Why other parts of a run folder stay behind.
OTHER_REASONS = {
    "checkpoints": "training state (weights and optimizer at a checkpoint), not needed to use the model",
    "tensorboard": "TensorBoard logs of the training",
    "optuna.db": "a tuning study",
    "onnx": "the ONNX export (textfit export)",
}
OTHER_REASON = "not part of what textfit push uploads"
PICKLE_REASON = "pickled weights (loading them can run code); the safetensors weights are uploaded"
# The run's own files uploaded beside the model (metrics.json without its "checks" section: it
# quotes rows of the data and local paths).
RUN_FILES = ("metrics.json", "run_config.yaml", "log_history.json")


@dataclass
class PushResult:
    """A run pushed to the Hub: where it went, what was uploaded, and what was left out (and why)."""

    repo_id: str
    url: str  # the repo's page
    commit_url: str
    revision: str  # the branch committed to
    private: bool
    uploaded: list[str]  # paths in the repo
    left_out: dict[str, str] = field(default_factory=dict)  # path in the run folder -> why


@dataclass
class UploadPlan:
    """The files of one push: path in the repo -> a file of the run, or bytes built in memory."""

    files: dict[str, Path | bytes]
    left_out: dict[str, str]

    def size(self) -> int:
        """The bytes to upload."""
        return sum(
            len(item) if isinstance(item, bytes) else item.stat().st_size for item in self.files.values()
        )


def retry_command(run_dir: Path, repo_id: str, private: bool = True, revision: str | None = None) -> str:
    """The `textfit push` command that pushes run_dir to repo_id again."""
    command = f"textfit push {shlex.quote(str(run_dir))} {repo_id}"
    command += "" if private else " --public"
    return command + (f" --revision {shlex.quote(revision)}" if revision else "")


def hub_endpoint(endpoint: str | None = None) -> str:
    """The Hub's address: endpoint, else $HF_ENDPOINT (read now, not at import), else huggingface.co."""
    from huggingface_hub import constants

    return (endpoint or os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")


def _offline_variable() -> str | None:
    """The variable that turns the Hub's offline mode on (HF_HUB_OFFLINE or TRANSFORMERS_OFFLINE), or None."""
    from huggingface_hub import constants

    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        if os.environ.get(name, "").strip().upper() in {"1", "ON", "YES", "TRUE"}:
            return name
    return "HF_HUB_OFFLINE" if constants.is_offline_mode() else None


def check_push_ready(
    run_dir: Path,
    repo_id: str,
    *,
    token: str | None = None,
    private: bool = True,
    endpoint: str | None = None,
) -> str:
    """Check without a request that a push can be tried: a repo id, online, a token. Returns the token.

    Raises:
        ConfigError: the repo id is not OWNER/NAME, or there is no token.
        HubError: offline mode is on (HF_HUB_OFFLINE=1).
    """
    from huggingface_hub import get_token

    problem = repo_id_problem(repo_id)
    if problem:
        raise ConfigError(problem, hint="for example: textfit push runs/reviews your-name/reviews-classifier")
    variable = _offline_variable()
    if variable:
        raise HubError(
            f"cannot push to {repo_id} on {hub_endpoint(endpoint)}: offline mode is on ({variable}=1)",
            hint=f"unset {variable}, then push the run with: {retry_command(run_dir, repo_id, private)}",
        )
    token = token or get_token()
    if not token:
        raise ConfigError(
            f"no Hugging Face token to push to {repo_id} with",
            hint="export HF_TOKEN=hf_... (a token with write access, from "
            "https://huggingface.co/settings/tokens), or run `hf auth login`",
        )
    return token


def _file_names(value: Any, paths: set[str]) -> Any:
    """The nested value with each of `paths` reduced to its file name (they name the user's folders)."""
    if isinstance(value, dict):
        return {key: _file_names(item, paths) for key, item in value.items()}
    if isinstance(value, list):
        return [_file_names(item, paths) for item in value]
    return Path(value).name if isinstance(value, str) and value in paths else value


def _left_out_reason(name: str) -> str:
    if any(fnmatch.fnmatch(name, pattern) for pattern in DATA_FILES):
        return DATA_REASON
    return OTHER_REASONS.get(name, OTHER_REASON)


def plan_upload(run_dir: Path, repo_id: str, include_data_files: bool = False) -> UploadPlan:
    """The files a push uploads from a finished run, and those it leaves out with the reason.

    At the repo's root: the model folder's files (so `pipeline(model=REPO_ID)` loads it) with the Hub
    model card as README.md, metrics.json, run_config.yaml (local paths reduced to file names),
    log_history.json and figures/. Nothing is written to the run folder.

    Raises:
        ModelError: the run is unfinished (RUN.partial) or damaged (weights, tokenizer, metrics).
    """
    folder = model_folder(run_dir)
    if folder != run_dir / "model" or not (run_dir / "metrics.json").is_file():
        raise ModelError(
            f"{run_dir} is not a finished textfit run: it has no model/ folder and metrics.json",
            hint="push the folder `textfit train` wrote (runs/<name> by default)",
        )
    try:
        metrics = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ModelError(
            f"{run_dir / 'metrics.json'} cannot be read ({err})",
            hint="the run may have been damaged: train it again",
        ) from None
    config = load_config(run_dir / "run_config.yaml").model_dump(mode="json")
    paths = local_paths(config)

    files: dict[str, Path | bytes] = {}
    left_out: dict[str, str] = {}
    for path in sorted(folder.rglob("*")):
        name = path.relative_to(folder).as_posix()
        if not path.is_file() or name == "README.md":
            continue
        if path.suffix in (".bin", ".pkl", ".pt", ".pth"):
            left_out[f"model/{name}"] = PICKLE_REASON
        else:
            files[name] = path
    files["README.md"] = hub_model_card(folder, repo_id, config, metrics).encode()
    public_metrics = _file_names({key: value for key, value in metrics.items() if key != "checks"}, paths)
    files["metrics.json"] = (json.dumps(public_metrics, indent=2) + "\n").encode()
    public_config = _file_names(config, paths)
    files["run_config.yaml"] = yaml.safe_dump(public_config, sort_keys=False, allow_unicode=True).encode()
    for path in sorted(run_dir.iterdir()):
        name = path.name
        if name in ("model", MARKER, *RUN_FILES):  # the marker: textfit wrote this folder
            if name == "log_history.json":
                files[name] = path
            continue
        reason = _left_out_reason(name)
        if name == "figures" or (reason == DATA_REASON and include_data_files):
            found = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
            files.update({item.relative_to(run_dir).as_posix(): item for item in found})
        else:
            left_out[name + ("/" if path.is_dir() else "")] = reason
    return UploadPlan(files, left_out)


def _transport_errors() -> tuple[type[Exception], type[Exception]]:
    """The timeout and the transport error classes of the HTTP client that huggingface_hub uses.

    Which client that is, is huggingface_hub's own detail (httpx in 1.x, httpx2 in 2.x), so it is not
    imported by name: HfHubHTTPError derives from the client's HTTPError, whose module has both.
    """
    from huggingface_hub.errors import HfHubHTTPError

    client = sys.modules[HfHubHTTPError.__mro__[1].__module__]
    return client.TimeoutException, client.TransportError


@contextlib.contextmanager
def _hub_errors(repo_id: str, endpoint: str, retry: str) -> Iterator[None]:
    """Turn what huggingface_hub raises for a failed request into a HubError naming repo and endpoint."""
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    timeout_error, transport_error = _transport_errors()

    again = f"the run folder is unchanged; retry with: {retry}"
    try:
        yield
    except OfflineModeIsEnabled:
        raise HubError(
            f"cannot push to {repo_id} on {endpoint}: offline mode is on (HF_HUB_OFFLINE=1)",
            hint=f"unset HF_HUB_OFFLINE; {again}",
        ) from None
    except HfHubHTTPError as err:
        status = err.response.status_code
        said = f": {err.server_message}" if err.server_message else ""
        if status == 401:
            raise HubError(
                f"{endpoint} refused the token (401 Unauthorized) when pushing to {repo_id}{said}",
                hint="check HF_TOKEN, or run `hf auth login`, with a token that can write "
                f"(https://huggingface.co/settings/tokens); {again}",
            ) from None
        if status == 403:
            raise HubError(
                f"the token may not write to {repo_id} on {endpoint} (403 Forbidden){said}",
                hint=f"use a token with write access to {repo_id.split('/')[0]}, or a repo id in your own "
                f"namespace; {again}",
            ) from None
        if status == 404:
            raise HubError(
                f"{repo_id} was not found on {endpoint} (404 Not Found){said}",
                hint=f"check the repo id (OWNER/NAME), the --revision and the token's access; {again}",
            ) from None
        raise HubError(
            f"pushing to {repo_id} on {endpoint} failed: HTTP {status}{said}",
            hint=f"the Hub may be busy or down; {again}",
        ) from None
    except ValueError as err:  # create_commit's answer to a README.md whose metadata the Hub refuses
        if not isinstance(err.__cause__, HfHubHTTPError):
            raise
        raise HubError(
            f"{endpoint} refused the model card's metadata when pushing to {repo_id}: "
            + " ".join(str(err).split("\n")[1:]),
            hint=f"the card's metadata comes from the run's settings (base model, data set); {again}",
        ) from None
    except timeout_error:
        raise HubError(
            f"no answer from {endpoint} within {TIMEOUT_SECONDS:g} s when pushing to {repo_id}",
            hint=f"check the network connection (and HF_ENDPOINT, HTTPS_PROXY); {again}",
        ) from None
    except transport_error as err:
        raise HubError(
            f"cannot reach {endpoint} to push to {repo_id} ({err or type(err).__name__})",
            hint=f"check the network connection (and HF_ENDPOINT, HTTPS_PROXY); {again}",
        ) from None


def push_run(
    run_dir: str | Path,
    repo_id: str,
    *,
    token: str | None = None,
    private: bool = True,
    revision: str | None = None,
    commit_message: str | None = None,
    endpoint: str | None = None,
    include_data_files: bool = False,
) -> PushResult:
    """Upload a finished run to a Hub model repo in one commit: model, card, metrics, settings, figures.

    The repo is created when missing (private unless private=False); a public repo that exists is
    refused while private is True. Files that hold rows of the data (predictions, reports) stay
    behind unless include_data_files. The run folder is never changed.

    Args:
        run_dir: the folder `textfit train` wrote.
        repo_id: OWNER/NAME of the model repo.
        token: a Hub token with write access; default HF_TOKEN, else the `hf auth login` token.
        private: create the repo private.
        revision: the branch to commit to (created from main when missing); default main.
        commit_message: default "Upload <run name> with textfit".
        endpoint: the Hub's address; default $HF_ENDPOINT, else https://huggingface.co.
        include_data_files: also upload predictions-*.parquet, report*.html and evaluation files.

    Returns:
        PushResult with the repo's URL, the commit, the files uploaded and those left out.

    Raises:
        ConfigError: the repo id is not OWNER/NAME, or there is no token.
        ModelError: the run is unfinished or damaged.
        HubError: offline, the Hub cannot be reached, or it refused the push (naming the repo,
            the endpoint and the command to retry).
    """
    run_dir = Path(run_dir)
    endpoint = hub_endpoint(endpoint)
    plan = plan_upload(run_dir, repo_id, include_data_files)
    token = check_push_ready(run_dir, repo_id, token=token, private=private, endpoint=endpoint)
    retry = retry_command(run_dir, repo_id, private, revision)
    logger.info("pushing %d files (%.1f MB) to %s/%s", len(plan.files), plan.size() / 1e6, endpoint, repo_id)
    with _hub_errors(repo_id, endpoint, retry):
        api, is_private = _open_repo(repo_id, endpoint, token, private, revision)
        commit = _commit(
            api,
            repo_id,
            plan,
            commit_message or f"Upload {run_dir.name} with textfit {__version__}",
            revision,
        )
    return PushResult(
        repo_id=repo_id,
        url=f"{endpoint}/{repo_id}",
        commit_url=commit.commit_url,
        revision=revision or "main",
        private=bool(is_private),
        uploaded=sorted(plan.files),
        left_out=plan.left_out,
    )


def _open_repo(
    repo_id: str, endpoint: str, token: str, private: bool, revision: str | None
) -> tuple[Any, bool | None]:
    """Create the repo (and the branch) where missing.

    Returns:
        The Hub client, and whether the repo is private.

    Raises:
        HubError: the repo exists and is public while private is asked for.
    """
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError

    api = HfApi(endpoint=endpoint, token=token)
    try:  # the first request, with a timeout: an unreachable Hub fails here, fast
        is_private: bool | None = api.model_info(repo_id, timeout=TIMEOUT_SECONDS).private
    except HfHubHTTPError as err:
        if not isinstance(err, RepositoryNotFoundError) and err.response.status_code != 404:
            raise
        api.create_repo(repo_id, private=private, exist_ok=True)
        is_private = private
    if private and is_private is False:
        raise HubError(
            f"{repo_id} already exists on {endpoint} and is public: pushing would publish this run",
            hint="pass --public (hub.private: false) to push to it anyway, or choose another repo id",
        )
    if revision and revision != "main":
        api.create_branch(repo_id, branch=revision, exist_ok=True)
    return api, is_private


def _commit(api: Any, repo_id: str, plan: UploadPlan, message: str, revision: str | None) -> Any:
    """Upload the plan's files in one commit; returns the Hub's CommitInfo."""
    from huggingface_hub import CommitOperationAdd

    return api.create_commit(
        repo_id,
        [CommitOperationAdd(path, content) for path, content in plan.files.items()],
        commit_message=message,
        revision=revision,
    )


def train_and_push(
    cfg: RunConfig | None = None,
    *,
    overwrite: bool = False,
    progress: bool = True,
    callbacks: list[Any] | None = None,
    tokenize_progress: ProgressCallback | None = None,
    resume: str | Path | None = None,
    inputs: Sequence[str | Path] = (),
    tables: Mapping[str, Any] | None = None,
    **settings: Any,
) -> TrainResult:
    """`textfit.train`: fine-tune and save the run, then with hub.push_to_hub push it to the Hub.

    The training is textfit.training.train.train, whose arguments these are.

    Whether a push can be tried (a repo id, online, a token) is checked before training. A push
    that fails keeps the saved run: the result's push_error says why (retry with `textfit push`).

    Returns:
        TrainResult with the run folder and the validation (and test) metrics; with
        hub.push_to_hub, the push (`pushed`), or why it failed (`push_error`).

    Raises:
        DataError, ModelError, ConfigError, HubError: naming what is wrong and how to fix it.
    """
    run = resolve_run(
        cfg, overwrite=overwrite, resume=resume, inputs=inputs, settings=settings, tables=tables
    )
    hub = run.cfg.hub
    if hub.push_to_hub:  # no token, or offline: say so before an hour of training
        check_push_ready(run.run_dir, hub.push_to_hub, private=hub.private)
    result = train_run(run, progress=progress, callbacks=callbacks, tokenize_progress=tokenize_progress)
    if hub.push_to_hub and result.main_process:  # a failure keeps the saved run
        try:
            result.pushed = push_run(run.run_dir, hub.push_to_hub, private=hub.private)
        except TextfitError as err:
            result.push_error = err
    return result
