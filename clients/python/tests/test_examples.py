"""The workers in examples/python: their handlers, and each run as the consumer would run it."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import sys
import tempfile
import unittest
from pathlib import Path
from types import ModuleType
from unittest import mock

import support
from support import EXAMPLES_DIR, WorkerProcess, task_lines

from conveyor.worker import Retry, Task


def load_example(name: str) -> ModuleType:
    """Imports examples/python/NAME.py by path (the folder is not a package)."""
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES_DIR / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


json_fields = load_example("json_fields")
html_links = load_example("html_links")
make_pages = load_example("make_pages")
write_files = load_example("write_files")


def run_example(script: str, lines: list[bytes], *args: str) -> tuple[list[dict], int]:
    """Runs ``python3 examples/python/SCRIPT ARGS`` as a pipe: worker; (answers, exit status)."""
    command = [sys.executable, str(EXAMPLES_DIR / script), *args]
    with WorkerProcess("", command=command) as process:
        process.send(*lines)
        rest, status = process.finish()
        return [json.loads(line) for line in rest], status


class JsonFieldsTest(support.TestCase):
    def test_picks_a_dotted_field(self) -> None:
        record = {"user": {"name": "Ada", "tags": ["x"]}}
        self.assertEqual(json_fields.pick(record, "user.name"), "Ada")
        self.assertEqual(json_fields.pick(record, "user.tags"), ["x"])

    def test_a_missing_field_says_where_the_path_stops(self) -> None:
        cases = {"user.email": "no field 'user.email': 'user' has no 'email'",
                 "account.id": "no field 'account.id': the record has no 'account'",
                 "user.name.first": "no field 'user.name.first': 'user.name' has no 'first'"}
        for path, message in cases.items():
            with self.subTest(path=path), self.assertRaises(json_fields.MissingField) as caught:
                json_fields.pick({"user": {"name": "Ada"}}, path)
            self.assertEqual(str(caught.exception), message)

    def test_handler_returns_the_field_of_the_payload(self) -> None:
        handle = json_fields.make_handler("user")
        self.assertEqual(handle(Task("p1:0", payload='{"user": {"id": 3}}')), {"id": 3})

    def test_runs_over_the_sample_records(self) -> None:
        records = (EXAMPLES_DIR / "samples" / "records.jsonl").read_text().splitlines()
        lines = task_lines(*records, "not json")
        answers, status = run_example("json_fields.py", lines, "user.name")
        self.assertEqual(status, 0)
        self.assertEqual(len(answers), 21)
        self.assertEqual(answers[0], {"id": "p1:0", "output": "Ada Lovelace"})
        errors = [a["error"] for a in answers if "error" in a]
        self.assertEqual(errors, ["MissingField: no field 'user.name': 'user' has no 'name'",
                                  "MissingField: no field 'user.name': the record has no 'user'",
                                  "JSONDecodeError: Expecting value: line 1 column 1 (char 0)"])


class HtmlLinksTest(support.TestCase):
    def test_extracts_the_title_and_the_links(self) -> None:
        html = """<html><head><title> Hello &amp;
            world </title></head><body><a href="a.html">A</a><a name="x">no href</a>
            <p><A HREF='https://example.com/b?x=1&amp;y=2'>B</A></p>
            <title>second</title></body></html>"""
        self.assertEqual(html_links.extract(html),
                         ("Hello & world", ["a.html", "https://example.com/b?x=1&y=2"]))

    def test_a_page_without_title_or_links(self) -> None:
        self.assertEqual(html_links.extract("<p>just text"), (None, []))

    def test_both_handlers_read_the_page_at_the_payload_path(self) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            page = Path(tmp) / "p.html"
            page.write_bytes(b"<title>T\xff</title><a href='x'>x</a>")
            expected = {"page": str(page), "title": "T\ufffd", "links": ["x"]}
            self.assertEqual(html_links.handle(Task("p1:0", payload=f"{page}\n")), expected)
            task = Task("p1:1", payload=str(page))
            self.assertEqual(asyncio.run(html_links.handle_async(task, emit=True)), expected)
            self.assertEqual([json.loads(e) for e in task.emitted], [expected])

    def test_a_missing_page_fails(self) -> None:
        with self.assertRaises(FileNotFoundError):
            asyncio.run(html_links.handle_async(Task("p1:0", payload="/no/such/page.html")))

    def test_runs_over_a_generated_site(self) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            paths = make_pages.make_site(Path(tmp), 12)
            lines = task_lines(*map(str, paths))
            answers, status = run_example("html_links.py", lines)
            self.assertEqual(status, 0)
            summaries = {a["id"]: json.loads(a["output"]) for a in answers}
            self.assertEqual(len(summaries), 12)
            for summary in summaries.values():
                page = Path(summary["page"])
                self.assertRegex(summary["title"], r"^Page \d+ of 12$")
                internal = [link for link in summary["links"] if not link.startswith("https://")]
                self.assertTrue(internal)
                self.assertTrue(all((page.parent / link).is_file() for link in internal), summary)


class MakePagesTest(support.TestCase):
    def test_the_site_is_the_same_on_every_run(self) -> None:
        with tempfile.TemporaryDirectory() as first, tempfile.TemporaryDirectory() as second:
            make_pages.make_site(Path(first), 30)
            make_pages.make_site(Path(second), 30)
            names = sorted(os.listdir(first))
            self.assertEqual(names, sorted(os.listdir(second)))
            self.assertEqual(len(names), 31)  # 30 pages and pages.txt
            for name in names:
                if name != make_pages.INDEX_FILE:
                    self.assertEqual((Path(first) / name).read_bytes(),
                                     (Path(second) / name).read_bytes())

    def test_the_index_lists_every_page(self) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            paths = make_pages.make_site(Path(tmp), 5)
            listed = (Path(tmp) / make_pages.INDEX_FILE).read_text().splitlines()
            self.assertEqual(listed, [str(path) for path in paths])
            self.assertTrue(all(Path(p).is_absolute() and Path(p).is_file() for p in listed))

    def test_a_page_never_links_to_itself(self) -> None:
        for count in (1, 2, 3, 50):
            for number in range(count):
                self.assertNotIn(number, make_pages.linked_pages(number, count))


class WriteFilesTest(support.TestCase):
    def setUp(self) -> None:
        super().setUp()
        self.tmp = tempfile.TemporaryDirectory()
        self.out = Path(self.tmp.name) / "out"
        self.handle = write_files.make_handler(self.out)

    def tearDown(self) -> None:
        self.tmp.cleanup()

    def test_writes_the_payload_and_returns_the_path(self) -> None:
        path = self.handle(Task("p1:41/0", payload=b"\x00bytes\xff"))
        self.assertEqual(path, str(self.out / "task-p1%3A41%2F0"))
        self.assertEqual(Path(path).read_bytes(), b"\x00bytes\xff")

    def test_a_redelivered_task_writes_the_same_file(self) -> None:
        first = self.handle(Task("p1:7", attempt=1, payload="same"))
        second = self.handle(Task("p1:7", attempt=2, payload="same"))
        self.assertEqual(first, second)
        self.assertEqual(os.listdir(self.out), ["task-p1%3A7"])  # no temporary file left over

    def test_file_names_are_safe_and_distinct(self) -> None:
        ids = ["p1:1", "p1/1", "p1%3A1", "..", ".", "../../etc/passwd", "a b", "x" * 1000,
               "x" * 999]
        names = [write_files.file_name(task_id) for task_id in ids]
        self.assertEqual(len(set(names)), len(ids))
        for name in names:
            self.assertTrue(name.startswith("task-") and "/" not in name and len(name) <= 200, name)

    def test_a_failed_write_asks_for_a_retry_and_leaves_nothing(self) -> None:
        self.out.mkdir()
        disk_full = OSError(28, "No space left on device")
        with mock.patch.object(write_files.os, "fsync", side_effect=disk_full):
            with self.assertRaisesRegex(Retry, "cannot write .*task-p1%3A0: No space left"):
                self.handle(Task("p1:0", payload="x"))
        self.assertEqual(os.listdir(self.out), [])

    def test_the_module_handler_reads_the_directory_from_the_environment(self) -> None:
        with mock.patch.dict(os.environ, {write_files.OUT_DIR_ENV: str(self.out)}):
            path = write_files.handle(Task("p1:0", payload="x"))
            self.assertEqual(path, str(self.out / "task-p1%3A0"))
        with mock.patch.dict(os.environ, {write_files.OUT_DIR_ENV: ""}):
            with self.assertRaisesRegex(RuntimeError, "set CONVEYOR_OUT_DIR"):
                write_files.handle(Task("p1:0"))

    def test_runs_as_a_worker(self) -> None:
        answers, status = run_example("write_files.py", task_lines("zero", "one"),
                                      "--out-dir", str(self.out))
        self.assertEqual(status, 0)
        self.assertEqual(answers, [{"id": "p1:0", "output": str(self.out / "task-p1%3A0")},
                                   {"id": "p1:1", "output": str(self.out / "task-p1%3A1")}])
        self.assertEqual((self.out / "task-p1%3A1").read_text(), "one")


if __name__ == "__main__":
    unittest.main()
