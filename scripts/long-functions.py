#!/usr/bin/env python3
"""Lists C++ functions longer than a limit (default 40 lines, body braces included).

A function is a definition that starts at the left margin (or one indent inside a class) and
ends at its matching brace. Flag tables are exempt: a function whose preceding comment line
holds "flag table" (parse_flags and friends list one flag per statement, and splitting them
would scatter the --help text). Exits 1 when any function is over the limit, so the test suite
can run it. Usage: long-functions.py [--limit N] [PATH ...] (default: the product folders).
"""
import argparse
import pathlib
import re
import sys

FOLDERS = ["common", "broker", "producer", "consumer", "metrics", "status", "ctl", "keygen"]
START = re.compile(r"^( {0,2})[A-Za-z_][\w:<>,\s\*&~\[\]]*\([^;]*$")


def strip(line):
    """The line without string literals and // comments, for brace counting."""
    line = re.sub(r'"(\\.|[^"\\])*"', '""', line)
    line = re.sub(r"'(\\.|[^'\\])*'", "''", line)
    return line.split("//", 1)[0]


def functions(lines):
    """(name, first line number, length) of each function definition in `lines`."""
    i = 0
    while i < len(lines):
        m = START.match(lines[i])
        if not m or lines[i].lstrip().startswith(("if ", "for ", "while ", "switch ", "return")):
            i += 1
            continue
        j, depth, opened = i, 0, False
        while j < len(lines):
            code = strip(lines[j])
            if not opened and ";" in code and "{" not in code:
                break  # a declaration
            depth += code.count("{") - code.count("}")
            opened = opened or "{" in code
            if opened and depth <= 0:
                break
            j += 1
        if opened and depth <= 0:
            exempt = i > 0 and "flag table" in lines[i - 1]
            name = lines[i].split("(")[0].split()[-1]
            if not exempt:
                yield name, i + 1, j - i + 1
            i = j + 1
        else:
            i += 1


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=40)
    parser.add_argument("paths", nargs="*")
    args = parser.parse_args()
    root = pathlib.Path(__file__).resolve().parent.parent
    paths = [pathlib.Path(p) for p in args.paths] or [root / f for f in FOLDERS]
    files = [f for p in paths for f in (sorted(p.rglob("*.cpp")) if p.is_dir() else [p])]
    long_ones = []
    for f in files:
        for name, line, length in functions(f.read_text().splitlines()):
            if length > args.limit:
                long_ones.append(f"{f.relative_to(root) if f.is_absolute() else f}:{line}: "
                                 f"{name} is {length} lines")
    for entry in long_ones:
        print(entry)
    print(f"{len(long_ones)} functions over {args.limit} lines in {len(files)} files")
    return 1 if long_ones else 0


if __name__ == "__main__":
    sys.exit(main())
