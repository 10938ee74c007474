#!/usr/bin/env python
"""Execute the lesson notebooks and write the offline lesson book: one HTML page per notebook.

Usage: python tools/build_lesson.py [--out _lesson] [--timeout 300] [notebooks...]

Every notebook runs top to bottom in a fresh python3 kernel (working directory: the notebook's
folder). If a cell raises, nothing is written: the notebook, the cell and the error are printed and
the exit status is 1. The pages need no network: figures are embedded, MathJax v2 is copied into
`<out>/_static/mathjax`, and ipywidgets are rendered as static HTML from the stored widget state.
"""
from __future__ import annotations

import argparse
import html
import os
import re
import shutil
import sys
import time
import urllib.parse
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent
BOOK_DIR = Path(__file__).resolve().parent / 'book'
sys.path.insert(0, str(BOOK_DIR))  # tools/book/sources.py: the source pages and the name links
MARKER = '.fdl-lesson-book'  # marks a folder this script wrote, so a rebuild may replace it
MATHJAX_DIR = '_static/mathjax'
MATHJAX_CONFIG = 'TeX-AMS-MML_HTMLorMML-full,Safe'
WIDGET_VIEW = 'application/vnd.jupyter.widget-view+json'
WIDGET_STATE = 'application/vnd.jupyter.widget-state+json'

_directive_re = re.compile(r'^\s*#\s*\|\s*(.*?)\s*$')
_heading_re = re.compile(r'^#\s+(.+?)\s*#*\s*$', re.M)
_ipynb_link_re = re.compile(r'''(\]\(\s*<?|href\s*=\s*["'])(?![a-z][a-z0-9+.-]*:|/|#)([^)"'#\s>]*?)\.ipynb(?=[)#"'\s>])''', re.I)
_ansi_re = re.compile(r'\x1b\[[0-9;?]*[A-Za-z]')
_math_re = re.compile(r'\$[^$\s]|\\\(|\\\[|\\begin\{')
# show_doc's `[source](url){target=...}`: Quarto link attributes, and a link to a repository host the book cannot assume
_showdoc_source_re = re.compile(r'\[source\]\([^)]*\)\{[^}]*\}\s*')


class BuildError(Exception):
    "A notebook could not be executed; the message says which notebook, which cell and why."


# ---------------------------------------------------------------- notebooks and their cells

def default_notebooks(nbs: Path = ROOT / 'nbs') -> list[Path]:
    "`nbs/index.ipynb` first, then the numbered lesson notebooks in order."
    index = [nbs / 'index.ipynb'] if (nbs / 'index.ipynb').exists() else []
    return index + sorted(nbs.glob('[0-9]*.ipynb'))


def split_directives(source: str) -> tuple[dict[str, str], str]:
    "The `#| name: value` directives of a cell and its source without those lines."
    directives, kept = {}, []
    for line in source.splitlines():
        m = _directive_re.match(line)
        if m:
            name, _, value = m.group(1).partition(' ')
            name = name.rstrip(':')
            if name: directives[name] = value.strip()
        else: kept.append(line)
    while kept and not kept[0].strip(): kept.pop(0)
    while kept and not kept[-1].strip(): kept.pop()
    return directives, '\n'.join(kept)


def _is_off(value: str) -> bool: return value.strip().lower() in ('false', 'no', '0')


def notebook_title(nb, fallback: str) -> str:
    "The text of the notebook's first `# ` heading, without markdown decoration."
    for cell in nb.cells:
        if cell.cell_type != 'markdown': continue
        m = _heading_re.search(cell.source)
        if m: return re.sub(r'`|\*\*', '', m.group(1)).strip() or fallback
    return fallback


def page_name(nb_path: Path) -> str: return nb_path.stem + '.html'


# ---------------------------------------------------------------- static ipywidgets

_INTERACTIVE = {'Button', 'ToggleButton', 'Checkbox', 'Text', 'Textarea', 'Password', 'Combobox',
                'IntText', 'FloatText', 'BoundedIntText', 'BoundedFloatText', 'Dropdown',
                'RadioButtons', 'Select', 'SelectMultiple', 'ToggleButtons', 'SelectionSlider',
                'SelectionRangeSlider', 'IntSlider', 'FloatSlider', 'FloatLogSlider',
                'IntRangeSlider', 'FloatRangeSlider', 'ColorPicker', 'DatePicker', 'FileUpload',
                'Play'}
_BOXES = {'HBox': 'fdl-hbox', 'VBox': 'fdl-vbox', 'Box': 'fdl-hbox', 'GridBox': 'fdl-vbox',
          'Accordion': 'fdl-vbox', 'Tab': 'fdl-vbox', 'Stack': 'fdl-vbox'}
NOTE = 'interactive when the notebook runs in Jupyter'


def _esc(x) -> str: return html.escape(str(x), quote=True)


