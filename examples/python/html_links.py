"""Extracts the <title> and the links of HTML pages, one page per task.

Each task's payload is the path of an HTML file (make_pages.py writes a site to try it on, and a
list of its pages to use as the producer's source); the worker reads the file itself, which keeps
the tasks small. The output is JSON: ``{"page": PATH, "title": TITLE, "links": [HREF, ...]}``,
the hrefs as the page writes them. A missing or unreadable file fails the task.

The handler is an ``async def``: reading a file is blocking I/O, so it runs on a thread
(asyncio.to_thread) while the event loop goes on with other pages. With ``--emit``, each summary
is also emitted as a task for the next stage (run the consumer with ``--emit-to QUEUE``).

    conveyor-consumer --broker tcp://localhost:5556 --concurrency 16 \\
        --handler 'pipe:python3 examples/python/html_links.py'
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from conveyor import worker


class _PageParser(HTMLParser):
    """Collects the first <title>'s text and every <a href>, in document order."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.title: str | None = None
        self.links: list[str] = []
        self._title_parts: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            href = dict(attrs).get("href")
            if href:
                self.links.append(href)
        elif tag == "title" and self.title is None:
            self._title_parts = []

    def handle_data(self, data: str) -> None:
        if self._title_parts is not None:
            self._title_parts.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "title" and self._title_parts is not None:
            self.title = " ".join("".join(self._title_parts).split())
            self._title_parts = None


def extract(html: str) -> tuple[str | None, list[str]]:
    """The page's title (None without one) and the href of each of its links."""
    parser = _PageParser()
    parser.feed(html)
    parser.close()
    return parser.title, parser.links


def read_page(path: str) -> str:
    """The page's text; bytes that are not UTF-8 become U+FFFD rather than failing the page."""
    return Path(path).read_text(encoding="utf-8", errors="replace")


def summarize(path: str, html: str) -> dict[str, Any]:
    title, links = extract(html)
    return {"page": path, "title": title, "links": links}


def handle(task: worker.Task) -> dict[str, Any]:
    """The plain-function form: one page at a time per worker process."""
    path = task.text.strip()
    return summarize(path, read_page(path))


async def handle_async(task: worker.Task, *, emit: bool = False) -> dict[str, Any]:
    """The event-loop form: many pages at once, the reads on threads."""
    path = task.text.strip()
    summary = summarize(path, await asyncio.to_thread(read_page, path))
    if emit:
        task.emit(json.dumps(summary, ensure_ascii=False, separators=(",", ":")))
    return summary


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--emit", action="store_true",
                        help="also emit each summary as a task (for a consumer with --emit-to)")
    parser.add_argument("--concurrency", type=int, default=None,
                        help="pages at once in this process (default: all the consumer sends)")
    args = parser.parse_args(argv)
    if args.concurrency is not None and args.concurrency < 1:
        parser.error("--concurrency must be at least 1")
    worker.run(functools.partial(handle_async, emit=args.emit), concurrency=args.concurrency)


if __name__ == "__main__":
    main()
