"""conveyor.worker: the pipe: protocol as the consumer will speak it, over real subprocesses."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import signal
import sys
import threading
import time
import unittest
from typing import Any

import support
from support import TESTS_DIR, TIMEOUT, WorkerProcess, by_id, run_worker, task_line, task_lines

from conveyor import worker
from conveyor.worker import Task, parse_task


class TaskTest(support.TestCase):
    def test_text_is_the_payload_decoded_with_replacement(self) -> None:
        task = Task("p1:0", payload=b"caf\xc3\xa9 \xff")
        self.assertEqual(task.text, "café \ufffd")

    def test_json_parses_the_payload(self) -> None:
        self.assertEqual(Task("p1:0", payload='{"a": [1, 2]}').json(), {"a": [1, 2]})
        with self.assertRaises(json.JSONDecodeError):
            Task("p1:0", payload="not json").json()

    def test_headers_default_to_an_empty_dict(self) -> None:
        self.assertEqual(Task("p1:0").headers, {})

    def test_emit_takes_str_and_bytes_only(self) -> None:
        task = Task("p1:0")
        task.emit("text")
        task.emit(b"\xff")
        self.assertEqual(task.emitted, [b"text", b"\xff"])
        with self.assertRaisesRegex(TypeError, "expected str or bytes, got int"):
            task.emit(1)  # type: ignore[arg-type]

    def test_emit_after_the_answer_is_an_error(self) -> None:
        task = Task("p1:0")
        worker._success(task, "done")
        with self.assertRaisesRegex(RuntimeError, "p1:0 is already answered"):
            task.emit("late")

    def test_repr_does_not_dump_the_payload(self) -> None:
        self.assertIn("payload=<5000 bytes>", repr(Task("p1:0", payload=b"x" * 5000)))


class ParseTaskTest(support.TestCase):
    def test_reads_every_field_and_ignores_unknown_keys(self) -> None:
        line = task_line(41, "hi", attempt=2, headers={"k": "v"}, future_key=[1])
        task = parse_task(line)
        self.assertEqual((task.id, task.seq, task.attempt, task.payload, task.headers),
                         ("p1:41", 41, 2, b"hi", {"k": "v"}))

    def test_decodes_a_base64_payload(self) -> None:
        line = task_line(0, base64.b64encode(b"\x00\xff").decode(), encoding="base64")
        self.assertEqual(parse_task(line).payload, b"\x00\xff")

    def test_rejects_lines_that_are_not_tasks(self) -> None:
        cases = {
            b"not json": "not JSON",
            b"[1, 2]": "not a JSON object but list",
            b'{"seq": 1}': 'no "id" string',
            task_line(0, "x", seq=True): '"seq" must be an integer',
            task_line(0, "x", attempt=None): '"attempt" must be an integer',
            task_line(0, "***", encoding="base64"): "not valid base64",
            task_line(0, "x", encoding="rot13"): "unknown \"encoding\" 'rot13'",
            task_line(0, "x", headers={"k": 1}): '"headers" must be an object of strings',
            b'{"id": "p1:0", "seq": 0, "attempt": 1}': '"payload" must be a string',
        }
        for line, message in cases.items():
            with self.subTest(line=line), self.assertRaisesRegex(ValueError, message):
                parse_task(line)


class LinesOfFdTest(support.TestCase):
    def test_splits_chunks_into_lines_whatever_their_size(self) -> None:
        data = b"a\nbb\n\n" + b"x" * 200_000 + b"\nlast without newline"
        read_end, write_end = os.pipe()

        def write() -> None:
            with os.fdopen(write_end, "wb", buffering=0) as pipe:
                for start in range(0, len(data), 7000):
                    pipe.write(data[start:start + 7000])

        writer = threading.Thread(target=write)
        writer.start()
        try:
            lines = list(worker._lines_of_fd(read_end))
        finally:
            writer.join(TIMEOUT)
            os.close(read_end)
        self.assertEqual(lines, data.split(b"\n"))



def serve(handler: str, lines: list[bytes], *args: str) -> tuple[list[dict[str, Any]], str, int]:
    """``run_worker`` with a handler of worker_handlers.py."""
    return run_worker(f"worker_handlers:{handler}", lines, *args)


def peaks(answers: list[dict[str, Any]]) -> set[int | None]:
    """The peaks of concurrency the barrier handlers report (None for a task that failed)."""
    return {json.loads(answer.get("output", "{}")).get("peak") for answer in answers}


class RunInProcessTest(support.TestCase):
    """run() with explicit streams, as an embedding program (or a quick test) would call it."""

    def run_with(self, handler: worker.Handler, lines: list[bytes], **options: Any) -> list[dict]:
        out = io.BytesIO()
        with contextlib.redirect_stderr(io.StringIO()):
            worker.run(handler, stdin=io.BytesIO(b"".join(lines)), stdout=out, **options)
        return [json.loads(line) for line in out.getvalue().splitlines()]

    def test_answers_each_line(self) -> None:
        answers = self.run_with(lambda task: task.text[::-1], task_lines("abc", "xy"))
        self.assertEqual(answers, [{"id": "p1:0", "output": "cba"}, {"id": "p1:1", "output": "yx"}])

    def test_an_async_handler_with_a_limit(self) -> None:
        async def handler(task: Task) -> int:
            return task.seq * 2

        answers = self.run_with(handler, task_lines(*"abcde"), concurrency=2)
        self.assertEqual(sorted(a["output"] for a in answers), ["0", "2", "4", "6", "8"])

    def test_rejects_bad_arguments(self) -> None:
        with self.assertRaisesRegex(TypeError, "handler must be callable"):
            worker.run("upper")  # type: ignore[arg-type]
        for bad in (0, -1, 1.5, True):
            with self.subTest(concurrency=bad), self.assertRaisesRegex(ValueError, "concurrency"):
                worker.run(lambda task: None, concurrency=bad)  # type: ignore[arg-type]


class SyncWorkerTest(support.TestCase):
    def test_answers_in_order_one_line_per_task(self) -> None:
        answers, _, status = serve("upper", task_lines(*(f"t{i}" for i in range(20))))
        self.assertEqual(status, 0)
        self.assertEqual(answers, [{"id": f"p1:{i}", "output": f"T{i}"} for i in range(20)])

    def test_runs_one_task_at_a_time_by_default(self) -> None:
        answers, _, _ = serve("thread_peak", task_lines(*"0123456789"))
        self.assertEqual(peaks(answers), {1})

    def test_answers_before_stdin_ends(self) -> None:
        with WorkerProcess("worker_handlers:upper") as process:
            process.send(task_line(0, "first"))
            self.assertEqual(process.answer(), {"id": "p1:0", "output": "FIRST"})
            process.send(task_line(1, "second"))
            self.assertEqual(process.answer(), {"id": "p1:1", "output": "SECOND"})
            self.assertEqual(process.finish(), ([], 0))

    def test_task_fields_reach_the_handler(self) -> None:
        lines = [task_line(7, "héllo", attempt=3), task_line(8, "x", headers={"trace": "abc"})]
        answers, _, _ = serve("describe", lines)
        first, second = (json.loads(a["output"]) for a in answers)
        self.assertEqual(first, {"id": "p1:7", "seq": 7, "attempt": 3, "text": "héllo", "size": 6,
                                 "headers": {}})
        self.assertEqual(second["headers"], {"trace": "abc"})

    def test_base64_payload_in_and_binary_output_back(self) -> None:
        data = bytes(range(256))
        line = task_line(0, base64.b64encode(data).decode(), encoding="base64")
        answers, _, _ = serve("echo", [line, task_line(1, "text ✓")])
        self.assertEqual(answers[0]["encoding"], "base64")
        self.assertEqual(base64.b64decode(answers[0]["output"]), data)
        self.assertEqual(answers[1], {"id": "p1:1", "output": "text ✓"})

    def test_return_values(self) -> None:
        expected = {
            "str": {"output": "plain text"},
            "none": {"output": ""},
            "dict": {"output": '{"name":"Zoë","n":1}'},
            "list": {"output": '[1,"two",null]'},
            "int": {"output": "42"},
            "float": {"output": "1.5"},
            "true": {"output": "true"},
            "utf8-bytes": {"output": "héllo"},
            "binary-bytes": {"output": "AP/+", "encoding": "base64"},
            "bytearray": {"output": "array"},
            "surrogate-str": {"output": "cmF3/w==", "encoding": "base64"},  # b"raw\xff"
        }
        answers, _, _ = serve("returns", task_lines(*expected))
        for answer, (name, fields) in zip(answers, expected.items(), strict=True):
            with self.subTest(value=name):
                self.assertEqual(answer, {"id": answer["id"], **fields})

    def test_a_value_that_is_not_serialisable_fails_naming_its_type(self) -> None:
        expected = {"set": "set", "object": "object", "nested-set": "dict", "nan": "float"}
        answers, _, status = serve("returns", task_lines(*expected))
        self.assertEqual(status, 0)
        for answer, (name, kind) in zip(answers, expected.items(), strict=True):
            with self.subTest(value=name):
                self.assertIs(answer["retry"], False)
                self.assertNotIn("output", answer)
                self.assertTrue(answer["error"].startswith(
                    f"TypeError: handler returned {kind}, which is not str, bytes, None or "
                    "JSON-serialisable"))

    def test_retry_and_exceptions_become_answers_and_the_worker_goes_on(self) -> None:
        lines = task_lines("retry", "retry-empty", "value", "key", "empty-message", "ok")
        answers, stderr, status = serve("fails", lines)
        self.assertEqual(status, 0)
        self.assertEqual(answers, [
            {"id": "p1:0", "error": "database busy", "retry": True},
            {"id": "p1:1", "error": "retry requested", "retry": True},
            {"id": "p1:2", "error": "ValueError: bad value 7", "retry": False},
            {"id": "p1:3", "error": "KeyError: 'missing'", "retry": False},
            {"id": "p1:4", "error": "RuntimeError", "retry": False},
            {"id": "p1:5", "output": "fine"},
        ])
        self.assertIn("task p1:2 (attempt 1) failed:\nTraceback (most recent call last):", stderr)
        self.assertIn("ValueError: bad value 7", stderr)
        self.assertNotIn("database busy", stderr)  # a retry is not a bug: no traceback

    def test_stdout_writes_in_a_handler_go_to_stderr(self) -> None:
        answers, stderr, status = serve("noisy", task_lines("a", "b"))
        self.assertEqual(status, 0)
        self.assertEqual(answers, [{"id": "p1:0", "output": "quiet"},
                                   {"id": "p1:1", "output": "quiet"}])
        for text in ("printed by the handler", "written to sys.stdout", "written to sys.__stdout__",
                     "written to fd 1", "written by a child process"):
            self.assertIn(text, stderr)

    def test_a_print_while_importing_the_module_goes_to_stderr(self) -> None:
        answers, stderr, _ = run_worker("print_on_import:handle", [task_line(0)])
        self.assertEqual(answers, [{"id": "p1:0", "output": "imported quietly"}])
        self.assertIn("printed while importing the handler module", stderr)

    def test_emitted_tasks_go_with_the_answer_success_or_failure(self) -> None:
        answers, _, _ = serve("emits", task_lines("ok", "fail"))
        emitted = [{"payload": "first"},
                   {"payload": base64.b64encode(b"\xff\x00").decode(), "encoding": "base64"},
                   {"payload": "two\nlines"}]
        self.assertEqual(answers[0], {"id": "p1:0", "output": "emitted", "emit": emitted})
        self.assertEqual(answers[1], {"id": "p1:1", "error": "ValueError: emitted, then failed",
                                      "retry": False, "emit": emitted})

    def test_emit_of_a_bad_type_fails_the_task(self) -> None:
        answers, _, _ = serve("emits_bad_type", [task_line(0)])
        self.assertEqual(answers, [{"id": "p1:0", "retry": False,
                                    "error": "TypeError: expected str or bytes, got int"}])

    def test_malformed_lines_are_skipped_or_answered_by_id(self) -> None:
        not_utf8 = b'{"id":"p1:1","seq":1,"attempt":1,"payload":"\xff"}\n'
        lines = [b"not json\n", b"\n", b"[1]\n", b'{"payload": "no id"}\n',
                 task_line(0, "x", seq="zero"), not_utf8, task_line(2, "good")]
        answers, stderr, status = serve("upper", lines)
        self.assertEqual(status, 0)
        self.assertEqual([a["id"] for a in answers], ["p1:0", "p1:2"])
        self.assertEqual(answers[0]["retry"], False)
        self.assertIn('malformed task line: "seq" must be an integer', answers[0]["error"])
        self.assertEqual(answers[1]["output"], "GOOD")
        self.assertEqual(stderr.count("skipping a malformed task line"), 5)

    def test_a_sync_handler_returning_a_coroutine_fails_clearly(self) -> None:
        answers, stderr, _ = serve("returns_coroutine", [task_line(0)])
        self.assertIn("handler returned an awaitable: declare it with 'async def'",
                      answers[0]["error"])
        self.assertNotIn("was never awaited", stderr)

    def test_task_json(self) -> None:
        answers, _, _ = serve("parse_json", task_lines('{"value": [1]}', "{"))
        self.assertEqual(answers[0], {"id": "p1:0", "output": "[1]"})
        self.assertTrue(answers[1]["error"].startswith("JSONDecodeError: "))

    def test_system_exit_and_keyboard_interrupt_are_not_swallowed(self) -> None:
        _, _, status = serve("fails", task_lines("exit", "ok"))
        self.assertEqual(status, 7)
        answers, _, status = serve("fails", task_lines("interrupt"))
        self.assertEqual(answers, [])
        self.assertNotEqual(status, 0)


class ThreadedWorkerTest(support.TestCase):
    def test_runs_concurrency_tasks_at_once_never_more(self) -> None:
        answers, _, _ = serve("thread_barrier", task_lines(*["4"] * 12), "--concurrency", "4")
        self.assertEqual(len(answers), 12)
        self.assertEqual(peaks(answers), {4}, answers)

    def test_stdin_end_waits_for_tasks_in_flight(self) -> None:
        answers, _, status = serve("sleep", task_lines(*["0.3"] * 6), "--concurrency", "3")
        self.assertEqual(status, 0)
        self.assertEqual(sorted(by_id(answers)), [f"p1:{i}" for i in range(6)])

    def test_failures_and_system_exit(self) -> None:
        answers, _, status = serve("fails", task_lines("retry", "value"), "--concurrency", "2")
        self.assertEqual(status, 0)
        self.assertEqual(by_id(answers)["p1:0"]["retry"], True)
        self.assertEqual(by_id(answers)["p1:1"]["error"], "ValueError: bad value 7")
        _, _, status = serve("fails", task_lines("exit"), "--concurrency", "2")
        self.assertEqual(status, 7)


class AsyncWorkerTest(support.TestCase):
    def test_runs_many_tasks_at_once_on_one_loop(self) -> None:
        answers, stderr, status = serve("async_barrier", task_lines(*["50"] * 50))
        self.assertEqual(status, 0, stderr)
        self.assertEqual(peaks(answers), {50}, answers)

    def test_concurrency_bounds_the_tasks_running_at_once(self) -> None:
        answers, _, _ = serve("async_barrier", task_lines(*["5"] * 15), "--concurrency", "5")
        self.assertEqual(len(answers), 15)
        self.assertEqual(peaks(answers), {5}, answers)

    def test_answers_come_back_as_tasks_finish_not_as_they_arrived(self) -> None:
        with WorkerProcess("worker_handlers:ordered") as process:
            process.send(task_line(0, "wait:a"), task_line(1, "wait:b"), task_line(2, "set:b"))
            self.assertEqual([a["id"] for a in process.answers(2)], ["p1:2", "p1:1"])
            process.send(task_line(3, "set:a"))
            self.assertEqual([a["id"] for a in process.answers(2)], ["p1:3", "p1:0"])
            self.assertEqual(process.finish(), ([], 0))

    def test_stdin_end_waits_for_tasks_in_flight(self) -> None:
        answers, _, status = serve("async_sleep", task_lines(*["0.3"] * 10))
        self.assertEqual(status, 0)
        self.assertEqual(sorted(by_id(answers)), sorted(f"p1:{i}" for i in range(10)))
        self.assertEqual({a["output"] for a in answers}, {"slept 0.3"})

    def test_failures_are_answers(self) -> None:
        answers, _, status = serve("async_fails", task_lines("retry", "value", "cancel-self", "ok"))
        self.assertEqual(status, 0)
        self.assertEqual(by_id(answers), {
            "p1:0": {"id": "p1:0", "error": "database busy", "retry": True},
            "p1:1": {"id": "p1:1", "error": "ValueError: bad value 7", "retry": False},
            "p1:2": {"id": "p1:2", "error": "CancelledError", "retry": False},
            "p1:3": {"id": "p1:3", "output": "fine"},
        })

    def test_system_exit_ends_the_worker(self) -> None:
        _, _, status = serve("async_fails", task_lines("exit"))
        self.assertEqual(status, 7)

    def test_binary_payloads_and_emits(self) -> None:
        line = task_line(0, base64.b64encode(b"\xfe\xff").decode(), encoding="base64")
        answers, _, _ = serve("async_echo", [line])
        self.assertEqual(answers, [{"id": "p1:0", "output": "/v8=", "encoding": "base64"}])
        answers, _, _ = serve("async_emits", [task_line(0)])
        self.assertEqual(answers, [{"id": "p1:0", "output": "emitted",
                                    "emit": [{"payload": '{"from": "p1:0"}'}]}])


class SignalTest(support.TestCase):
    """A signal to the whole process group must not kill tasks the consumer is finishing."""

    def check_first_signal_waits_for_stdin_to_end(self, handler: str, *args: str) -> None:
        for signum in (signal.SIGTERM, signal.SIGINT):
            with self.subTest(signal=signum.name), WorkerProcess(handler, *args) as process:
                process.send(task_line(0, "0"))
                process.answer()  # serving: its signal handlers are in place
                process.send(task_line(1, "0.3"))
                process.process.send_signal(signum)
                process.send(task_line(2, "0"))  # still taking tasks
                rest, status = process.finish()
                self.assertEqual(sorted(json.loads(line)["id"] for line in rest), ["p1:1", "p1:2"])
                self.assertEqual(status, 0)
                self.assertIn(f"{signum.name}: finishing the tasks in flight", process.stderr)

    def test_sync_worker(self) -> None:
        self.check_first_signal_waits_for_stdin_to_end("worker_handlers:sleep")

    def test_threaded_worker(self) -> None:
        self.check_first_signal_waits_for_stdin_to_end("worker_handlers:sleep", "--concurrency=2")

    def test_async_worker(self) -> None:
        self.check_first_signal_waits_for_stdin_to_end("worker_handlers:async_sleep")

    def test_a_second_signal_stops_at_once(self) -> None:
        with WorkerProcess("worker_handlers:async_sleep") as process:
            process.send(task_line(0, "0"))
            process.answer()
            process.send(task_line(1, "60"))
            process.process.send_signal(signal.SIGTERM)
            self.wait_for_log(process, "SIGTERM: finishing")
            process.process.send_signal(signal.SIGTERM)
            self.assertEqual(process.process.wait(TIMEOUT), 128 + signal.SIGTERM)

    def wait_for_log(self, process: WorkerProcess, text: str) -> None:
        deadline = time.monotonic() + TIMEOUT
        while text not in process.stderr:
            if time.monotonic() > deadline:
                self.fail(f"no {text!r} on stderr: {process.stderr}")
            time.sleep(0.01)  # polling a log with a deadline, not a synchronisation by sleep


class ReadmeTest(support.TestCase):
    def test_the_worker_without_the_package_speaks_the_protocol(self) -> None:
        readme = (TESTS_DIR.parent / "README.md").read_text()
        after = readme.split("A worker without this package", 1)[1]
        script = after.split("```python\n", 1)[1].split("```", 1)[0]
        binary = base64.b64encode("é".encode() + b"\xff").decode()
        with WorkerProcess("", command=[sys.executable, "-c", script]) as process:
            process.send(task_line(0, "abc"), task_line(1, binary, encoding="base64"))
            self.assertEqual(process.answers(2), [{"id": "p1:0", "output": "ABC"},
                                                  {"id": "p1:1", "output": "É\ufffd"}])
            self.assertEqual(process.finish(), ([], 0))


class CommandLineTest(support.TestCase):
    def test_module_may_be_a_file_path_and_function_a_dotted_name(self) -> None:
        spec = f"{TESTS_DIR / 'worker_handlers.py'}:Handlers.shout"
        answers, _, _ = run_worker(spec, [task_line(0, "hey")])
        self.assertEqual(answers, [{"id": "p1:0", "output": "HEY!"}])

    def test_a_spec_that_names_nothing_exits_2_with_one_clear_line(self) -> None:
        cases = {
            "no_such_module:handle": "cannot import 'no_such_module'",
            "worker_handlers:nothing": "'worker_handlers' has no attribute 'nothing'",
            "worker_handlers:NOT_CALLABLE": "is not callable (type int)",
            "worker_handlers": "expected MODULE:FUNCTION, got 'worker_handlers'",
            "missing/file.py:handle": "no such file: missing/file.py",
        }
        for spec, message in cases.items():
            with self.subTest(spec=spec):
                answers, stderr, status = run_worker(spec, [task_line(0)])
                self.assertEqual((answers, status), ([], 2))
                self.assertIn(message, stderr)

    def test_retry_raised_by_a_handler_module_is_the_class_the_runner_knows(self) -> None:
        # `python -m conveyor.worker` runs worker.py as __main__; handlers import conveyor.worker.
        answers, _, _ = serve("fails", task_lines("retry"))
        self.assertIs(answers[0]["retry"], True)

    def test_run_from_a_script_of_its_own(self) -> None:
        script = "from conveyor import worker\nworker.run(lambda task: task.text * 2)\n"
        with WorkerProcess("", command=[sys.executable, "-c", script]) as process:
            process.send(task_line(0, "ab"))
            self.assertEqual(process.answer(), {"id": "p1:0", "output": "abab"})
            self.assertEqual(process.finish(), ([], 0))


if __name__ == "__main__":
    unittest.main()