def _num(x) -> str: return f'{x:g}' if isinstance(x, float) else str(x)


def widget_html(model_id: str, state: dict, _seen=None) -> tuple[str, bool]:
    "Static HTML saying what widget `model_id` shows, and whether it is interactive in Jupyter."
    _seen = set() if _seen is None else _seen
    model = state.get(model_id)
    if model is None or model_id in _seen: return '<span>[ipywidgets widget: live in Jupyter]</span>', False
    _seen.add(model_id)
    kind = model.get('model_name', '?').removesuffix('Model')
    s = model.get('state', {})
    desc = s.get('description') or ''
    label = f'<span class="fdl-widget-desc">{_esc(desc)}</span>' if desc and kind not in ('Button', 'ToggleButton', 'Checkbox') else ''
    interactive = kind in _INTERACTIVE
    if kind in _BOXES:
        parts = [widget_html(c.removeprefix('IPY_MODEL_'), state, _seen) for c in s.get('children', [])]
        inner = ''.join(h for h, _ in parts)
        return f'<div class="fdl-widget-box {_BOXES[kind]}">{inner}</div>', any(i for _, i in parts)
    if kind in ('Button', 'ToggleButton'):
        body = f'<button disabled>{_esc(desc or s.get("tooltip") or kind)}</button>'
    elif kind == 'Label': body = f'<span>{_esc(s.get("value", ""))}</span>'
    elif kind in ('HTML', 'HTMLMath'): body = f'<span>{s.get("value", "")}</span>'
    elif kind in ('FloatProgress', 'IntProgress'):
        lo, hi, v = s.get('min', 0), s.get('max', 100), s.get('value', 0)
        body = f'<progress value="{_num(v - lo)}" max="{_num(hi - lo)}">{_num(v)}/{_num(hi)}</progress>'
    elif kind in ('IntSlider', 'FloatSlider', 'FloatLogSlider'):
        v = s.get('value', 0)
        body = (f'<input type="range" disabled min="{_num(s.get("min", 0))}" max="{_num(s.get("max", 100))}" '
                f'step="any" value="{_num(v)}"><span>{_esc(_num(v))}</span>')
    elif kind == 'Checkbox':
        body = f'<label><input type="checkbox" disabled{" checked" if s.get("value") else ""}> {_esc(desc)}</label>'
    elif kind in ('Text', 'Password', 'Combobox', 'IntText', 'FloatText', 'BoundedIntText', 'BoundedFloatText'):
        value = '' if kind == 'Password' else _num(s.get('value', ''))
        body = f'<input type="text" disabled value="{_esc(value)}">'
    elif kind == 'Textarea': body = f'<textarea disabled>{_esc(s.get("value", ""))}</textarea>'
    elif kind in ('Dropdown', 'RadioButtons', 'Select', 'ToggleButtons', 'SelectionSlider'):
        labels, i = s.get('_options_labels', []), s.get('index')
        chosen = labels[i] if isinstance(i, int) and 0 <= i < len(labels) else ''
        body = f'<select disabled><option>{_esc(chosen)}</option></select>'
    elif kind == 'Output':
        body = ''.join(_output_html(o) for o in s.get('outputs', []))
    else:
        body = f'<span>[ipywidgets {_esc(kind)}: live in Jupyter]</span>'
        interactive = False
    return f'{label}{body}', interactive


def _output_html(out: dict) -> str:
    "A captured output of an Output widget, as plain HTML."
    if out.get('output_type') == 'stream': return f'<pre>{_esc(out.get("text", ""))}</pre>'
    data = out.get('data', {})
    if 'image/png' in data:
        alt = out.get('metadata', {}).get('image/png', {}).get('alt', '')
        return f'<img src="data:image/png;base64,{data["image/png"]}" alt="{_esc(alt)}">'
    if 'text/html' in data: return ''.join(data['text/html'])
    if 'text/plain' in data: return f'<pre>{_esc("".join(data["text/plain"]))}</pre>'
    if out.get('output_type') == 'error': return f'<pre>{_esc(out.get("ename"))}: {_esc(out.get("evalue"))}</pre>'
    return ''


def static_widgets(nb) -> int:
    "Replace every widget view in `nb` by static HTML built from the stored widget state; returns how many."
    state = nb.metadata.get('widgets', {}).get(WIDGET_STATE, {}).get('state', {})
    n = 0
    for cell in nb.cells:
        for out in cell.get('outputs', []):
            data = out.get('data', {})
            if WIDGET_VIEW not in data: continue
            model_id = data[WIDGET_VIEW].get('model_id', '')
            if model_id in state: body, interactive = widget_html(model_id, state)
            else:
                body = f'<pre>{_esc("".join(data.get("text/plain", "")))}</pre><span>[ipywidgets widget: live in Jupyter]</span>'
                interactive = False
            tooltip = state.get(model_id, {}).get('state', {}).get('tooltip')  # says what the widget does when live
            note = f'<span class="fdl-widget-note">({_esc(f"in Jupyter: {tooltip}" if tooltip else NOTE)})</span>' if interactive else ''
            del data[WIDGET_VIEW]
            data['text/html'] = f'<div class="fdl-widget">{body}{note}</div>'
            n += 1
    nb.metadata.pop('widgets', None)  # nothing left on the page needs the widget state
    return n


