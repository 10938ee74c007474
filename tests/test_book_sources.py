"""The book's source pages (tools/book/sources.py): symbols, highlighted code with anchors, outline, links from lesson code."""
import html
import importlib
import inspect
import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / 'tools' / 'book'))
import sources  # noqa: E402

MODULES = ['fdl.stats', 'fdl.learner', 'fdl.callbacks', 'fdl.dunder']


def py(mod: str) -> Path: return ROOT / (mod.replace('.', '/') + '.py')


def cell_href(cell: str) -> str:
    nb, cid = cell.split('#')
    return f'{Path(nb).stem}.html#cell-{cid}'


@pytest.fixture(scope='module')
def syms():
    return {m: sources.module_symbols(py(m), m) for m in MODULES}


@pytest.fixture(scope='module')
def pages():
    return {m: sources.render_source(py(m), m, cell_href) for m in MODULES}


def by_anchor(symbols): return {s['anchor']: s for s in symbols}


def resolve(qualname: str):
    "The object a qualname names, imported."
    parts = qualname.split('.')
    for i in range(len(parts), 0, -1):
        try: obj = importlib.import_module('.'.join(parts[:i]))
        except ImportError: continue
        for p in parts[i:]: obj = inspect.getattr_static(obj, p)
        return obj
    raise ImportError(qualname)


def def_line(obj) -> int:
    "The line of the `def`/`class` statement of `obj` (after its decorators), from inspect."
    obj = getattr(obj, 'fget', obj)  # a property: its getter
    obj = inspect.unwrap(getattr(obj, '__func__', obj))
    lines, start = inspect.getsourcelines(obj)
    return start + next(i for i, l in enumerate(lines) if re.match(r'\s*(async\s+def|def|class)\b', l))


# ---------------------------------------------------------------- module_symbols

def test_symbols_stats(syms):
    s = {x['qualname']: x for x in syms['fdl.stats']}
    var = s['fdl.stats.var']
    assert (var['name'], var['kind'], var['parent']) == ('var', 'function', None)
    assert var['cell'] == 'nbs/03_stats.ipynb#ebcbd4c3'
    assert s['fdl.stats.RunningStats']['kind'] == 'class'
    upd = s['fdl.stats.RunningStats.update']
    assert (upd['kind'], upd['parent'], upd['name']) == ('method', 'fdl.stats.RunningStats', 'update')
    assert s['fdl.stats.RunningStats.mean']['kind'] == 'method'  # a property, listed by its def line
    assert all(x['line'] <= x['end'] for x in syms['fdl.stats'])
    assert [x['line'] for x in syms['fdl.stats']] == sorted(x['line'] for x in syms['fdl.stats'])
    assert not any(x['kind'] == 'constant' for x in syms['fdl.stats'])  # fdl's __all__ lists only classes and functions


@pytest.mark.parametrize('mod', MODULES)
def test_symbol_lines_match_inspect(syms, mod):
    "Every symbol in effect (the last definition of its name) is where inspect finds the imported object."
    checked = 0
    for s in syms[mod]:
        if s['anchor'] != s['qualname']: continue  # replaced later by a @patch: not what the import holds
        obj = resolve(s['qualname'])
        if not (inspect.isclass(obj) or inspect.isfunction(obj) or isinstance(obj, (property, staticmethod, classmethod))): continue
        assert def_line(obj) == s['line'], s['qualname']
        checked += 1
    assert checked >= 20


def test_symbol_lines_examples(syms):
    import fdl.learner, fdl.stats
    s = {x['anchor']: x for m in MODULES for x in syms[m]}
    assert s['fdl.stats.var']['line'] == def_line(fdl.stats.var)
    assert s['fdl.learner.Learner.fit']['line'] == def_line(fdl.learner.Learner.fit)
    lr = s['fdl.learner.Learner.lr_find']  # added by @patch
    assert lr['line'] == def_line(fdl.learner.Learner.lr_find) and lr['kind'] == 'method'
    assert lr['parent'] == 'fdl.learner.Learner' and lr['patch'] and lr['line'] > s['fdl.learner.Learner']['end']
    src = py('fdl.learner').read_text().splitlines()
    assert src[lr['line'] - 2] == '@patch' and src[lr['line'] - 1].startswith('def lr_find(self:Learner')


