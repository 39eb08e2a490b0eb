"""A markdown plugin whose config picks how it makes documents; for the SDK tests.

config.mode:
  "frame"     job.dataframe(): one document per row (columns name, score) with the row's
              score and the mean score; fails unless job.num_rows (when known) == the rows
  "list"      a plain list of config.count documents (default 1200)
  "bad_item"  yields one document, then config.item (default a str), which is neither a
              MarkdownDocument nor a dict
  "slow"      a generator of config.count documents (default 600) "doc <n> attempt <a>";
              on attempt 1 it pauses a little every 100 and, after config.hold_after (500)
              documents, waits (up to 30 s) so that the test can kill the process
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

from ango_plugins_sdk import MarkdownDocument, MarkdownJob, MarkdownPlugin, run


def frame(job: MarkdownJob[Any]) -> Iterator[MarkdownDocument]:
    import pandas

    df = job.dataframe()
    job.logger.info("num_rows=%s rows=%d columns=%s", job.num_rows, len(df), list(df.columns))
    if job.num_rows is not None and job.num_rows != len(df):
        raise AssertionError(f"num_rows {job.num_rows} != {len(df)} rows in the DataFrame")
    scores = pandas.to_numeric(df["score"])
    mean = float(scores.mean())
    for name, score in zip(df["name"], scores, strict=True):
        yield MarkdownDocument(
            markdown=f"# {name}\n\nscore: {score:g}\n\nmean score: {mean:.2f}",
            external_id=name,
        )


def slow(job: MarkdownJob[Any]) -> Iterator[MarkdownDocument]:
    count = int(job.config.get("count", 600))
    hold_after = int(job.config.get("hold_after", 500))
    for n in range(count):
        if job.attempt == 1:
            if n % 100 == 0:
                time.sleep(0.05)
            if n == hold_after:
                job.logger.info("holding after %d documents", n)
                job.wait_cancelled(30)
        yield MarkdownDocument(markdown=f"doc {n} attempt {job.attempt}", external_id=f"doc-{n:04}")


def make_documents(job: MarkdownJob[Any]) -> Any:
    mode = job.config.get("mode")
    if mode == "frame":
        return frame(job)
    if mode == "list":
        count = int(job.config.get("count", 1200))
        return [
            MarkdownDocument(markdown=f"item {n}", external_id=f"item-{n:04}") for n in range(count)
        ]
    if mode == "bad_item":
        return iter([MarkdownDocument(markdown="fine"), job.config.get("item", "# not a doc")])
    if mode == "slow":
        return slow(job)
    raise ValueError(f"unknown mode {mode!r}")


if __name__ == "__main__":
    run(
        MarkdownPlugin(callback=make_documents, concurrency=int(os.environ.get("CONCURRENCY", "4")))
    )