# ---------------------------------------------------------------- preparing a notebook for its page

_defines_re = re.compile(r'^(?:async\s+)?(?:def|class)\s+(\w+)', re.M)


def notebook_prose(nb) -> str: return '\n'.join(c.source for c in nb.cells if c.cell_type == 'markdown')


def hidden_summary(directives: dict, source: str, prose: str) -> str | None:
    """The summary line under which a `#| hide` cell is shown, collapsed, if it defines functions or classes that fdl
    exports or that the page's prose names; else None (the cell stays hidden)."""
    names = list(dict.fromkeys(_defines_re.findall(source)))
    exported = bool({'export', 'exporti', 'exports'} & set(directives))
    if not names or not (exported or any(re.search(rf'\b{re.escape(n)}\b', prose) for n in names)): return None
    shown = ', '.join(names[:6]) + (', ...' if len(names) > 6 else '')
    return f'Hidden in the notebook, the code of {shown} (click to read)'


def prepare_for_page(nb, cell_sources: dict | None = None) -> bool:
    """Drop `#| hide` cells (those that define something are kept, collapsed), strip directive lines, mark `#| solution`
    cells, link exported cells to their source page (`cell_sources`: cell id -> href and text), point `.ipynb` links
    at pages; True if the page has math."""
    cells, has_math, cell_sources, prose = [], False, cell_sources or {}, notebook_prose(nb)
    for cell in nb.cells:
        if cell.cell_type == 'markdown':
            cell.source = _ipynb_link_re.sub(r'\1\2.html', cell.source)
            has_math = has_math or bool(_math_re.search(cell.source))
            cells.append(cell)
            continue
        if cell.cell_type != 'code':
            cells.append(cell)
            continue
        directives, source = split_directives(cell.source)
        if _is_off(directives.get('include', 'true')): continue
        if 'hide' in directives:
            summary = hidden_summary(directives, source, prose)
            if summary is None: continue  # hidden checks stay in the notebook and in nbdev_test
            cell.metadata['fdl_hidden'] = summary
            cell.outputs = []
        cell.source = source
        if cell.get('id') in cell_sources: cell.metadata['fdl_source'] = cell_sources[cell['id']]
        if 'solution' in directives: cell.metadata['fdl_solution'] = True  # an exercise's solution: shown closed
        if _is_off(directives.get('output', 'true')): cell.outputs = []
        if 'hide_input' in directives or _is_off(directives.get('echo', 'true')):
            cell.metadata.setdefault('jupyter', {})['source_hidden'] = True
            cell.source = ''
        if not cell.source and not cell.outputs: continue  # e.g. a cell that held only `#| default_exp`
        for out in cell.outputs:
            data = out.get('data', {})
            if 'text/markdown' in data:
                data['text/markdown'] = _showdoc_source_re.sub('', ''.join(data['text/markdown']))
            if 'text/latex' in data or _math_re.search(''.join(data.get('text/markdown', ''))): has_math = True
        cells.append(cell)
    nb.cells = cells
    mark_under_the_hood(nb)
    return has_math


HOOD_SUMMARY = 'Optional reading: how it is made fast and exact, and the rare cases (click to open)'
_hood_re = re.compile(r'^##\s+Under the hood\b', re.I | re.M)
_after_hood_re = re.compile(r'^##\s+(Exercises|Solutions)\b', re.I | re.M)


def mark_under_the_hood(nb) -> int:
    "Mark the cells after a `## Under the hood` heading (up to `## Exercises` or the end) to render collapsed; their count."
    start = next((i for i, c in enumerate(nb.cells) if c.cell_type == 'markdown' and _hood_re.search(c.source)), None)
    if start is None: return 0
    end = next((i for i in range(start + 1, len(nb.cells))
                if nb.cells[i].cell_type == 'markdown' and _after_hood_re.search(nb.cells[i].source)), len(nb.cells))
    if end <= start + 1: return 0
    nb.cells[start + 1].metadata['fdl_hood_open'] = True
    nb.cells[end - 1].metadata['fdl_hood_close'] = True
    return end - start - 1


_h2_re = re.compile(r'<h2 id="([^"]+)"[^>]*>(.*?)</h2>', re.S)


def heading_text(inner: str) -> str:
    "The plain text of a rendered heading's inner HTML, without its pilcrow link."
    return html.unescape(re.sub(r'<[^>]+>', '', re.sub(r'<a class="anchor-link".*?</a>', '', inner, flags=re.S))).strip()


