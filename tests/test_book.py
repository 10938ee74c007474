"""The offline lesson book: tools/build_lesson.py builds it, tools/check_book.py opens it in headless Chromium."""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / 'tools'))
import build_lesson  # noqa: E402
import check_book  # noqa: E402

HIDDEN = 'HIDDEN_CELL_MARKER_7391'
HIDDEN_NOSPACE = 'HIDDEN_NOSPACE_MARKER_2214'
HOOD = 'HOOD_MARKER_5150'
SOLUTION = 'SOLUTION_MARKER_8080'
HIDDEN_DEF = 'hidden_helper_4242'


def need_chromium():
    "Skip (or, under CI, fail) when there is no Chromium to drive."
    if check_book.find_chromium() is None:
        msg = f'Chromium not found at {check_book.CHROMIUM} or on PATH (apt-get install chromium)'
        if os.environ.get('CI'): pytest.fail(msg)
        pytest.skip(msg)


def write_nb(path: Path, cells) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(src[3:]) if src.startswith('md:') else nbformat.v4.new_code_cell(src)
                for src in cells]
    for i, c in enumerate(nb.cells): c.id = f'cell-{i}'
    nbformat.write(nb, path)
    return path


def run_build(*args) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != 'MPLBACKEND'}
    return subprocess.run([sys.executable, str(ROOT / 'tools' / 'build_lesson.py'), *map(str, args)],
                          capture_output=True, text=True, env=env, timeout=300)


@pytest.fixture(scope='module')
def book(tmp_path_factory):
    "A two-page book: a markdown-only index and a lesson with every kind of output the book must show."
    src = tmp_path_factory.mktemp('nbs')
    index = write_nb(src / 'index.ipynb', [
        'md:# Fixture book\n\nStart with [the widgets lesson](01_widgets.ipynb#Fixture-lesson).\n\n'
        'Pythagoras: $a^2 + b^2 = c^2$.'])
    lesson = write_nb(src / '01_widgets.ipynb', [
        '#| default_exp fixture',
        'md:# Fixture lesson\n\nEuler: $$e^{i\\pi} + 1 = 0$$ and a loss $\\mathcal{L} = \\mathbb{E}[\\ell]$',
        f'#| hide\n{HIDDEN} = 1',
        f'#|hide\n{HIDDEN_NOSPACE} = 2',
        '#| export\ndef double(x): return 2 * x\ndouble(21)',
        "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3], [1, 4, 9]); plt.title('squares'); plt.xlabel('n'); plt.ylabel('n squared');",
        f'#| hide\ndef {HIDDEN_DEF}(): return 3',
        f'#| hide\ndef hidden_check_5151(): return 4',
        f'md:## The shortcut $\\operatorname{{E}}[X^2] - \\operatorname{{E}}[X]^2$\n\nSee [it](#The-shortcut-E-X-2-E-X-2); `{HIDDEN_DEF}` is in a hidden cell.',
        "import ipywidgets as widgets\nwidgets.Button(description='Press me')",
        "from tqdm.auto import tqdm\nfor _ in tqdm(range(3), desc='counting'): pass",
        "#| eval: false\nraise RuntimeError('shown, never run')",
        'md:## Under the hood\n\nHow it is made.',
        f'HOOD_CODE = {HOOD!r}',
        'md:Rare cases.',
        'md:## Exercises\n\n### Exercise 1: double\n\nWhat is `double(2)`?',
        f'#| solution\nassert double(2) == 4\n{SOLUTION!r}',
    ])
    out = tmp_path_factory.mktemp('book') / 'site'
    r = run_build('--out', out, index, lesson)
    assert r.returncode == 0, r.stdout + r.stderr
    pages = {p.name: p.read_text() for p in out.glob('*.html')}
    return out, pages, r.stdout


def test_build_writes_one_page_per_notebook(book):
    out, pages, stdout = book
    sources = sorted(build_lesson.source_page(py) for py in build_lesson.source_modules(ROOT / 'fdl'))
    assert sorted(pages) == sorted(['01_widgets.html', 'index.html'] + sources) and 'fdl.stats.html' in sources
    assert '01_widgets.ipynb ... ok' in stdout and 'widget(s) rendered statically' in stdout
    assert f'The lesson book is at {out / "index.html"}' in stdout
    assert re.search(r'<title>Fixture lesson · fdl</title>', pages['01_widgets.html'])