def test_a_replaced_method_keeps_the_patch_as_its_anchor(tmp_path):
    "fdl itself never replaces a method (tests/test_style.py), but the source pages still mark one that is."
    p = tmp_path / 'mod.py'
    p.write_text('# %% ../nbs/01_x.ipynb #aaaa1111\nclass A:\n    def g(self): return 1\n\n'
                 '# %% ../nbs/01_x.ipynb #bbbb2222\n@patch\ndef g(self:A): return 2\n'
                 '# %% auto #0\n__all__ = ["A"]\n')
    s = {x['anchor']: x for x in sources.module_symbols(p, 'pkg.mod')}
    new, old = s['pkg.mod.A.g'], s['pkg.mod.A.g~1']
    assert (old['line'], new['line']) == (3, 7) and new['patch'] and new['cell'] == 'nbs/01_x.ipynb#bbbb2222'


def test_patch_union(tmp_path):
    p = tmp_path / 'mod.py'
    p.write_text('# %% ../nbs/01_x.ipynb #aaaa1111\nclass A: pass\nclass B:\n    def g(self): pass\n\n'
                 '# %% ../nbs/01_x.ipynb #bbbb2222\n@patch\ndef f(self:A|B, x): pass\n@patch\ndef h(self:Tensor): pass\n'
                 '# %% auto #0\n__all__ = ["A", "B", "K"]\nK = 3\n')
    s = {x['anchor']: x for x in sources.module_symbols(p, 'pkg.mod')}
    assert s['pkg.mod.A.f']['parent'] == 'pkg.mod.A' and s['pkg.mod.B.f']['parent'] == 'pkg.mod.B'
    assert s['pkg.mod.A.f']['line'] == 8 and s['pkg.mod.A.f']['cell'] == 'nbs/01_x.ipynb#bbbb2222'
    assert s['pkg.mod.B.g']['cell'] == 'nbs/01_x.ipynb#aaaa1111'
    assert s['pkg.mod.Tensor.h']['parent'] is None and s['pkg.mod.Tensor.h']['kind'] == 'method'
    assert s['pkg.mod.K']['kind'] == 'constant' and s['pkg.mod.K']['cell'] is None  # in the `# %% auto` cell
    assert 'pkg.mod.f' not in s
    out = sources.render_source(p, 'pkg.mod', lambda c: None)
    assert 'Tensor.h' in out['outline'] and 'fdl-src-lesson' not in out['body']


@pytest.mark.parametrize('mod', MODULES)
def test_cells_exist_in_notebooks(syms, mod):
    ids = {}
    for s in syms[mod]:
        assert s['cell'] is not None, s['qualname']  # every definition sits in a notebook cell
        nb, cid = s['cell'].split('#')
        assert nb.startswith('nbs/') and nb.endswith('.ipynb')
        if nb not in ids: ids[nb] = {c.get('id') for c in json.loads((ROOT / nb).read_text())['cells']}
        assert cid in ids[nb], s['cell']
        # and that cell's source holds the definition
        cell = next(c for c in json.loads((ROOT / nb).read_text())['cells'] if c.get('id') == cid)
        assert re.search(rf'\b(def|class)\s+{re.escape(s["name"])}\b', ''.join(cell['source'])), s['qualname']


# ---------------------------------------------------------------- render_source

@pytest.mark.parametrize('mod', MODULES)
def test_body_line_ids(pages, mod):
    page = pages[mod]
    n = len(py(mod).read_text().splitlines())
    assert page['lines'] == n
    ids = re.findall(r'\bid="([^"]*)"', page['body'])
    assert len(ids) == len(set(ids))
    assert [i for i in ids if re.fullmatch(r'L\d+', i)] == [f'L{k}' for k in range(1, n + 1)]
    # each line number links to its own line
    assert re.findall(r'<a class="fdl-src-ln" href="#L(\d+)" tabindex="-1">(\d+)</a>', page['body']) == [(str(k), str(k)) for k in range(1, n + 1)]