def page_outline(body: str) -> str:
    "An `<ol>` linking to the page's `##` headings, read from the rendered page."
    items = []
    for anchor, inner in _h2_re.findall(body):
        text = heading_text(inner)
        if text: items.append(f'<li><a href="#{anchor}">{_esc(text)}</a></li>')
    return f'<ol class="fdl-outline" aria-label="On this page">{"".join(items)}</ol>' if items else ''


# ---------------------------------------------------------------- execution

def _rel(p: Path) -> str:
    try: return os.path.relpath(p)
    except ValueError: return str(p)


def describe_failure(nb_path: Path, nb, index: int | None, err: Exception) -> str:
    "A clear report of a failing cell: notebook, cell number and id, its first lines, the error."
    lines = [f'FAILED: {_rel(nb_path)}']
    if index is not None and 0 <= index < len(nb.cells):
        cell = nb.cells[index]
        lines[0] += f', cell {index + 1} of {len(nb.cells)} (id {cell.get("id", "?")})'
        src = cell.source.splitlines()
        lines.append('  the cell begins:')
        lines += [f'    | {s}' for s in src[:8]] + (['    | ...'] if len(src) > 8 else [])
        errs = [o for o in cell.get('outputs', []) if o.get('output_type') == 'error']
        if errs:
            e = errs[-1]
            tb = _ansi_re.sub('', '\n'.join(e.get('traceback', []))).splitlines()
            lines.append('  traceback (last lines):')
            lines += [f'    {t}' for t in tb[-15:]]
            lines.append(f'  error: {e.get("ename")}: {e.get("evalue")}')
            return '\n'.join(lines)
    msg = _ansi_re.sub('', str(err)).strip().splitlines()
    lines.append(f'  error: {type(err).__name__}: ' + (msg[-1] if msg else ''))
    return '\n'.join(lines)


def _kernel_manager_class():
    "A kernel manager that always starts ipykernel with this Python, whatever kernelspecs are installed."
    from jupyter_client.kernelspec import KernelSpec
    from jupyter_client.manager import AsyncKernelManager
    spec = KernelSpec(argv=[sys.executable, '-m', 'ipykernel_launcher', '-f', '{connection_file}'],
                      display_name='Python 3', language='python')
    class ThisPythonKernelManager(AsyncKernelManager):
        @property
        def kernel_spec(self): return spec
    return ThisPythonKernelManager


def execute_notebook(nb, nb_path: Path, timeout: int = 300):
    "Run every cell of `nb` in a fresh python3 kernel in the notebook's folder; raise `BuildError` if one fails."
    # `#| eval: false` cells are shown but not run: nbclient skips a code cell whose source is empty
    skipped = {i: c.source for i, c in enumerate(nb.cells)
               if c.cell_type == 'code' and _is_off(split_directives(c.source)[0].get('eval', 'true'))}
    for i in skipped: nb.cells[i].source = ''
    try: return _execute(nb, nb_path, timeout)
    finally:
        for i, src in skipped.items(): nb.cells[i].source = src


# Run first in each book kernel: every matplotlib figure IPython shows (`plt.show()`, the end of a cell, `display(fig)`)
# gets alt text in its output's metadata, read from the figure itself (titles, axis labels, legend), so the page can
# describe it. IPython draws each figure with `IPython.core.pylabtools.print_figure`, looked up when matplotlib is first
# used; wrapping it before then is enough. A figure with neither title nor labels is described as 'untitled figure',
# which tools/check_book.py reports.
FIGURE_ALT = r"""
import IPython.core.pylabtools as _fdl_pt

def _fdl_describe_figure(fig):
    parts = [fig._suptitle.get_text()] if getattr(fig, '_suptitle', None) else []
    for ax in fig.axes:
        title, x, y = ax.get_title(), ax.get_xlabel(), ax.get_ylabel()
        if not (title or x or y): continue
        what = f'plot "{title}"' if title else 'plot'
        if x or y: what += f' of {y or "values"} against {x or "position"}'
        labels = [l for l in ax.get_legend_handles_labels()[1] if not l.startswith('_')]
        if labels: what += ' (legend: ' + '; '.join(f'"{l}"' for l in labels) + ')'
        parts.append(what)
    return 'Figure: ' + '; '.join(p for p in parts if p) if parts else 'untitled figure'

def _fdl_print_figure(fig, fmt='png', *args, _print=_fdl_pt.print_figure, **kwargs):
    data = _print(fig, fmt, *args, **kwargs)
    return (data, {'alt': _fdl_describe_figure(fig)}) if fmt == 'png' and data else data

_fdl_pt.print_figure = _fdl_print_figure
del _fdl_pt
"""


def _execute(nb, nb_path: Path, timeout: int):
    import nbformat
    if not any(c.cell_type == 'code' and c.source.strip() for c in nb.cells): return nb
    nb.cells.insert(0, nbformat.v4.new_code_cell(FIGURE_ALT))
    try: _execute_cells(nb, nb_path, timeout, offset=1)
    finally: del nb.cells[0]
    return nb


