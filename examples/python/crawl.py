"""A crawler: a queue that feeds itself, over a local site shaped like a tree (no network).

Each task is the path of an HTML page. The worker reads it, emits every page of the site it
links to as a new task, and returns the page's title. Its consumer takes from and emits into the
same queue (``--queue pages --emit-to pages``): the broker ends the run when the whole cycle is
empty, the way asyncio's ``join()`` returns once every ``put()`` has had its ``task_done()``.
``--make-site DIR`` writes such a site first (page 0 is the root; every page links to its
children and to an address outside the site, which is not followed)::

    python3 examples/python/crawl.py --make-site /tmp/tree --depth 3 --fanout 3
    conveyor-consumer --queue pages --emit-to pages --concurrency 8 \\
        --handler 'pipe:python3 examples/python/crawl.py'
    echo /tmp/tree/page-0.html | conveyor-producer --queue pages --source lines:- --results crawl.jsonl

A site whose pages link back to pages already seen would need the crawler to remember what it
visited (a shared set, a database): this one is a tree, so every page is reached once.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from conveyor import worker

try:
    from html_links import extract, read_page
except ImportError:  # run as a path: the examples' directory is then on sys.path
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from html_links import extract, read_page


def page_name(number: int) -> str:
    return f"page-{number}.html"


def make_site(directory: Path, depth: int, fanout: int) -> int:
    """Writes a tree of pages: page N links to pages N*fanout+1 .. N*fanout+fanout. How many."""
    directory.mkdir(parents=True, exist_ok=True)
    count = sum(fanout**level for level in range(depth + 1))
    for number in range(count):
        children = [c for c in range(number * fanout + 1, number * fanout + fanout + 1) if c < count]
        links = "".join(f'<li><a href="{page_name(c)}">page {c}</a></li>' for c in children)
        (directory / page_name(number)).write_text(
            f"<html><head><title>Page {number}</title></head><body><ul>{links}"
            '<li><a href="https://example.invalid/">elsewhere</a></li></ul></body></html>\n',
            encoding="utf-8",
        )
    return count


def handle(task: worker.Task) -> str:
    path = Path(task.text.strip())
    title, links = extract(read_page(str(path)))
    for href in links:
        if "://" not in href and href.endswith(".html"):  # the site's own pages only
            task.emit(str(path.parent / href))
    return title or ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--make-site", type=Path, help="write a site to crawl here, and exit")
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--fanout", type=int, default=3)
    args = parser.parse_args()
    if args.make_site:
        count = make_site(args.make_site, args.depth, args.fanout)
        print(f"{count} pages; start at {args.make_site / page_name(0)}")
        return
    worker.run(handle)


if __name__ == "__main__":
    main()
