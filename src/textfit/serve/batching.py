"""Micro-batching for the service: the texts of concurrent requests run through the model together.

`MicroBatcher` groups requests into batches for one model thread; `predict_in_length_groups` runs a
batch in groups of texts of similar length.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

PredictProba = Callable[[list[str], list[str] | None], NDArray[np.float32]]


@dataclass
class _Job:
    texts: list[str]
    pairs: list[str] | None
    future: asyncio.Future[NDArray[np.float32]]


class MicroBatcher:
    """Groups the texts of concurrent requests into batches that one thread runs through the model.

    The first waiting request opens a batch; others join it until it holds max_batch texts or
    max_wait_ms have passed. A request larger than max_batch runs as a batch of its own.
    """

    def __init__(self, predict_proba: PredictProba, max_batch: int, max_wait_ms: float) -> None:
        """Wrap a function from (texts, text pairs or None) to probabilities (texts, labels)."""
        self.predict_proba = predict_proba
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1000
        self.queue: asyncio.Queue[_Job] = asyncio.Queue()
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="textfit-model")

    async def submit(self, texts: list[str], pairs: list[str] | None) -> NDArray[np.float32]:
        """Probabilities of texts, computed in the next batch."""
        future: asyncio.Future[NDArray[np.float32]] = asyncio.get_running_loop().create_future()
        await self.queue.put(_Job(texts, pairs, future))
        return await future

    async def _collect(self, first: _Job) -> tuple[list[_Job], _Job | None]:
        """The jobs of one batch starting with first, and a job that did not fit (for the next)."""
        loop = asyncio.get_running_loop()
        jobs, count = [first], len(first.texts)
        deadline = loop.time() + self.max_wait
        while count < self.max_batch:
            timeout = deadline - loop.time()
            try:
                job = (
                    self.queue.get_nowait()
                    if timeout <= 0
                    else await asyncio.wait_for(self.queue.get(), timeout)
                )
            except (asyncio.QueueEmpty, asyncio.TimeoutError):
                break
            if count + len(job.texts) > self.max_batch:
                return jobs, job
            jobs.append(job)
            count += len(job.texts)
        return jobs, None

    async def run(self) -> None:
        """Run batches until cancelled."""
        loop = asyncio.get_running_loop()
        carried: _Job | None = None
        while True:
            first = carried or await self.queue.get()
            jobs, carried = await self._collect(first)
            jobs = [job for job in jobs if not job.future.done()]  # a client that went away
            if not jobs:
                continue
            texts = [text for job in jobs for text in job.texts]
            pairs = None if jobs[0].pairs is None else [pair for job in jobs for pair in job.pairs or []]
            try:
                probabilities = await loop.run_in_executor(self.executor, self.predict_proba, texts, pairs)
            except Exception as err:  # every request of the batch gets the error (a 500)
                for job in jobs:
                    if not job.future.done():
                        job.future.set_exception(err)
                continue
            start = 0
            for job in jobs:
                if not job.future.done():
                    job.future.set_result(probabilities[start : start + len(job.texts)])
                start += len(job.texts)


# A text's length in characters counts this much more, for its special tokens and per-text work.
_LENGTH_OFFSET = 20
# A forward pass holds texts whose padded length is at most this many times their real length.
MAX_PADDING_RATIO = 1.3


def predict_in_length_groups(
    classifier: Any, texts: list[str], pairs: list[str] | None
) -> NDArray[np.float32]:
    """Probabilities of a micro-batch, run in groups of texts of similar length.

    Texts of concurrent requests differ in length; padded together, a short text costs as much as
    the longest one, and one long text makes the whole batch slower than the texts one by one.
    Groups are cut (by characters, before tokenizing) where padding would exceed MAX_PADDING_RATIO.
    """
    lengths = [len(text) + (len(pairs[i]) if pairs else 0) + _LENGTH_OFFSET for i, text in enumerate(texts)]
    groups: list[list[int]] = []
    real = 0
    for index in sorted(range(len(texts)), key=lengths.__getitem__):  # each text the longest so far
        if groups and (len(groups[-1]) + 1) * lengths[index] > MAX_PADDING_RATIO * (real + lengths[index]):
            groups.append([])
            real = 0
        if not groups:
            groups.append([])
        groups[-1].append(index)
        real += lengths[index]
    probabilities = np.zeros((len(texts), len(classifier.labels)), dtype=np.float32)
    for group in groups:
        probabilities[group] = classifier.predict_proba(
            [texts[i] for i in group], [pairs[i] for i in group] if pairs else None
        )
    return probabilities