def _execute_cells(nb, nb_path: Path, timeout: int, offset: int = 0):
    from nbclient import NotebookClient
    from nbclient.exceptions import CellControlSignal, CellExecutionError, CellTimeoutError, DeadKernelError
    current = {}
    def on_cell_start(cell, cell_index): current['index'] = cell_index - offset
    client = NotebookClient(nb, timeout=timeout, kernel_name='python3', allow_errors=False,
                            store_widget_state=True, record_timing=False, on_cell_start=on_cell_start,
                            kernel_manager_class=_kernel_manager_class(),
                            extra_arguments=['--IPKernelApp.log_level=ERROR'],  # no transport warnings in the log
                            resources={'metadata': {'path': str(nb_path.parent)}})
    try: client.execute()
    except (CellExecutionError, CellTimeoutError, DeadKernelError, CellControlSignal, RuntimeError) as e:
        msg = describe_failure(nb_path, SimpleNamespace(cells=nb.cells[offset:]), current.get('index'), e)
        if isinstance(e, (CellTimeoutError, TimeoutError)):
            msg += f'\n  the cell ran longer than the {timeout} s allowed per cell (--timeout)'
        raise BuildError(msg) from None
    return nb


# ---------------------------------------------------------------- writing the site

def copy_mathjax(dest: Path) -> int:
    "Copy the parts of MathJax v2 the pages use (TeX input, HTML-CSS output, STIX-Web fonts); returns bytes."
    import jupyter_server_mathjax
    src = Path(jupyter_server_mathjax.__file__).parent / 'static'
    keep = ['MathJax.js', 'LICENSE', 'config', 'extensions', 'jax/input/TeX', 'jax/element',
            'jax/output/HTML-CSS', 'fonts/HTML-CSS/STIX-Web/woff', 'localization/en']
    skip = shutil.ignore_patterns('a11y', '*.otf', '*.eot', '*.svg')
    for part in keep:
        s, d = src / part, dest / part
        if s.is_dir(): shutil.copytree(s, d, ignore=skip)
        elif s.exists():
            d.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(s, d)
    return sum(f.stat().st_size for f in dest.rglob('*') if f.is_file())


def make_exporter():
    "nbconvert's HTML exporter with the book template (JupyterLab's, plus navigation, minus CDNs)."
    from nbconvert import HTMLExporter
    from traitlets.config import Config
    c = Config()
    c.HTMLExporter.extra_template_basedirs = [str(BOOK_DIR / 'templates')]
    c.HTMLExporter.template_name = 'book'
    c.HTMLExporter.exclude_input_prompt = True
    c.HTMLExporter.exclude_output_prompt = True
    c.HTMLExporter.embed_images = True
    c.HTMLExporter.mathjax_url = f'{MATHJAX_DIR}/MathJax.js?config={MATHJAX_CONFIG}'
    c.HTMLExporter.require_js_url = ''
    c.HTMLExporter.widget_renderer_url = ''
    return HTMLExporter(config=c)


def _prepare_out(out: Path):
    "Empty `out` if this script wrote it (or it is empty); refuse to delete anything else."
    if out.exists():
        if not out.is_dir() or (any(out.iterdir()) and not (out / MARKER).exists()):
            raise BuildError(f'{out} exists and was not written by build_lesson.py; not replacing it')
        shutil.rmtree(out)
    out.mkdir(parents=True)
    (out / MARKER).write_text('written by tools/build_lesson.py; rebuilt from scratch each time\n')


# ---------------------------------------------------------------- anchors, stylesheet, sources, search

_heading_id_re = re.compile(r'<h([1-6]) id="([^"]+)"')


def plain_id(heading_id: str) -> str:
    "A heading's anchor in plain words: `The-shortcut-$\\operatorname{E}[X^2]$` -> `The-shortcut-E-X-2`."
    text = re.sub(r'\\[A-Za-z]+', ' ', urllib.parse.unquote(html.unescape(heading_id)))
    return '-'.join(re.findall(r'[A-Za-z0-9_]+', text)) or 'section'


def plain_anchors(body: str) -> tuple[str, dict[str, str]]:
    "Give every heading an anchor of plain words, and point the page's links at it; returns the page and old -> new."
    renames, taken = {}, set()
    for _, old in _heading_id_re.findall(body):
        new, k = plain_id(old), 2
        while new in taken: new, k = f'{plain_id(old)}-{k}', k + 1
        taken.add(new)
        if new != old: renames[old] = new
    for old, new in renames.items():
        body = body.replace(f'id="{old}"', f'id="{new}"').replace(f'href="#{old}"', f'href="#{new}"')
    return body, renames


