"""How the lessons read: a main path within its limits, a summary, the hardening under the hood, short public functions."""
import ast
import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / 'tools'))
import lesson_size  # noqa: E402

LESSONS = sorted((ROOT / 'nbs').glob('0*.ipynb'))
HARDENED = [p for p in LESSONS if p.name[:2] in ('01', '02', '03', '04')]  # lessons with code worth hiding


def test_there_are_lessons():
    assert [p.name[:2] for p in LESSONS][:5] == ['01', '02', '03', '04', '05']


@pytest.mark.parametrize('nb', LESSONS, ids=lambda p: p.stem)
def test_main_path_is_within_its_limits(nb):
    m = lesson_size.measure(nb)
    assert 0 < m['words'] <= lesson_size.MAX_WORDS, m
    assert 0 < m['code_lines'] <= lesson_size.MAX_CODE_LINES, m
    assert m['helpers_first'] == [], f"{nb.name} defines private helpers before its first idea: {m['helpers_first']}"


@pytest.mark.parametrize('nb', LESSONS, ids=lambda p: p.stem)
def test_lesson_ends_its_main_path_with_a_summary(nb):
    heads = [h.lower() for h in lesson_size.measure(nb)['headings']]
    assert 'summary' in heads, heads
    if 'under the hood' in heads: assert heads.index('summary') < heads.index('under the hood'), heads


@pytest.mark.parametrize('nb', HARDENED, ids=lambda p: p.stem)
def test_hardening_lives_under_the_hood(nb):
    assert 'under the hood' in [h.lower() for h in lesson_size.measure(nb)['headings']]


@pytest.mark.parametrize('nb', LESSONS, ids=lambda p: p.stem)
def test_assertion_helpers_are_explained_at_first_use(nb):
    "Before a lesson first calls `test_eq`, `test_close` or `test_fail`, its prose (or a comment) says what it does."
    seen = ''
    for c in json.loads(nb.read_text())['cells']:
        src = ''.join(c['source'])
        if c['cell_type'] == 'code':
            if re.match(r'\s*#\|\s*hide', src): continue
            for name in ('test_eq', 'test_close', 'test_fail'):
                code = re.sub(r'#.*', '', src)
                if re.search(rf'\b{name}\(', code) and name not in seen:
                    pytest.fail(f'{nb.name} calls {name} before saying what it does')
            seen += ' '.join(re.findall(r'#(.*)', src)) + ' '  # comments explain too
        else: seen += src


def _body_lines(fn: ast.FunctionDef, src: list[str]) -> int:
    "Lines on which a statement of the body starts, after the docstring and the leading `check_*` calls (a wrapped line counts once)."
    body = list(fn.body)
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], 'value', None), ast.Constant): body = body[1:]
    while body and isinstance(body[0], (ast.Expr, ast.Assign)) and 'check_' in ast.unparse(body[0]): body = body[1:]  # the boundary checks
    return len({n.lineno for b in body for n in ast.walk(b) if isinstance(n, ast.stmt)})


@pytest.mark.parametrize('mod', ['callbacks', 'dunder', 'stats', 'softmax', 'source', 'checks', 'activations'])
def test_public_functions_are_short(mod):
    path = ROOT / 'fdl' / f'{mod}.py'
    src = path.read_text().splitlines()
    long = []
    for node in ast.parse(path.read_text()).body:
        fns = [node] if isinstance(node, ast.FunctionDef) else [
            m for m in node.body if isinstance(m, ast.FunctionDef) and not m.name.startswith('_')
        ] if isinstance(node, ast.ClassDef) and not node.name.startswith('_') else []
        for fn in fns:
            if fn.name.startswith('_') or fn.name.startswith('plot_'): continue
            n = _body_lines(fn, src)
            if n > 15: long.append(f'{fn.name}: {n} lines')
    assert not long, f'fdl/{mod}.py: public functions longer than 15 lines after their checks: {long}'


def test_checking_helpers_live_in_fdl_checks():
    "Only fdl.checks defines argument-checking helpers; the lesson modules call them."
    offenders = []
    for path in (ROOT / 'fdl').glob('*.py'):
        if path.name in ('checks.py', '_modidx.py'): continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef) and re.match(r'_?(check|validate|as_int|dims?$|dtypes)', node.name):
                offenders.append(f'{path.name}: {node.name}')
    assert not offenders, offenders


@pytest.mark.parametrize('nb', LESSONS, ids=lambda p: p.stem)
def test_lesson_ends_with_exercises_each_with_a_checked_solution(nb):
    "At least three exercises after the main path, each followed by one `#| solution` cell that asserts its answer."
    cells = json.loads(nb.read_text())['cells']
    start = next(i for i, c in enumerate(cells) if c['cell_type'] == 'markdown' and re.match(r'## Exercises', ''.join(c['source'])))
    exercises = [i for i, c in enumerate(cells) if i > start and re.match(r'### Exercise', ''.join(c['source']))]
    assert len(exercises) >= 3, nb.name
    for i in exercises:
        code = [''.join(c['source']) for c in cells[i + 1:] if c['cell_type'] == 'code']
        src = next(src for src in code if not src.startswith('#| eval: false'))  # after any starter code
        assert src.startswith('#| solution') and re.search(r'\b(assert|test_eq|test_close|test_fail)\b', src), (nb.name, src[:80])


@pytest.mark.parametrize('nb', LESSONS, ids=lambda p: p.stem)
def test_solutions_open_collapsed_in_jupyter_and_starter_code_is_a_code_cell(nb):
    cells = json.loads(nb.read_text())['cells']
    solutions = [c for c in cells if c['cell_type'] == 'code' and ''.join(c['source']).startswith('#| solution')]
    assert solutions and all(c['metadata'].get('jupyter', {}).get('source_hidden') is True for c in solutions), nb.name
    start = next(i for i, c in enumerate(cells) if re.match(r'## Exercises', ''.join(c['source'])))
    prose = [''.join(c['source']) for c in cells[start:] if c['cell_type'] == 'markdown']
    assert not any('```python' in p for p in prose), nb.name  # starter code is a cell: `#| eval: false`, run by hand


def test_main_path_counts_hidden_exported_cells(tmp_path):
    "A hidden cell that exports code is code the main path ships: it counts; a hidden check does not."
    cell = lambda kind, src: {'cell_type': kind, 'source': src, 'metadata': {}, **({'outputs': []} if kind == 'code' else {})}
    nb = {'cells': [cell('markdown', '# T\n\nsome words here'),
                    cell('code', '#| export\ndef f(): pass'),
                    cell('code', '#| export\n#| hide\ndef _g():\n    return 1'),
                    cell('code', '#| hide\nassert f() is None'),
                    cell('markdown', '## Under the hood'),
                    cell('code', '#| export\ndef h(): pass')],
          'metadata': {}, 'nbformat': 4, 'nbformat_minor': 5}
    p = tmp_path / '01_t.ipynb'
    p.write_text(json.dumps(nb))
    m = lesson_size.measure(p)
    assert m['code_lines'] == 3 and m['words'] == 5, m