def test_hidden_cells_and_directives_are_gone(book):
    _, pages, _ = book
    html = pages['01_widgets.html']
    assert HIDDEN not in html and HIDDEN_NOSPACE not in html  # hidden checks are gone; a hidden definition is collapsed:
    assert re.search(rf'<details class="fdl-hidden"><summary>Hidden in the notebook, the code of {HIDDEN_DEF} \(click to read\)</summary>.*?{HIDDEN_DEF}.*?</details>', html, re.S)
    assert 'hidden_check_5151' not in html  # hidden and named nowhere in the prose: a check, not something to read
    assert '#| export' not in html and '#|' not in html and 'default_exp' not in html
    assert re.search(r'>def</span>(<span class="w"> </span>)?<span class="nf">double</span>', html)  # the exported cell stays, highlighted
    assert re.search(r'<img [^>]*src="data:image/png;base64,', html)  # the figure is embedded
    assert 'shown, never run' in html and 'eval:' not in html  # an `eval: false` cell is shown, not run


def test_widgets_render_statically(book):
    _, pages, _ = book
    html = pages['01_widgets.html']
    assert re.search(r'<button disabled[^>]*>Press me</button>', html)
    assert build_lesson.NOTE in html
    assert 'counting' in html and re.search(r'<progress max="3" value="3"', html)
    assert 'application/vnd.jupyter.widget' not in html  # no widget view or state left for JavaScript


def test_navigation_and_offline_assets(book):
    out, pages, _ = book
    for name, html in pages.items():
        assert 'href="index.html"' in html and 'href="01_widgets.html"' in html and 'href="fdl.stats.html"' in html  # the page lists
        assert not re.search(r'<(script|link)[^>]+(src|href)="(https?:)?//', html), name
    assert re.search(r'<a class="fdl-next" href="01_widgets.html" rel="next">', pages['index.html'])
    assert re.search(r'<a class="fdl-prev" href="index.html" rel="prev">', pages['01_widgets.html'])
    assert 'href="01_widgets.html#Fixture-lesson"' in pages['index.html']  # .ipynb link now points at the page
    assert (out / build_lesson.MATHJAX_DIR / 'MathJax.js').is_file()


def test_under_the_hood_is_collapsed_and_outlined(book):
    _, pages, _ = book
    html = pages['01_widgets.html']
    heading, details, code = html.index('id="Under-the-hood"'), html.index('<details class="fdl-hood"'), html.index(HOOD)
    assert heading < details < code < html.index('Rare cases') < html.index('</details>', details)
    assert '<details class="fdl-hood" open' not in html and 'Optional reading' in html
    assert re.search(r'<ol class="fdl-outline"[^>]*>.*<a href="#Under-the-hood">Under the hood</a>', html)
    assert '<details class="fdl-hood"' not in pages['index.html']  # a page without the section has no collapsed part


def test_solutions_are_collapsed_outside_under_the_hood(book):
    _, pages, _ = book
    html = pages['01_widgets.html']
    sol = html.index('<details class="fdl-solution"><summary>Solution (click to open)</summary>')
    assert html.index('</details>', html.index('<details class="fdl-hood"')) < html.index('id="Exercises"') < sol < html.index(SOLUTION)  # hood closed before
    assert '#| solution' not in html and 'solution' not in html[sol - 400:sol].lower().replace('fdl-solution', '')


def test_book_passes_the_browser_check(book):
    need_chromium()
    out, _, _ = book
    assert check_book.check_book(out) == []


def test_browser_check_reports_broken_pages(book, tmp_path):
    "Break copies of the pages on purpose: a missing image, a CDN script, a link to a page that does not exist."
    need_chromium()
    out, pages, _ = book
    broken = tmp_path / 'broken'
    shutil.copytree(out, broken)
    lesson = pages['01_widgets.html']
    (broken / '01_widgets.html').write_text(
        re.sub(r'src="data:image/png;base64,[^"]*"', 'src="figure_missing.png"', lesson, count=1))
    (broken / 'cdn.html').write_text(
        pages['index.html'].replace('</head>', '<script src="https://cdn.example.com/lib.js"></script></head>', 1))
    (broken / 'hoodopen.html').write_text(lesson.replace('<details class="fdl-hood"', '<details open class="fdl-hood"', 1))
    hood = lesson.index('<details class="fdl-hood"')
    end = lesson.index('</details>', hood)
    (broken / 'nohood.html').write_text(lesson[:hood] + re.sub(r'<details class="fdl-hood".*?</summary>', '', lesson[hood:end], flags=re.S)
                                        + lesson[end + len('</details>'):])
    (broken / 'solopen.html').write_text(lesson.replace('<details class="fdl-solution"', '<details open class="fdl-solution"', 1))
    (broken / 'badlink.html').write_text(
        pages['index.html'].replace('</main>', '<a href="02_missing.html#top">next lesson</a></main>', 1))
    problems = check_book.check_book(broken)
    text = '\n'.join(problems)
    assert re.search(r"01_widgets\.html: image did not load: 'figure_missing\.png'", text), text
    assert 'cdn.html: network request attempted (blocked): https://cdn.example.com/lib.js' in text, text
    assert 'badlink.html: link to a missing page: 02_missing.html' in text, text
    assert 'hoodopen.html: Under the hood is open when the page loads' in text, text
    assert 'solopen.html: 1 solution(s) shown open' in text, text
    assert 'nohood.html: Under the hood is not one collapsed' in text, text
    assert not any(p.startswith(('index.html', '01_widgets.html:')) and 'figure_missing' not in p for p in problems), text