@pytest.mark.parametrize('mod', MODULES)
def test_body_symbol_ids(pages, syms, mod):
    body = pages[mod]['body']
    for s in syms[mod]:
        assert body.count(f'id="{html.escape(s["anchor"])}"') == 1, s['anchor']
        # the symbol's anchor sits on its `def`/`class` line
        m = re.search(rf'<span class="fdl-src-line fdl-src-def" id="L(\d+)">(?:(?!</span>\n</span>).)*?id="{re.escape(s["anchor"])}"', body)
        assert m and int(m.group(1)) == s['line'], s['anchor']
    assert pages[mod]['symbols'] == {s['qualname']: s['anchor'] for s in syms[mod] if s['anchor'] == s['qualname']}
    assert set(pages[mod]['symbols']) == {s['qualname'] for s in syms[mod]}


def test_body_text_is_the_source():
    "Stripped of tags and line numbers, the body is the module's text, escaped correctly."
    page = sources.render_source(py('fdl.stats'), 'fdl.stats', cell_href)
    body = re.sub(r'<a class="fdl-src-(ln|lesson)"[^>]*>[^<]*</a>', '', page['body'])
    text = html.unescape(re.sub(r'<[^>]+>', '', body))
    assert text == py('fdl.stats').read_text()


def test_body_lesson_links(pages):
    body = pages['fdl.stats']['body']
    line = re.search(r'<span class="fdl-src-line fdl-src-def" id="L\d+">.*?id="fdl.stats.var".*?\n</span>', body).group(0)
    assert '<a class="fdl-src-lesson" href="03_stats.html#cell-ebcbd4c3" title="the lesson cell that writes it" aria-label="the lesson cell that writes var">lesson</a>' in line
    assert 'class="highlight' in body and '<span class="k">def</span>' in body


def test_escaping(tmp_path):
    p = tmp_path / 'esc.py'
    p.write_text('# %% ../nbs/x.ipynb #c1\ndef f(a="<b>&amp;</b>"):\n    "doc with </span> and <script>"\n    return a < 1\n')
    out = sources.render_source(p, 'pkg.esc', lambda c: 'x.html?a=1&b=2#cell-c1')
    assert '<script>' not in out['body'] and '<b>' not in out['body'] and '</span> and' not in out['body']
    assert '&lt;script&gt;' in out['body'] and '&amp;amp;' in out['body'] and 'href="x.html?a=1&amp;b=2#cell-c1"' in out['body']


@pytest.mark.parametrize('mod', MODULES)
def test_outline(pages, syms, mod):
    page = pages[mod]
    out = page['outline']
    assert out.startswith('<nav class="fdl-src-outline" aria-label="Outline">')
    body_ids = set(re.findall(r'\bid="([^"]*)"', page['body']))
    hrefs = re.findall(r'href="#([^"]*)"', out)
    assert hrefs and all(html.unescape(h) in body_ids for h in hrefs)
    listed = [s for s in syms[mod] if s['kind'] in ('class', 'function') or s['parent']]
    assert sorted(html.unescape(h) for h in hrefs) == sorted(s['anchor'] for s in listed)
    top = [html.unescape(h) for h in re.findall(r'<li class="fdl-src-(?:class|function)">(?:<details open><summary>)?<a href="#([^"]*)"', out)]
    assert top == [s['anchor'] for s in syms[mod] if s['kind'] in ('class', 'function')]  # source order


def test_outline_classes_fold(pages):
    out = pages['fdl.learner']['outline']
    m = re.search(r'<details open><summary><a href="#fdl.learner.Learner"[^>]*>Learner</a></summary><ol>(.*?)</ol></details>', out)
    assert m, out[:500]
    methods = re.findall(r'href="#([^"]*)"', m.group(1))
    assert methods[0] == 'fdl.learner.Learner.__init__' and 'fdl.learner.Learner.fit' in methods  # source order
    assert 'fdl.learner.Learner.lr_find' in methods and methods.index('fdl.learner.Learner.lr_find') > methods.index('fdl.learner.Learner.one_batch')
    assert out.count('<details') == out.count('</details>') == sum(1 for s in sources.module_symbols(py('fdl.learner'), 'fdl.learner')
                                                                 if s['kind'] == 'class' and any(t['parent'] == s['qualname'] for t in sources.module_symbols(py('fdl.learner'), 'fdl.learner')))