_style_re = re.compile(r'\s*<style type="text/css">(.*?)</style>', re.S)
STYLESHEET = '_static/book.css'


def shared_stylesheet(page: str) -> tuple[str, str]:
    "Move the `<style>` blocks of a page's head into one stylesheet; returns the page linking it, and the CSS."
    head, sep, rest = page.partition('</head>')
    css = '\n'.join(m.strip() for m in _style_re.findall(head))
    head = _style_re.sub('', head).rstrip() + f'\n<link rel="stylesheet" href="{STYLESHEET}">\n'
    return head + sep + rest, css


_code_re = re.compile(r'<div class="highlight[^"]*"><pre>.*?</pre></div>', re.S)  # a code cell's input
def exported_cells(fdl_dir: Path) -> dict[str, dict]:
    "For each exported notebook cell (by id): the source page and line its code starts at, from nbdev's markers."
    import sources
    cells = {}
    for py in source_modules(fdl_dir):
        lines = py.read_text(encoding='utf-8').splitlines()
        for line, cell in sources.cell_markers(lines, f'fdl.{py.stem}'):
            if cell: cells[cell.split('#')[1]] = {'href': f'{source_page(py)}#L{line + 1}', 'text': f'fdl/{py.name}, line {line + 1}'}
    return cells


def source_modules(fdl_dir: Path) -> list[Path]:
    "The modules of fdl that get a source page: every `fdl/*.py` but `__init__.py` and nbdev's index."
    return [p for p in sorted(fdl_dir.glob('*.py')) if p.name not in ('__init__.py', '_modidx.py')]


def source_page(py: Path) -> str: return f'fdl.{py.stem}.html'


def source_notebook(py: Path, rendered: dict):
    "A notebook holding a module's source page: a heading and the highlighted code with its outline, as raw HTML."
    import nbformat
    title = f'fdl/{py.name}'
    raw = nbformat.v4.new_raw_cell(f'<div class="fdl-src">{rendered["outline"]}{rendered["body"]}</div>')
    raw.metadata.update(raw_mimetype='text/html', fdl_raw_html=True)
    intro = nbformat.v4.new_markdown_cell(
        f'# {title}\n\nThe code of `fdl.{py.stem}` as `nbdev_export` writes it from the lessons ({rendered["lines"]} lines). '
        'Each name in the outline jumps to its definition; "lesson" beside a definition opens the lesson page at the '
        'cell that writes it; every line number is a link to that line.')
    return nbformat.v4.new_notebook(cells=[intro, raw], metadata={'title': f'{title} · source'})


def shown_on_page(cell, prose: str) -> bool:
    "Whether a notebook cell appears on its page (a hidden one only as `prepare_for_page` keeps it, collapsed)."
    if cell.cell_type != 'code': return True
    directives, source = split_directives(cell.source)
    if _is_off(directives.get('include', 'true')): return False
    return 'hide' not in directives or hidden_summary(directives, source, prose) is not None


_cell_id_re = re.compile(r'id="cell-id=([^"]+)"')


def link_code_names(body: str, targets: dict[str, str], skips: dict[str, set], link_names) -> str:
    "Link the fdl names in each code cell's highlighted input to their definitions, skipping the names the cell binds."
    starts = [(m.start(), m.group(1)) for m in _cell_id_re.finditer(body)]
    if not starts and _code_re.search(body):  # without cell ids a cell's own names cannot be told from fdl's
        raise BuildError('the page has code but no `id="cell-id=..."` cells: cannot tell which names a cell binds')
    def one(m):
        cell = next((cid for pos, cid in reversed(starts) if pos < m.start()), None)
        return link_names(m.group(0), targets, skips.get(cell, set()))
    return _code_re.sub(one, body)


def docstrings(py: Path) -> dict[int, str]:
    "The docstring of each function and class of a module, by the line of its `def`/`class`: searchable words."
    import ast
    return {n.lineno: ast.get_docstring(n) or '' for n in ast.walk(ast.parse(py.read_text(encoding='utf-8')))
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}


def is_public(qualname: str) -> bool:
    "No part of the dotted name is private (`_x`); special methods such as `__enter__` are public."
    return not any(part.startswith('_') and not (part.startswith('__') and part.endswith('__')) for part in qualname.split('.'))


def plain_math(text: str) -> str:
    "A heading's TeX as plain text: `$\\operatorname{E}[X^2]$` -> `E[X^2]`."
    text = re.sub(r'\\(?:operatorname|mathrm|mathbf|mathbb|mathcal|text)\{([^}]*)\}', r'\1', text)
    return re.sub(r'\\([A-Za-z]+)', r'\1', text).replace('$', '').replace('{', '').replace('}', '')


def _plain_text(markdown: str) -> str:
    "Markdown as searchable words: no markup, links or math delimiters."
    text = re.sub(r'\]\([^)]*\)', ']', markdown)
    text = re.sub(r'<[^>]+>|[`*_#>$\[\]|]', ' ', text)
    return re.sub(r'\s+', ' ', text).strip()


