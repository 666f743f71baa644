"""Turning failures into dead-letter records.

Two kinds of failure reach the dead-letter sink:
- expected ones (HTTP 404, a feed that is not XML …): the stage builds a ``DeadLetter`` itself
  with :func:`dead_letter` and emits it on its ``dead`` output;
- unexpected exceptions on untrusted input, caught by Beam's ``with_exception_handling``;
  those arrive as ``(element, (exc_type, repr, traceback))`` and :class:`ToDeadLetter` turns
  them into ``DeadLetter`` records.
"""

from __future__ import annotations

from typing import Any

import apache_beam as beam

from transforms.records import Article, DeadLetter, FeedEntry, FeedSpec, FetchedPage, utc_now

# Long tracebacks or page snippets would bloat the sink; the first lines say what happened.
MAX_MESSAGE_CHARS = 2000


def dead_letter(
    stage: str,
    url: str,
    error_type: str,
    message: str,
    http_status: int | None = None,
    feed_url: str | None = None,
) -> DeadLetter:
    return DeadLetter(
        stage=stage,
        url=url,
        error_type=error_type,
        error_message=message[:MAX_MESSAGE_CHARS],
        http_status=http_status,
        failed_at=utc_now(),
        feed_url=feed_url,
    )


def element_urls(element: Any) -> tuple[str, str | None]:
    """(url, feed_url) of any record a stage consumes, for the dead-letter row."""
    if isinstance(element, FeedSpec):
        return element.url, element.url
    if isinstance(element, FeedEntry):
        return element.url or element.link, element.feed_url
    if isinstance(element, FetchedPage):
        return element.entry.url, element.entry.feed_url
    if isinstance(element, Article):
        return element.url, element.feed_url
    if isinstance(element, tuple) and element:
        return element_urls(element[-1])
    return str(element)[:200], None


def _exception_type_name(exc_type: Any) -> str:
    return getattr(exc_type, "__name__", str(exc_type))


class _ToDeadLetterFn(beam.DoFn):
    def __init__(self, stage: str) -> None:
        self._stage = stage
        self._count = beam.metrics.Metrics.counter(stage, "dead_letter")

    def process(self, failure: tuple[Any, tuple[Any, str, Any]]):
        element, (exc_type, exc_repr, _traceback) = failure
        # A batching stage fails a whole list at once; every element in it gets its own row.
        for item in element if isinstance(element, list) else [element]:
            url, feed_url = element_urls(item)
            self._count.inc()
            yield dead_letter(
                self._stage, url, _exception_type_name(exc_type), exc_repr, None, feed_url
            )


class ToDeadLetter(beam.PTransform):
    """Beam's failed-element tuples → ``DeadLetter`` records of one stage."""

    def __init__(self, stage: str) -> None:
        super().__init__()
        self._stage = stage

    def expand(self, failures):
        return failures | "ToDeadLetter" >> beam.ParDo(_ToDeadLetterFn(self._stage))


DEAD = "dead"  # tag a DoFn uses for the DeadLetter records it builds itself
_FAILED = "failed"  # tag of the elements whose processing raised


class ParDoWithDeadLetters(beam.PTransform):
    """Run a stage's DoFn; return ``(ok, dead)`` with both kinds of failure as ``DeadLetter``.

    The DoFn yields its results on the main output and ``TaggedOutput(DEAD, DeadLetter)`` for the
    failures it expects; any exception it raises on an element is caught by Beam and converted.
    """

    def __init__(self, fn: beam.DoFn, stage: str) -> None:
        super().__init__()
        self._fn = fn
        self._stage = stage

    def expand(self, pcoll):
        # Declaring the DEAD tag's type keeps Beam from warning about an undeclared output.
        pardo = beam.ParDo(self._fn).with_output_types(Any, **{DEAD: DeadLetter})
        results = pcoll | "Process" >> pardo.with_outputs(DEAD, main="ok").with_exception_handling(
            dead_letter_tag=_FAILED
        )
        raised = results[_FAILED] | "RaisedToDeadLetter" >> ToDeadLetter(self._stage)
        dead = (results[DEAD], raised) | "MergeDead" >> beam.Flatten()
        return results["ok"], dead