# ---------------------------------------------------------------- link_names

@pytest.fixture(scope='module')
def lab_html():
    "nbconvert's JupyterLab rendering of code cells: the HTML `link_names` is given in the book."
    import nbformat
    from nbconvert import HTMLExporter
    def render(*sources_):
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_code_cell(s) for s in sources_]
        body, _ = HTMLExporter(template_name='lab').from_notebook_node(nb)
        return re.findall(r'<div class="highlight[^"]*"><pre>.*?</pre></div>', body, re.S)
    return render


TARGETS = {'var': 'fdl.stats.html#fdl.stats.var', 'fdl.stats.var': 'fdl.stats.html#fdl.stats.var',
           'fdl.stats': 'fdl.stats.html', 'RunningStats': 'fdl.stats.html#fdl.stats.RunningStats',
           'RunningStats.update': 'fdl.stats.html#fdl.stats.RunningStats.update'}


def links(h: str) -> list[tuple[str, str]]:
    "(href, linked text) of each symbol link in `h`."
    return [(html.unescape(a), re.sub(r'<[^>]+>', '', t)) for a, t in re.findall(r'<a class="fdl-sym" href="([^"]*)">(.*?)</a>', h)]


def test_link_names_lab(lab_html):
    [h] = lab_html('from fdl.stats import var\nvar(x)')
    out = sources.link_names(h, TARGETS)
    assert links(out) == [('fdl.stats.html', 'fdl.stats'), (TARGETS['var'], 'var'), (TARGETS['var'], 'var')]
    assert '<a class="fdl-sym" href="fdl.stats.html#fdl.stats.var"><span class="n">var</span></a>' in out  # the span is kept
    assert re.sub(r'</?a[^>]*>', '', out) == h  # nothing else changes


def test_link_names_negative(lab_html):
    [h] = lab_html('t.var()\nx = t.var(dim=0).var\ns = "var"  # var\nprint(f"var {1}", \'var\')\nvar = 3\nf(var=2)\nimport var as v')
    assert links(sources.link_names(h, TARGETS)) == []


def test_link_names_dotted(lab_html):
    [h] = lab_html('import fdl.stats\nfdl.stats.var(x)\nx.fdl.stats.var(x)\nRunningStats.update(s, x)\nRunningStats().update(x)')
    got = links(sources.link_names(h, TARGETS))
    assert got == [('fdl.stats.html', 'fdl.stats'), ('fdl.stats.html', 'stats'), (TARGETS['var'], 'var'),  # each part that names a target
                   (TARGETS['RunningStats'], 'RunningStats'), (TARGETS['RunningStats.update'], 'update'),
                   (TARGETS['RunningStats'], 'RunningStats')]


def test_link_names_skip_and_defs(lab_html):
    [h] = lab_html('def var(x): return x\nclass RunningStats: pass\nvar(1)')
    assert [t for _, t in links(sources.link_names(h, TARGETS))] == ['var', 'RunningStats', 'var']
    assert links(sources.link_names(h, TARGETS, skip={'var', 'RunningStats'})) == []
    src = 'def var(x): return x\nclass RunningStats: pass\nvar(1)'
    assert sources.bound_names(src) == {'var', 'RunningStats', 'x'}
    assert sources.bound_names(src, exported=True) == {'x'}  # an exported cell's defs are the fdl symbols: linked


def test_link_names_escaping():
    h = '<div class="highlight"><pre><span class="n">var</span><span class="p">(</span><span class="s2">&quot;&lt;b&gt;&quot;</span></pre></div>'
    out = sources.link_names(h, {'var': 'a.html?x=1&y="2"#v'})
    assert out.startswith('<div class="highlight"><pre><a class="fdl-sym" href="a.html?x=1&amp;y=&quot;2&quot;#v"><span class="n">var</span></a>')
    assert out.endswith('<span class="s2">&quot;&lt;b&gt;&quot;</span></pre></div>')


