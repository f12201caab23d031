"""conveyor.producer: run() against a fake conveyor-producer that keeps the CLI contract."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import unittest
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import support
from support import TIMEOUT

from conveyor import producer
from conveyor.producer import ProducerError, Result

# Reads `--source jsonl:-` lines and answers each at once on stdout (`--results -`), echoing the
# payload; FAKE_* variables make it misbehave on purpose.
FAKE_PRODUCER = textwrap.dedent('''\
    import base64, json, os, signal, sys, time

    env = os.environ.get
    if env("FAKE_ARGV"):
        with open(env("FAKE_ARGV"), "w") as f:
            json.dump(sys.argv[1:], f)
    if env("FAKE_PID"):
        with open(env("FAKE_PID") + ".tmp", "w") as f:
            f.write(str(os.getpid()))
        os.replace(env("FAKE_PID") + ".tmp", env("FAKE_PID"))
    if env("FAKE_IGNORE_TERM"):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    args = sys.argv[1:]
    if args[args.index("--source") + 1] != "jsonl:-" or args[args.index("--results") + 1] != "-":
        sys.exit("fake-producer: expected --source jsonl:- --results -")
    raw = open(env("FAKE_STDIN"), "wb") if env("FAKE_STDIN") else None
    pid = args[args.index("--id") + 1] if "--id" in args else "p"
    pending, failed, count = [], 0, 0

    def write(fields):
        sys.stdout.write(json.dumps(fields) + "\\n")
        sys.stdout.flush()

    for seq, line in enumerate(sys.stdin.buffer):
        if raw:
            raw.write(line)
            raw.flush()
        count += 1
        task = json.loads(line)
        payload = task["payload"].encode()
        if task.get("encoding") == "base64":
            payload = base64.b64decode(task["payload"])
        fields = {"id": f"{pid}:{seq}", "seq": seq, "status": "ok", "consumer": "c1", "attempts": 1}
        if payload.startswith(b"fail"):
            fields.update(status="failed", error="handler said no", attempts=2)
            failed += 1
        else:
            try:
                fields["output"] = payload.decode()
            except UnicodeDecodeError:
                fields.update(output=base64.b64encode(payload).decode(), encoding="base64")
        if payload == b"garbage":
            sys.stdout.write("this is not a results line\\n")
            sys.stdout.flush()
        pending.append(fields)
        if not env("FAKE_REVERSE"):
            write(pending.pop())
    for fields in reversed(pending):
        write(fields)
    if env("FAKE_HANG"):
        time.sleep(60)
    print(f"fake-producer: {count} tasks, {failed} failed", file=sys.stderr)
    if env("FAKE_STDERR"):
        print(env("FAKE_STDERR"), file=sys.stderr)
    sys.exit(int(env("FAKE_EXIT", "3" if failed else "0")))
''')


class ProducerTest(support.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.tmp = tempfile.TemporaryDirectory()
        cls.dir = Path(cls.tmp.name)
        cls.fake = cls.dir / "conveyor-producer"
        cls.fake.write_text(f"#!{sys.executable}\n{FAKE_PRODUCER}")
        cls.fake.chmod(0o755)

    @classmethod
    def tearDownClass(cls) -> None:
        cls.tmp.cleanup()

    def run_fake(self, tasks: Any, env: dict[str, str] | None = None, **options: Any
                 ) -> Iterator[Result]:
        """producer.run with the fake; FAKE_* settings in ``env``, its stderr dropped by default."""
        options.setdefault("stderr", subprocess.DEVNULL)
        options.setdefault("executable", str(self.fake))
        return producer.run(tasks, env={**os.environ, **(env or {})}, **options)

    def test_passes_the_flags_it_promises(self) -> None:
        argv = self.dir / "argv.json"
        list(self.run_fake(["a"], env={"FAKE_ARGV": str(argv)}, broker="tcp://host:5555", id="p9",
                           queue="pages", extra_args=["--window", "10"]))
        self.assertEqual(json.loads(argv.read_text()), [
            "--source", "jsonl:-", "--results", "-", "--quiet", "--broker", "tcp://host:5555",
            "--id", "p9", "--queue", "pages", "--window", "10"])
        list(self.run_fake(["a"], env={"FAKE_ARGV": str(argv)}))
        self.assertEqual(json.loads(argv.read_text()),
                         ["--source", "jsonl:-", "--results", "-", "--quiet"])

    def test_extra_args_must_be_a_sequence(self) -> None:
        with self.assertRaisesRegex(TypeError, "extra_args must be a sequence"):
            list(self.run_fake(["a"], extra_args="--window 10"))

    def test_payloads_are_framed_one_json_line_each_bytes_as_base64(self) -> None:
        stdin_copy = self.dir / "stdin.jsonl"
        tasks = ["plain", "two\nlines", b"\xff\x00binary", "ünïcode", "é".encode(), "", b""]
        results = list(self.run_fake(tasks, env={"FAKE_STDIN": str(stdin_copy)}))
        self.assertEqual([r.output for r in results],
                         [t.encode() if isinstance(t, str) else t for t in tasks])
        lines = stdin_copy.read_bytes().splitlines()
        self.assertEqual(len(lines), len(tasks))
        self.assertEqual(json.loads(lines[1]), {"payload": "two\nlines"})
        self.assertEqual(json.loads(lines[2]), {"payload": "/wBiaW5hcnk=", "encoding": "base64"})
        self.assertEqual(json.loads(lines[4]), {"payload": "é"})

    def test_results_carry_every_field(self) -> None:
        results = list(self.run_fake(["hello", b"\xfe", "fail: no"], id="p2"))
        self.assertEqual(results[0], Result(id="p2:0", seq=0, status="ok", output=b"hello",
                                            consumer="c1", attempts=1))
        self.assertTrue(results[0].ok)
        self.assertEqual(results[0].text, "hello")
        self.assertEqual((results[1].output, results[1].text), (b"\xfe", "\ufffd"))
        failed = results[2]
        self.assertEqual((failed.status, failed.ok, failed.error, failed.attempts, failed.output),
                         ("failed", False, "handler said no", 2, b""))

    def test_results_stream_before_the_tasks_are_exhausted(self) -> None:
        first_seen = threading.Event()

        def tasks() -> Iterator[str]:
            yield "first"
            if not first_seen.wait(TIMEOUT):
                raise AssertionError("no result came back while tasks were still being produced")
            yield "second"

        results = []
        for result in self.run_fake(tasks()):
            results.append(result.text)
            first_seen.set()
        self.assertEqual(results, ["first", "second"])

    def test_many_tasks_do_not_deadlock_the_pipes(self) -> None:
        tasks = (f"{i:06d}" + "x" * 1000 for i in range(2000))  # megabytes each way
        results = list(self.run_fake(tasks, env={"FAKE_REVERSE": "1"}))
        self.assertEqual(len(results), 2000)

    def test_exit_3_ends_normally_unless_check(self) -> None:
        self.assertEqual([r.status for r in self.run_fake(["ok", "fail"])], ["ok", "failed"])
        seen = []
        with self.assertRaises(ProducerError) as caught:
            for result in self.run_fake(["ok", "fail"], check=True, stderr=subprocess.PIPE):
                seen.append(result.status)
        self.assertEqual(seen, ["ok", "failed"])  # results first, then the verdict
        self.assertEqual(caught.exception.status, 3)
        self.assertEqual(str(caught.exception),
                         "conveyor-producer exited with status 3 (some tasks failed or died): "
                         "fake-producer: 2 tasks, 1 failed")

    def test_other_exit_statuses_raise_with_the_last_stderr_line(self) -> None:
        last_line = "error: broker tcp://nowhere:5555 unreachable after 10s"
        with self.assertRaises(ProducerError) as caught:
            env = {"FAKE_EXIT": "1", "FAKE_STDERR": last_line}
            list(self.run_fake(["a"], env=env, stderr=subprocess.PIPE))
        self.assertEqual((caught.exception.status, caught.exception.stderr_line), (1, last_line))
        self.assertEqual(str(caught.exception),
                         f"conveyor-producer exited with status 1: {last_line}")

    def test_stderr_goes_to_ours_by_default(self) -> None:
        captured = io.StringIO()
        with contextlib.redirect_stderr(captured):
            list(self.run_fake(["a", "b"], stderr=None))
        self.assertEqual(captured.getvalue(), "fake-producer: 2 tasks, 0 failed\n")

    def test_a_line_that_is_not_a_result_raises(self) -> None:
        with self.assertRaisesRegex(ProducerError, "wrote a line that is not a result"):
            list(self.run_fake(["garbage"]))

    def test_an_exception_from_the_tasks_is_raised_after_the_tasks_taken(self) -> None:
        def tasks() -> Iterator[str]:
            yield "one"
            raise OSError("source file vanished")

        seen = []
        with self.assertRaisesRegex(OSError, "source file vanished"):
            for result in self.run_fake(tasks()):
                seen.append(result.text)
        self.assertEqual(seen, ["one"])

    def test_a_task_that_is_not_str_or_bytes_raises(self) -> None:
        with self.assertRaisesRegex(TypeError, "task 1 is int: expected str or bytes"):
            list(self.run_fake(["a", 2]))

    def test_closing_early_terminates_the_producer_and_its_threads(self) -> None:
        pid_file = self.dir / "pid"
        endless = (str(i) for i in iter(int, 1))  # never exhausted
        results = self.run_fake(endless, env={"FAKE_PID": str(pid_file)})
        self.assertEqual(next(results).text, "0")
        results.close()
        self.assert_gone(int(pid_file.read_text()))

    def test_a_producer_that_ignores_sigterm_is_killed_after_the_timeout(self) -> None:
        pid_file = self.dir / "pid-stubborn"
        env = {"FAKE_PID": str(pid_file), "FAKE_IGNORE_TERM": "1", "FAKE_HANG": "1"}
        results = self.run_fake(["a", "b"], env=env, stop_timeout=0.5)
        self.assertEqual(next(results).text, "a")
        started = time.monotonic()
        results.close()
        self.assertLess(time.monotonic() - started, TIMEOUT)
        self.assert_gone(int(pid_file.read_text()))

    def assert_gone(self, pid: int) -> None:
        with self.assertRaises(ProcessLookupError):  # reaped, not only signalled
            os.kill(pid, 0)
        names = {thread.name for thread in threading.enumerate()}
        self.assertFalse(names & {"conveyor-producer-stdin", "conveyor-producer-stderr"}, names)

    def test_run_all_sorts_by_seq(self) -> None:
        env = {**os.environ, "FAKE_REVERSE": "1"}
        results = producer.run_all(["a", "b", "c"], executable=str(self.fake),
                                   stderr=subprocess.DEVNULL, env=env)
        self.assertEqual([(r.seq, r.text) for r in results], [(0, "a"), (1, "b"), (2, "c")])

    def test_a_missing_executable_raises_at_first_iteration(self) -> None:
        with self.assertRaises(FileNotFoundError):
            next(self.run_fake(["a"], executable=str(self.dir / "no-such-producer")))


class ResultTest(support.TestCase):
    def test_parses_a_results_line(self) -> None:
        line = json.dumps({"id": "p1:3/0", "seq": 3, "status": "ok", "output": "AA==",
                           "encoding": "base64", "consumer": "c2", "attempts": 1,
                           "queue": "summaries", "parent": "p1:3", "future_key": True})
        self.assertEqual(Result.from_json(line),
                         Result(id="p1:3/0", seq=3, status="ok", output=b"\x00", consumer="c2",
                                attempts=1, queue="summaries", parent="p1:3"))

    def test_a_dead_task_may_lack_output_and_consumer(self) -> None:
        line = '{"id":"p1:0","seq":0,"status":"dead","error":"lost 5 times","attempts":5}'
        result = Result.from_json(line)
        self.assertEqual((result.ok, result.output, result.consumer, result.error),
                         (False, b"", "", "lost 5 times"))

    def test_a_line_without_seq_takes_the_seq_of_its_root_task(self) -> None:
        result = Result.from_json('{"id":"p1:12/0/3","status":"ok","output":null}')
        self.assertEqual((result.seq, result.output), (12, b""))

    def test_rejects_bad_lines(self) -> None:
        cases = {
            '"text"': "not a JSON object",
            '{"seq":0,"status":"ok"}': '"id" must be str',
            '{"id":"p1","status":"ok"}': '"seq" must be int',
            '{"id":"p:0","seq":"0","status":"ok"}': '"seq" must be int',
            '{"id":"p:0","seq":0,"status":"ok","output":"@","encoding":"base64"}': "valid base64",
        }
        for line, message in cases.items():
            with self.subTest(line=line), self.assertRaisesRegex(ValueError, message):
                Result.from_json(line)

    def test_is_frozen(self) -> None:
        result = Result(id="p1:0", seq=0, status="ok")
        with self.assertRaises(AttributeError):
            result.status = "failed"  # type: ignore[misc]


if __name__ == "__main__":
    unittest.main()