def search_docs(page: dict, nb, body: str) -> list[dict]:
    "The search entries of a page: the page itself (title and prose) and each of its `##`/`###` sections."
    prose = ' '.join(_plain_text(c.source) for c in nb.cells if c.cell_type == 'markdown')
    docs = [{'kind': 'page', 'title': page['title'], 'text': prose[:60_000], 'href': page['href'], 'where': ''}]
    for level, anchor, inner in re.findall(r'<h([23]) id="([^"]+)"[^>]*>(.*?)</h\1>', body, re.S):
        text = heading_text(inner)
        if text: docs.append({'kind': 'section', 'title': plain_math(text), 'href': f'{page["href"]}#{anchor}', 'where': page['title']})
    return docs


def write_search(out: Path, docs: list[dict]) -> int:
    "Write the search index as a script (`window.FDL_SEARCH`) plus MiniSearch and the search box's code; returns bytes."
    import json
    static = out / '_static'
    static.mkdir(exist_ok=True)
    for i, d in enumerate(docs): d['id'] = i
    (static / 'search-index.js').write_text(
        '// written by tools/build_lesson.py: the lesson book\'s search entries\nwindow.FDL_SEARCH = '
        + json.dumps({'docs': docs}, ensure_ascii=False, separators=(',', ':')) + ';\n', encoding='utf-8')
    shutil.copy2(BOOK_DIR / 'vendor' / 'minisearch' / 'minisearch.js', static / 'minisearch.js')
    shutil.copy2(BOOK_DIR / 'vendor' / 'minisearch' / 'LICENSE.txt', static / 'minisearch-LICENSE.txt')
    shutil.copy2(BOOK_DIR / 'search.js', static / 'search.js')
    return sum((static / f).stat().st_size for f in ('search-index.js', 'minisearch.js', 'search.js'))


