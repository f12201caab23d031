"""Writes a small site of HTML pages that link to each other, for html_links.py to work on.

The site is the same on every run (no randomness, no network): page K links to the pages before
and after it, to page 7K+3 (mod N), and to one external address that is only text. ``pages.txt``
lists the absolute path of every page, one per line, ready for
``conveyor-producer --source lines:DIR/pages.txt``.

    python3 examples/python/make_pages.py /tmp/site --count 50
"""

from __future__ import annotations

import argparse
from html import escape
from pathlib import Path

INDEX_FILE = "pages.txt"


def page_name(number: int) -> str:
    return f"page-{number:04d}.html"


def linked_pages(number: int, count: int) -> list[int]:
    """The other pages that page ``number`` links to, in ascending order."""
    return sorted({(number - 1) % count, (number + 1) % count, (7 * number + 3) % count} - {number})


def render_page(number: int, count: int) -> str:
    links = "\n".join(
        f'    <li><a href="{page_name(other)}">Page {other}</a></li>'
        for other in linked_pages(number, count)
    )
    return (
        "<!DOCTYPE html>\n"
        f"<html lang=\"en\">\n<head>\n  <meta charset=\"utf-8\">\n"
        f"  <title>Page {number} of {count}</title>\n</head>\n<body>\n"
        f"  <h1>Page {number}</h1>\n"
        f"  <p>{escape('A page of a generated site: <links> & more.')}</p>\n"
        f"  <ul>\n{links}\n"
        f'    <li><a href="https://example.com/reference/{number}">Reference</a></li>\n'
        "  </ul>\n</body>\n</html>\n"
    )


def make_site(directory: Path, count: int) -> list[Path]:
    """Writes ``count`` pages and the list of them into ``directory``; the pages' paths."""
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for number in range(count):
        path = directory.resolve() / page_name(number)
        path.write_text(render_page(number, count), encoding="utf-8")
        paths.append(path)
    (directory / INDEX_FILE).write_text("".join(f"{path}\n" for path in paths), encoding="utf-8")
    return paths


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("directory", type=Path, help="where to write the pages (created if needed)")
    parser.add_argument("--count", type=int, default=20, help="number of pages (default: 20)")
    args = parser.parse_args(argv)
    paths = make_site(args.directory, args.count)
    print(f"wrote {len(paths)} pages and {args.directory / INDEX_FILE}")


if __name__ == "__main__":
    main()
