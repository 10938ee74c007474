"""The lesson book: Sphinx + myst-nb build it from nbs/ (docs/conf.py, docs/fdl_book.py), and
tools/check_book.py opens it in headless Chromium. The book is built once per session."""
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / 'tools'), str(ROOT / 'docs')]
import check_book  # noqa: E402
import fdl_book  # noqa: E402

MODULES = sorted(p.stem for p in (ROOT / 'fdl').glob('*.py') if not p.stem.startswith('_'))
LESSONS = sorted(p.stem for p in (ROOT / 'nbs').glob('*.ipynb'))


def need_chromium():
    "Skip (or, under CI, fail) when there is no Chromium to drive."
    if check_book.find_chromium() is None:
        msg = f'Chromium not found at {check_book.CHROMIUM} or on PATH (apt-get install chromium)'
        if os.environ.get('CI'): pytest.fail(msg)
        pytest.skip(msg)


def sphinx(src: Path, out: Path, doctrees: Path, *args) -> subprocess.CompletedProcess:
    "`make lesson`'s build: notebooks run unless jupyter-cache (.cache/jupyter_cache) holds them."
    env = {k: v for k, v in os.environ.items() if k != 'MPLBACKEND'}
    for var, sub in (('IPYTHONDIR', 'ipython'), ('JUPYTER_CONFIG_DIR', 'jupyter'), ('MPLCONFIGDIR', 'matplotlib')):
        env.setdefault(var, str(ROOT / '.cache' / sub))
    env['PYTHONPATH'] = os.pathsep.join([str(ROOT), env.get('PYTHONPATH', '')])
    cmd = [sys.executable, '-m', 'sphinx', '-b', 'html', '-d', str(doctrees), '-c', str(ROOT / 'docs'), *args,
           str(src), str(out)]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800)


@pytest.fixture(scope='session')
def book(tmp_path_factory):
    "The whole lesson book, as `make lesson` builds it."
    tmp = tmp_path_factory.mktemp('book')
    r = sphinx(ROOT, tmp / 'site', tmp / 'doctrees', '-q')
    assert r.returncode == 0, r.stdout + r.stderr
    return tmp / 'site'


def test_every_lesson_and_module_has_a_page(book):
    assert (book / 'docs/index.html').is_file()
    for nb in LESSONS: assert (book / 'nbs' / f'{nb}.html').is_file(), nb
    for mod in MODULES:
        assert (book / f'docs/api/fdl.{mod}.html').is_file() and (book / f'_modules/fdl/{mod}.html').is_file(), mod
    for nb in LESSONS: assert (book / '_sources/nbs' / f'{nb}.ipynb').read_bytes() == (ROOT / 'nbs' / f'{nb}.ipynb').read_bytes()


def test_a_rebuild_with_no_notebook_changed_runs_none(book, tmp_path):
    "jupyter-cache holds every executed notebook: a repeat build runs none and reads only the module pages."
    doctrees = book.parent / 'doctrees'
    r = sphinx(ROOT, book, doctrees)
    assert r.returncode == 0 and 'Executing notebook' not in r.stdout + r.stderr, r.stdout[-2000:]
    assert f'0 added, {len(MODULES)} changed, 0 removed' in r.stdout, r.stdout[-2000:]


def test_directives_become_cell_tags():
    def tags(source, prose='', module='stats', **meta):
        cell = {'source': source, 'metadata': dict(meta), 'id': 'c1'}
        names = fdl_book.tag_cell(cell, prose, module)
        return cell['metadata'].get('tags'), names, cell['source'], cell['metadata'].get('mystnb', {})
    assert tags('#| export\ndef var(x): pass') == ([], ['var'], 'def var(x): pass', {})
    assert tags('#| hide\ntest_eq(1, 1)')[0] == ['remove-cell']  # a hidden check
    hidden = tags('#| hide\ndef helper(): pass', prose='`helper` does it')
    assert hidden[0] == ['hide-input', 'remove-output'] and 'helper' in hidden[3]['code_prompt_show']
    assert tags('#| hide\n#| export\ndef _h(): pass')[0] == ['hide-input', 'remove-output']  # hidden exported code
    sol = tags('#| solution\nassert 1')
    assert sol[0] == ['hide-cell'] and sol[3]['code_prompt_show'] == 'Show the solution' and sol[2] == 'assert 1'
    assert tags('assert 1', jupyter={'source_hidden': True})[0] == ['hide-cell']  # Jupyter's own collapsed cell
    assert tags('#| eval: false\nx = f(...)')[:3] == (['skip-execution'], [], 'x = f(...)')
    assert tags('#| default_exp stats')[0] == ['remove-cell']