def test_bound_names():
    src = ('from fdl.stats import var, mean\nfrom torch import std\nimport numpy as np\nimport fdl.stats\n'
           'x, (y, *z) = 1, (2, 3)\nfor i in range(3): k = i\nwith open("f") as fh: pass\ndef cov(a): b = 1\nclass C: pass\n')
    assert sources.bound_names(src) == {'std', 'np', 'x', 'y', 'z', 'i', 'k', 'fh', 'cov', 'a', 'b', 'C'}
    assert sources.bound_names('%timeit var(x)\nmean = 3\n') == {'mean'}


def test_link_targets():
    mods = {m: py(m) for m in MODULES}
    t = sources.link_targets(mods)
    assert t['var'] == t['fdl.stats.var'] == 'fdl.stats.html#fdl.stats.var'
    assert t['fdl.stats'] == 'fdl.stats.html'
    assert t['Learner.fit'] == t['fdl.learner.Learner.fit'] == 'fdl.learner.html#fdl.learner.Learner.fit'
    assert t['Learner._batches'] == 'fdl.learner.html#fdl.learner.Learner._batches'  # the @patch in effect
    assert '_moments' not in t and 'fdl.stats._moments' not in t  # not exported
    ids = {m: set(re.findall(r'\bid="([^"]*)"', sources.render_source(py(m), m, cell_href)['body'])) for m in MODULES}
    for href in t.values():
        page, _, frag = href.partition('#')
        assert page.removesuffix('.html') in mods and (not frag or frag in ids[page.removesuffix('.html')]), href


def test_notebook_skips():
    cells = ['from fdl.stats import var, mean',                                  # 0: fdl's
             'class Learner: pass\nmean = 3',                                   # 1: rebinds Learner, mean
             'Learner(); mean',                                                 # 2: still rebound
             '#| export\nclass RunningStats:\n    def mean(self): return var(self)',  # 3: mean is a method: the namespace keeps 3
             'from fdl.stats import mean\n[var for var in range(3)]',            # 4: mean is fdl's again; var bound in the cell
             'var(mean)',                                                       # 5: comprehension variables do not leak
             '#| export\ndef var(x, mean=0): return x',                          # 6: an exported def is the symbol
             '%timeit var(x)']                                                  # 7: not Python: nothing rebound
    sk = sources.notebook_skips(cells)
    assert sk[0] == set() and sk[1] == {'Learner', 'mean'} and sk[2] == {'Learner', 'mean'}
    assert sk[3] == {'Learner', 'mean', 'self'} and 'RunningStats' not in sk[3]
    assert sk[4] == {'Learner', 'var'} and sk[5] == {'Learner'}
    assert sk[6] == {'Learner', 'x', 'mean'} and sk[7] == {'Learner'}


def test_real_lessons_link(lab_html):
    "In lesson 03 `mean(t)` links to fdl.stats.mean; in lesson 02, whose own `Learner` shadows fdl's, `Learner(...)` does not."
    import nbformat
    t = sources.link_targets({m: py(m) for m in ['fdl.stats', 'fdl.learner', 'fdl.dunder']})
    for nb, name, expect in (('03_stats', 'mean', True), ('02_dunder', 'Learner', False)):
        cells = [c for c in nbformat.read(ROOT / 'nbs' / f'{nb}.ipynb', as_version=4).cells if c.cell_type == 'code']
        skips = sources.notebook_skips([c.source for c in cells])
        i = next(i for i, c in enumerate(cells) if re.search(rf'^[^#.\n]*(?<![\w.]){name}\(', c.source, re.M)
                 and not re.search(rf'(def|class) {name}\b', c.source) and i > 0)
        [h] = lab_html(cells[i].source)
        linked = [x for _, x in links(sources.link_names(h, t, skips[i]))]
        assert (name in linked) == expect, (nb, cells[i].source[:200])
