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
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BOOK_DIR = Path(__file__).resolve().parent / 'book'
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
    if 'image/png' in data: return f'<img src="data:image/png;base64,{data["image/png"]}">'
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
            note = f'<span class="fdl-widget-note">({NOTE})</span>' if interactive else ''
            del data[WIDGET_VIEW]
            data['text/html'] = f'<div class="fdl-widget">{body}{note}</div>'
            n += 1
    nb.metadata.pop('widgets', None)  # nothing left on the page needs the widget state
    return n


# ---------------------------------------------------------------- preparing a notebook for its page

def prepare_for_page(nb) -> bool:
    "Drop `#| hide` cells, strip directive lines, mark `#| solution` cells, point `.ipynb` links at pages; True if math."
    cells, has_math = [], False
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
        if 'hide' in directives or _is_off(directives.get('include', 'true')): continue
        cell.source = source
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


def page_outline(body: str) -> str:
    "An `<ol>` linking to the page's `##` headings, read from the rendered page."
    items = []
    for anchor, inner in _h2_re.findall(body):
        text = html.unescape(re.sub(r'<[^>]+>', '', re.sub(r'<a class="anchor-link".*?</a>', '', inner, flags=re.S))).strip()
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


def _execute(nb, nb_path: Path, timeout: int):
    from nbclient import NotebookClient
    from nbclient.exceptions import CellControlSignal, CellExecutionError, CellTimeoutError, DeadKernelError
    if not any(c.cell_type == 'code' and c.source.strip() for c in nb.cells): return nb
    current = {}
    def on_cell_start(cell, cell_index): current['index'] = cell_index
    client = NotebookClient(nb, timeout=timeout, kernel_name='python3', allow_errors=False,
                            store_widget_state=True, record_timing=False, on_cell_start=on_cell_start,
                            kernel_manager_class=_kernel_manager_class(),
                            extra_arguments=['--IPKernelApp.log_level=ERROR'],  # no transport warnings in the log
                            resources={'metadata': {'path': str(nb_path.parent)}})
    try: client.execute()
    except (CellExecutionError, CellTimeoutError, DeadKernelError, CellControlSignal, RuntimeError) as e:
        msg = describe_failure(nb_path, nb, current.get('index'), e)
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


def build(notebooks: list[Path], out: Path, timeout: int = 300, book_name: str = 'fdl', log=print) -> Path:
    "Execute `notebooks` and write the book into `out`; returns the path of its index page."
    import nbformat
    if not notebooks: raise BuildError('no notebooks to build')
    missing = [str(p) for p in notebooks if not p.is_file()]
    if missing: raise BuildError(f'notebook not found: {", ".join(missing)}')
    notebooks = [Path(p).resolve() for p in notebooks]
    nbs = [nbformat.read(p, as_version=4) for p in notebooks]
    pages = [{'href': page_name(p), 'title': notebook_title(nb, p.stem)} for p, nb in zip(notebooks, nbs)]
    if len({p['href'] for p in pages}) < len(pages): raise BuildError('two notebooks would write the same page')
    out = Path(out).resolve()
    log(f'==> lesson book: {len(notebooks)} notebook(s) -> {out}')
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
    exporter = make_exporter()
    css = (BOOK_DIR / 'book.css').read_text()
    any_math = False
    for i, (p, nb, page) in enumerate(zip(notebooks, nbs, pages)):
        n_widgets = static_widgets(nb)
        has_math = prepare_for_page(nb)
        any_math |= has_math
        title = page['title'] if page['title'] == book_name else f'{page["title"]} · {book_name}'
        nb.metadata['title'] = title
        resources = {'metadata': {'name': p.stem, 'path': str(p.parent)},
                     'book': {'name': book_name, 'pages': pages, 'current': page, 'has_math': has_math, 'css': css,
                              'hood_summary': HOOD_SUMMARY,
                              'prev': pages[i - 1] if i > 0 else None,
                              'next': pages[i + 1] if i + 1 < len(pages) else None}}
        body, _ = exporter.from_notebook_node(nb, resources=resources)
        body = body.replace('<!--fdl-outline-->', page_outline(body), 1)
        (out / page['href']).write_text(body, encoding='utf-8')
        extra = f', {n_widgets} widget(s) rendered statically' if n_widgets else ''
        log(f'    wrote {page["href"]} ({len(body) / 1024:.0f} KB{", math" if has_math else ""}{extra})')
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