def test_exported_cells_and_source_lines_link_both_ways(book):
    import fdl.stats, inspect
    cells = fdl_book.exported_cells(ROOT)
    assert len(cells) > 50
    lesson = (book / 'nbs/03_stats.html').read_text()
    source = (book / '_modules/fdl/stats.html').read_text()
    for cid, (mod, line) in cells.items():
        if mod != 'stats': continue
        assert f'id="cell-{cid}"' in lesson and f'href="../_modules/fdl/stats.html#L{line}"' in lesson, cid
        assert f'id="L{line}"' in source and f'href="../../nbs/03_stats.html#cell-{cid}"' in source, cid
    def_line = inspect.getsourcelines(fdl.stats.var)[1]
    var_cell = max(((line, c) for c, (m, line) in cells.items() if m == 'stats' and line <= def_line))[1]
    api = (book / 'docs/api/fdl.stats.html').read_text()
    assert f'href="../../nbs/03_stats.html#cell-{var_cell}"' in api and 'id="fdl.stats.var"' in api


def test_book_passes_the_browser_check(book):
    "Every page and every point of the book's promise, and what a learner tries (search, name links, back)."
    need_chromium()
    assert check_book.check_book(book, nbs=ROOT / 'nbs', probes=True) == []


BREAKS = {  # page made from nbs/03_stats.html: (change, what the check must say)
    'img': (lambda h: re.sub(r'src="[^"]*_images/[^"]*"', 'src="../_images/missing.png"', h, count=1),
            'image did not load'),
    'alt': (lambda h: re.sub(r'<img alt="[^"]*"', '<img alt="untitled figure"', h, count=1), 'has no description'),
    'cdn': (lambda h: h.replace('</head>', '<script src="https://cdn.example.com/x.js"></script></head>'),
            'network request attempted (blocked): https://cdn.example.com/x.js'),
    'outside': (lambda h: h.replace('</head>', '<script src="../../outside.js"></script></head>'),
                'request outside the book folder'),
    'nofile': (lambda h: h.replace('<h1>', '<h1><a href="02_missing.html">x</a>', 1), 'link to a missing file'),
    'noplace': (lambda h: h.replace('<h1>', '<h1><a href="03_stats.html#nowhere">x</a>', 1), 'link to a missing place'),
    'hoodopen': (lambda h: h.replace('<details class="fdl-hood"', '<details open class="fdl-hood"'),
                 'Under the hood is open when the page loads'),
    'hoodgone': (lambda h: h.replace('<details class="fdl-hood">', '<div>'),
                 'Under the hood is not one collapsed'),
    'hoodplain': (lambda h: h.replace('Optional reading: how', 'How'), 'not marked as optional'),
    'hoodtoc': (lambda h: h.replace('href="#under-the-hood"', 'href="#summary"'), 'outline does not link to Under the hood'),
    'solopen': (lambda h: h.replace('<details class="admonition hide above-input">\n<summary aria-label="Toggle hidden content">\n<p class="collapsed admonition-title">Show the solution',
                                    '<details open class="admonition hide above-input">\n<summary aria-label="Toggle hidden content">\n<p class="collapsed admonition-title">Show the solution', 1),
                'solution(s) shown open'),
    'widget': (lambda h: h.replace('</article>', '<div class="fdl-widget"><button>x</button></div></article>'),
               'not labelled as a still picture'),
    'livewidget': (lambda h: h.replace('</article>', '<script type="application/vnd.jupyter.widget-view+json">{}</script></article>'),
                   'need JavaScript to be drawn'),
    'tex': (lambda h: h.replace('<h1>Statistics<a', '<p>raw $x^2$ here</p><h1>Statistics<a', 1), 'TeX left untypeset'),
    'nomathjax': (lambda h: h.replace('_static/mathjax/MathJax.js', '_static/mathjax/gone.js'), 'formulas were not typeset'),
    'nooutline': (lambda h: re.sub(r'<nav id="pst-page-toc-nav".*?</nav>', '', h, flags=re.S), 'no outline of the page'),
    'wide': (lambda h: h.replace('</article>', f'<pre style="white-space:pre">{"x" * 300}</pre></article>'),
             'scrolls sideways at 1280 px'),
    'margins': (lambda h: h.replace('</article>', '<p><code style="margin:0 4px">x</code></p></article>'),
                'inline code element(s) have margins'),
    'sizes': (lambda h: h.replace('</article>', '<pre style="font-size:20px">x</pre></article>'), 'font sizes'),
    'twoboxes': (lambda h: h.replace('</article>', '<input type="search"></article>'), '2 search boxes'),
    'noindex': (lambda h: h.replace('<script src="../searchindex.js"></script>', ''), 'search index did not load'),
    'nodownload': (lambda h: h.replace('href="../_sources/nbs/03_stats.ipynb"', 'href="#"'), 'no link to download'),
    'jserror': (lambda h: h.replace('</body>', '<script>undefinedFunction()</script></body>'), 'JavaScript error'),
    'notitle': (lambda h: re.sub(r'<title>.*?</title>', '<title></title>', h, flags=re.S), 'the <title> is empty'),
}


