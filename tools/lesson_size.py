#!/usr/bin/env python
"""How long each lesson's main path is: prose words and code lines before its `## Under the hood`
(or `## Exercises`) heading, not counting `#|` directive lines nor `#| hide` cells unless they export
code (hidden exported code is code the main path ships); and the private
helpers an exported cell defines before the lesson's first public definition.

Usage: python tools/lesson_size.py [NOTEBOOK ...]   (default: nbs/0*.ipynb)
"""
from __future__ import annotations

import ast
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAX_WORDS, MAX_CODE_LINES = 1500, 200
_end_re = re.compile(r'^#+\s*(under the hood|exercises)', re.I | re.M)


def _cells(nb: Path) -> list[tuple[str, str]]:
    return [(c['cell_type'], ''.join(c['source'])) for c in json.loads(Path(nb).read_text())['cells']]


def _exports(src: str) -> bool:
    "Whether a code cell exports into fdl (a hidden one still ships its code, so it counts)."
    return bool(re.search(r'^#\|\s*export', src, re.M))


def _definitions(src: str) -> list[str]:
    "Names of the functions and classes a cell defines at its top level."
    try: body = ast.parse('\n'.join(l for l in src.splitlines() if not l.startswith('#|'))).body
    except SyntaxError: return []
    return [n.name for n in body if isinstance(n, (ast.FunctionDef, ast.ClassDef))]


def measure(nb: Path) -> dict:
    "Words, code lines and headings of the main path of notebook `nb`, and the helpers defined before its first idea."
    words = code = 0
    main, early, first_public, headings = True, [], None, []
    for kind, src in _cells(nb):
        if kind == 'markdown' and _end_re.search(src): main = False
        if kind == 'markdown': headings += re.findall(r'^#+\s*(.+?)\s*$', src, re.M)
        if kind == 'code' and _exports(src) and first_public is None:
            for name in _definitions(src):
                if first_public is not None: break
                if name.startswith('_'): early.append(name)
                else: first_public = name
        if not main: continue
        if kind == 'markdown': words += len(src.split())
        elif kind == 'code' and (_exports(src) or not re.match(r'\s*#\|\s*hide', src)):
            code += sum(1 for l in src.splitlines() if l.strip() and not l.startswith('#|'))
    return {'words': words, 'code_lines': code, 'helpers_first': early, 'headings': headings}


def main(argv=None) -> int:
    paths = [Path(p) for p in (argv if argv is not None else sys.argv[1:])] or sorted((ROOT / 'nbs').glob('0*.ipynb'))
    bad = 0
    for p in paths:
        m = measure(p)
        over = m['words'] > MAX_WORDS or m['code_lines'] > MAX_CODE_LINES or m['helpers_first']
        bad += bool(over)
        print(f"{p.name:24} main path: {m['words']:5} words (max {MAX_WORDS}), {m['code_lines']:4} code lines "
              f"(max {MAX_CODE_LINES})" + (f"; helpers before the first idea: {', '.join(m['helpers_first'])}"
                                           if m['helpers_first'] else ''))
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