def test_browser_check_reports_javascript_errors_and_missing_title(tmp_path):
    need_chromium()
    (tmp_path / 'index.html').write_text('<html><head><title></title></head><body><p>no heading</p>'
                                         '<script>undefinedFunction()</script></body></html>')
    text = '\n'.join(check_book.check_book(tmp_path))
    assert 'index.html: the <title> is empty' in text
    assert 'index.html: no <h1> heading is rendered' in text
    assert re.search(r'index\.html: JavaScript error: .*undefinedFunction', text), text


def test_raising_cell_fails_the_build_and_names_it(tmp_path):
    nb = write_nb(tmp_path / '02_broken.ipynb', [
        'md:# Broken', 'x = 1', "raise ValueError('deliberately broken')", 'y = 2'])
    out = tmp_path / 'site'
    r = run_build('--out', out, nb)
    assert r.returncode == 1
    err = r.stderr
    assert re.search(r'FAILED: \S*02_broken\.ipynb, cell 3 of 4 \(id cell-2\)', err), err
    assert "| raise ValueError('deliberately broken')" in err
    assert 'ValueError: deliberately broken' in err
    assert not (out / 'index.html').exists()


def test_directives_are_parsed_and_stripped():
    directives, src = build_lesson.split_directives('#| export\n#|hide\n#| echo: false\n\nx = 1\n')
    assert directives == {'export': '', 'hide': '', 'echo': 'false'}
    assert src == 'x = 1'


def test_unknown_and_missing_widgets_say_so():
    state = {'a': {'model_name': 'ColorfulThingModel', 'state': {}},
             'b': {'model_name': 'VBoxModel', 'state': {'children': ['IPY_MODEL_a', 'IPY_MODEL_zz']}}}
    html, interactive = build_lesson.widget_html('b', state)
    assert '[ipywidgets ColorfulThing: live in Jupyter]' in html
    assert '[ipywidgets widget: live in Jupyter]' in html and not interactive

def test_show_doc_source_links_are_dropped():
    md = ('---\n\n[source](https://github.com/fdl/fdl/blob/main/fdl/source.py#L71){target="_blank" style="float:right; font-size:smaller"}'
          '\n\n### locate\n\n```python\ndef locate(obj)\n```')
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell('show_doc(locate)', outputs=[
        nbformat.v4.new_output('display_data', data={'text/markdown': md, 'text/plain': '<show_doc>'})])])
    build_lesson.prepare_for_page(nb)
    shown = nb.cells[0].outputs[0]['data']['text/markdown']
    assert '[source]' not in shown and 'target=' not in shown and '### locate' in shown and 'def locate(obj)' in shown

def test_the_real_lesson_book_passes_the_browser_check(tmp_path):
    "Every lesson notebook executed and rendered as `make lesson` does it, then opened in Chromium."
    need_chromium()
    out = tmp_path / 'lesson'
    r = run_build('--out', out)
    assert r.returncode == 0, r.stdout + r.stderr
    pages = sorted(p.name for p in out.glob('*.html'))
    expected = (['index.html'] + sorted(p.with_suffix('.html').name for p in (ROOT / 'nbs').glob('[0-9]*.ipynb'))
                + [build_lesson.source_page(py) for py in build_lesson.source_modules(ROOT / 'fdl')])
    assert pages == sorted(expected)
    for lesson in ('01', '02', '03', '04'):  # each has an Under the hood section, collapsed; check_book opens it to see
        page, = out.glob(f'{lesson}_*.html')
        assert '<details class="fdl-hood"' in page.read_text(), page.name
    for py in build_lesson.source_modules(ROOT / 'fdl'): assert (out / build_lesson.source_page(py)).is_file()
    dunder, learner = (out / '02_dunder.html').read_text(), (out / '06_learner.html').read_text()
    assert 'class="fdl-sym" href="fdl.learner.html#fdl.learner.Learner"' not in dunder  # lesson 02 writes its own Learner
    assert 'class="fdl-sym" href="fdl.learner.html#fdl.learner.Learner"' in learner
    for nb in (ROOT / 'nbs').glob('*.ipynb'): assert (out / 'notebooks' / nb.name).read_bytes() == nb.read_bytes(), nb.name
    # typing "logsumexp" finds lesson 04 and fdl.softmax.logsumexp, and choosing it lands on its definition;
    # a name in lesson 04's code opens its source line, and back returns to the lesson
    assert check_book.check_book(out, **check_book.FDL_PROBES) == []