def test_browser_check_reports_each_broken_point(book, tmp_path):
    "Break a copy of the book on purpose, one point per page: the check names each page and what broke."
    need_chromium()
    broken = tmp_path / 'broken'
    shutil.copytree(book, broken)
    lesson = (book / 'nbs/03_stats.html').read_text()
    for name, (change, _) in BREAKS.items():
        page = change(lesson)
        assert page != lesson, name  # the break applies to today's markup
        (broken / f'nbs/x_{name}.html').write_text(page)
    (broken / '_sources/nbs/03_stats.ipynb').write_text('{}')  # a download that is not the notebook
    problems = check_book.check_book(broken, pages=[f'nbs/x_{n}.html' for n in BREAKS], nbs=ROOT / 'nbs')
    text = '\n'.join(problems)
    for name, (_, said) in BREAKS.items():
        assert any(p.startswith(f'nbs/x_{name}.html: ') and said in p for p in problems), (name, text)
    assert 'nbs/x_img.html: the notebook to download differs from' in text


def test_browser_check_reports_broken_search_and_name_links(book, tmp_path):
    "A search index without the synonyms, and a lesson's own class linked to fdl's, are reported."
    need_chromium()
    broken = tmp_path / 'broken'
    shutil.copytree(book, broken)
    index = (broken / 'searchindex.js').read_text()
    (broken / 'searchindex.js').write_text(index.replace('"variance"', '"varianz"').replace('"learning rate finder"', '"lrf"'))
    dunder = (broken / 'nbs/02_dunder.html').read_text()
    (broken / 'nbs/02_dunder.html').write_text(dunder.replace(
        '</article>', '<a href="../docs/api/fdl.learner.html#fdl.learner.Learner">Learner</a></article>'))
    text = '\n'.join(check_book.check_book(broken, pages=[], probes=True))
    assert "search 'variance': docs/api/fdl.stats.html#fdl.stats.var is not among the first 3" in text, text
    assert "search 'learning rate finder'" in text, text
    assert "nbs/02_dunder.html: the lesson's own class is linked to fdl.learner.Learner" in text, text


def test_a_failing_cell_fails_the_build_and_says_where(tmp_path):
    src = tmp_path / 'src'
    (src / 'nbs').mkdir(parents=True)
    (src / 'docs').mkdir()
    (src / 'docs/index.md').write_text('# Broken book\n')
    nb = {'cells': [{'cell_type': 'markdown', 'metadata': {}, 'source': '# Broken', 'id': 'a'},
                    {'cell_type': 'code', 'metadata': {}, 'source': "raise ValueError('deliberately broken')",
                     'outputs': [], 'execution_count': None, 'id': 'b'}],
          'metadata': {'kernelspec': {'name': 'python3', 'display_name': 'Python 3', 'language': 'python'}},
          'nbformat': 4, 'nbformat_minor': 5}
    (src / 'nbs/01_broken.ipynb').write_text(json.dumps(nb))
    t = time.perf_counter()
    r = sphinx(src, tmp_path / 'site', tmp_path / 'doctrees', '-q',
               '-D', f'nb_execution_cache_path={tmp_path / "cache"}')
    assert r.returncode != 0 and time.perf_counter() - t < 600
    out = r.stdout + r.stderr
    assert '01_broken.ipynb' in out and 'deliberately broken' in out and 'ValueError' in out, out[-3000:]


def test_the_front_door_opens_the_contents_page_and_a_broken_one_is_reported(book, tmp_path):
    assert check_book.check_front_door(book / 'index.html', book) == []
    assert (book / 'docs/index.html').is_file()
    broken = tmp_path / 'index.html'
    broken.write_text((book / 'index.html').read_text().replace('docs/index.html', 'docs/gone.html'))
    assert check_book.check_front_door(broken, tmp_path) == ['index.html: it sends the browser to a missing docs/gone.html']
    broken.write_text('<html><title>x</title><h1>x</h1></html>')
    assert 'sends the browser nowhere' in check_book.check_front_door(broken, tmp_path)[0]


def test_show_doc_source_links_to_github_are_dropped(book):
    page = (book / 'nbs/05_source.html').read_text(encoding='utf-8')
    assert 'show_doc' in page and 'github.com/' not in page and '{target=' not in page