def build(notebooks: list[Path], out: Path, timeout: int = 300, book_name: str = 'fdl', log=print,
          fdl_dir: Path = ROOT / 'fdl') -> Path:
    "Execute `notebooks` and write the book into `out` (with a source page per fdl module); returns its index page."
    import nbformat
    import sources
    if not notebooks: raise BuildError('no notebooks to build')
    missing = [str(p) for p in notebooks if not p.is_file()]
    if missing: raise BuildError(f'notebook not found: {", ".join(missing)}')
    notebooks = [Path(p).resolve() for p in notebooks]
    nbs = [nbformat.read(p, as_version=4) for p in notebooks]
    pages = [{'href': page_name(p), 'title': notebook_title(nb, p.stem), 'notebook': f'notebooks/{p.name}',
              'notebook_name': p.name, 'kind': 'index' if p.stem == 'index' else 'lesson'} for p, nb in zip(notebooks, nbs)]
    modules = source_modules(fdl_dir)
    src_pages = [{'href': source_page(py), 'title': f'fdl.{py.stem}'} for py in modules]
    if len({p['href'] for p in pages + src_pages}) < len(pages + src_pages): raise BuildError('two pages would have the same name')
    out = Path(out).resolve()
    log(f'==> lesson book: {len(notebooks)} notebook(s) and {len(modules)} source page(s) -> {out}')
    t_all = time.perf_counter()
    for i, (p, nb) in enumerate(zip(notebooks, nbs)):
        log(f'[{i + 1}/{len(nbs)}] executing {_rel(p)} ...', end=' ', flush=True)
        t = time.perf_counter()
        try: execute_notebook(nb, p, timeout)
        except BuildError:
            log('failed')
            raise
        log(f'ok, {time.perf_counter() - t:.1f} s')
    log(f'==> all notebooks ran in {time.perf_counter() - t_all:.1f} s; writing pages')
    _prepare_out(out)
    (out / 'notebooks').mkdir()
    for p in notebooks: shutil.copyfile(p, out / 'notebooks' / p.name)  # the cleaned notebook, byte for byte
    exporter = make_exporter()
    css = (BOOK_DIR / 'book.css').read_text() + '\n' + (BOOK_DIR / 'source.css').read_text()
    lesson_of = {f'nbs/{p.name}#{c.get("id")}': f'{page["href"]}#cell-id={c.get("id")}'
                 for p, nb, page in zip(notebooks, nbs, pages) for c in nb.cells if shown_on_page(c, notebook_prose(nb))}
    names = sources.link_targets({f'fdl.{py.stem}': py for py in modules}, page=lambda mod: f'{mod}.html')
    cell_sources = exported_cells(fdl_dir)
    skips = []  # per notebook: cell id -> the names its code binds itself (those are not fdl's, so not linked)
    for nb in nbs:
        code = [c for c in nb.cells if c.cell_type == 'code']
        skips.append(dict(zip((c.get('id') for c in code), sources.notebook_skips([c.source for c in code]))))
    docs, any_math, shared_css, written = [], False, None, {}
    entries = [(p, nb, page, False) for p, nb, page in zip(notebooks, nbs, pages)]
    for py, page in zip(modules, src_pages):
        rendered = sources.render_source(py, f'fdl.{py.stem}', lesson_of.get)
        entries.append((py, source_notebook(py, rendered), page, True))
        said = docstrings(py)
        docs += [{'kind': 'symbol', 'title': s['qualname'], 'name': s['name'], 'href': f'{page["href"]}#{s["anchor"]}',
                  'text': said.get(s['line'], ''), 'where': f'fdl/{py.name}, line {s["line"]}'}
                 for s in sources.module_symbols(py, f'fdl.{py.stem}')
                 if s['anchor'] == s['qualname'] and is_public(s['qualname'])]  # what is in effect, and fdl's to use
    for i, (p, nb, page, is_source) in enumerate(entries):
        n_widgets = static_widgets(nb)
        has_math = prepare_for_page(nb, None if is_source else cell_sources)
        any_math |= has_math
        title = page['title'] if page['title'] == book_name else f'{page["title"]} · {book_name}'
        nb.metadata['title'] = title
        resources = {'metadata': {'name': p.stem, 'path': str(p.parent)},
                     'book': {'name': book_name, 'pages': pages, 'sources': src_pages, 'current': page,
                              'has_math': has_math, 'css': css, 'hood_summary': HOOD_SUMMARY,
                              'prev': None if is_source or i == 0 else pages[i - 1],
                              'next': None if is_source or i + 1 >= len(pages) else pages[i + 1]}}
        body, _ = exporter.from_notebook_node(nb, resources=resources)
        body, css_here = shared_stylesheet(body)
        if shared_css is None: shared_css = css_here
        elif css_here != shared_css: raise BuildError(f'{page["href"]} would need a stylesheet of its own')
        body, renames = plain_anchors(body)
        body = body.replace('<!--fdl-outline-->', page_outline(body), 1)
        if not is_source: body = link_code_names(body, names, skips[i], sources.link_names)
        docs += search_docs(page, nb, body) if not is_source else [
            {'kind': 'page', 'title': f'{page["title"]} (source)', 'text': '', 'href': page['href'], 'where': f'fdl/{p.name}'}]
        written[page['href']] = (body, renames)
        extra = f', {n_widgets} widget(s) rendered statically' if n_widgets else ''
        log(f'    {page["href"]} ({len(body) / 1024:.0f} KB{", math" if has_math else ""}{extra})')
    renamed = {f'{href}#{old}': f'{href}#{new}' for href, (_, renames) in written.items() for old, new in renames.items()}
    for href, (body, _) in written.items():  # links from one page to another page's renamed headings
        for old, new in renamed.items(): body = body.replace(f'href="{old}"', f'href="{new}"')
        (out / href).write_text(body, encoding='utf-8')
    (out / STYLESHEET).parent.mkdir(exist_ok=True)
    (out / STYLESHEET).write_text(shared_css or '', encoding='utf-8')
    size = write_search(out, docs)
    log(f'    wrote {len(written)} pages, one stylesheet ({len(shared_css or "") / 1024:.0f} KB), '
        f'search over {len(docs)} entries ({size / 1024:.0f} KB), {len(notebooks)} notebooks to download')
    if any_math:
        size = copy_mathjax(out / MATHJAX_DIR)
        log(f'    copied MathJax v2 into {MATHJAX_DIR} ({size / 1e6:.1f} MB)')
    index = out / 'index.html'
    if not index.exists():  # no index notebook: the first page doubles as the entry point
        shutil.copy2(out / pages[0]['href'], index)
    return index


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('notebooks', nargs='*', type=Path, help='default: nbs/index.ipynb, then nbs/[0-9]*.ipynb')
    ap.add_argument('--out', type=Path, default=Path('_lesson'), help='folder to write the book into (default: _lesson)')
    ap.add_argument('--timeout', type=int, default=300, help='seconds a single cell may take (default: 300)')
    args = ap.parse_args(argv)
    # Keep IPython/Jupyter/matplotlib state out of $HOME, as the Makefile does; inline figures need no MPLBACKEND.
    for var, sub in (('IPYTHONDIR', 'ipython'), ('JUPYTER_CONFIG_DIR', 'jupyter'), ('MPLCONFIGDIR', 'matplotlib')):
        os.environ.setdefault(var, str(ROOT / '.cache' / sub))
    os.environ.pop('MPLBACKEND', None)
    try: index = build(args.notebooks or default_notebooks(), args.out, args.timeout)
    except BuildError as e:
        print(f'\n{e}\n\nThe lesson book was not written.', file=sys.stderr, flush=True)
        return 1
    print(f'==> The lesson book is at {index}\n    open file://{index} in a browser', flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