def test_one_shared_stylesheet(book):
    out, pages, _ = book
    css = (out / build_lesson.STYLESHEET).read_text()
    assert '.fdl-toc' in css and '.jp-Notebook' in css and '.highlight' in css  # the book's, JupyterLab's, the code colours
    for name, html in pages.items():
        assert '<style' not in html and html.count('<link rel="stylesheet" href="_static/book.css">') == 1, name
        assert len(html) < len(css) + 200_000 or name.startswith('fdl.'), name


def test_figures_are_described(book):
    _, pages, _ = book
    alts = [a for _, a in re.findall(r'<img [^>]*alt=(["\'])(.*?)\1', pages['01_widgets.html'])]
    assert alts == ['Figure: plot "squares" of n squared against n'], alts
    assert 'No description' not in pages['01_widgets.html']


def test_headings_anchor_on_plain_words(book):
    _, pages, _ = book
    html = pages['01_widgets.html']
    assert 'id="The-shortcut-E-X-2-E-X-2"' in html and 'href="#The-shortcut-E-X-2-E-X-2"' in html
    assert all(re.fullmatch(r'[A-Za-z0-9_-]+', a) for a in re.findall(r'<h[1-6] id="([^"]*)"', html))
    assert build_lesson.plain_id("Exercise-3:-the-gradient-under-reduction='sum'") == 'Exercise-3-the-gradient-under-reduction-sum'


def test_lesson_pages_link_their_notebook_byte_for_byte(book):
    out, pages, stdout = book
    assert re.search(r'<a download="" href="notebooks/01_widgets.ipynb">', pages['01_widgets.html'])
    sources = [Path(m) for m in re.findall(r'executing (\S+\.ipynb)', stdout)]  # as the build names them
    assert sorted(p.name for p in (out / 'notebooks').iterdir()) == sorted(p.name for p in sources) == ['01_widgets.ipynb', 'index.ipynb']
    for nb in sources: assert (out / 'notebooks' / nb.name).read_bytes() == nb.read_bytes(), nb


def test_search_index_is_a_script_with_pages_sections_and_names(book):
    out, pages, _ = book
    import json
    js = (out / '_static' / 'search-index.js').read_text()
    docs = json.loads(js[js.index('=') + 1:].strip().rstrip(';'))['docs']
    by = {(d['kind'], d['href']): d for d in docs}
    assert ('page', '01_widgets.html') in by and 'Euler' in by['page', '01_widgets.html']['text']
    assert ('section', '01_widgets.html#Under-the-hood') in by
    assert by['symbol', 'fdl.softmax.html#fdl.softmax.logsumexp']['name'] == 'logsumexp'
    assert (out / '_static' / 'minisearch.js').read_bytes() == (ROOT / 'tools/book/vendor/minisearch/minisearch.js').read_bytes()
    for name, html in pages.items():
        assert html.index('_static/minisearch.js') < html.index('_static/search-index.js') < html.index('_static/search.js'), name
        assert 'id="fdl-q"' in html, name


def test_source_pages_anchor_lines_and_names(book):
    _, pages, _ = book
    html = pages['fdl.stats.html']
    import fdl.stats, inspect
    line = inspect.getsourcelines(fdl.stats.var)[1]
    assert 'id="fdl.stats.var"' in html and f'id="L{line}"' in html and 'href="#fdl.stats.var"' in html
    assert '<h1 id="fdl-stats-py">' in html or re.search(r'<h1 id="[^"]*">fdl/stats\.py', html)


def test_browser_check_reports_missing_alt_text_places_and_outside_links(book, tmp_path):
    need_chromium()
    out, pages, _ = book
    broken = tmp_path / 'broken2'
    shutil.copytree(out, broken)
    lesson = pages['01_widgets.html']
    (broken / 'noalt.html').write_text(re.sub(r'(<img [^>]*)alt=(["\']).*?\2', r'\1alt="No description has been provided for this image"', lesson, count=1))
    (broken / 'noplace.html').write_text(lesson.replace('</main>', '<a href="fdl.stats.html#fdl.stats.nothing_here">x</a></main>', 1))
    (broken / 'outside.html').write_text(lesson.replace('</head>', '<script src="../../outside.js"></script></head>', 1))
    (broken / 'nosearch.html').write_text(lesson.replace('<script src="_static/search-index.js"></script>', '', 1))
    text = '\n'.join(check_book.check_book(broken))
    assert 'noalt.html: a figure has no description' in text, text
    assert 'noplace.html: link to a missing place: fdl.stats.html#fdl.stats.nothing_here' in text, text
    assert 'outside.html: request outside the book folder' in text, text
    assert 'nosearch.html: the search box is missing or its index did not load' in text, text
