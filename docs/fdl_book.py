"""What the lesson book does that is fdl's own, on top of Sphinx and myst-nb.

- nbdev's `#|` directives become myst-nb cell tags: `hide` removes a cell (or shows it collapsed when it
  exports code or the prose names what it defines), `solution` (or a solution cell whose source Jupyter
  hides) becomes a closed "Show the solution", `eval: false` is shown and not run.
- each code cell is anchored `#cell-<id>`; an exported cell links to its line in fdl's source page.
- `## Under the hood` is wrapped in a closed `<details>`, marked as optional reading.
- figures get alt text read from the figure; ipywidgets are drawn as still pictures from their state.
- fdl's names in lesson code resolve to fdl's only after the lesson exports them (sphinx-codeautolink).
- one API page per module (autodoc), each entry linked to the lesson cell that writes it; the source
  pages (viewcode) get line anchors and a link from each cell marker to the lesson cell.
- MathJax 2 is copied from jupyter-server-mathjax; `fdl_synonyms` join the search index.
"""
import html
import inspect
import json
import re
import shutil
from pathlib import Path

from docutils import nodes
from myst_nb.core.render import NbElementRenderer
from sphinx import addnodes

DIRECTIVE = re.compile(r'^\s*#\s*\|\s*([\w-]+):?\s*(.*?)\s*$')
DEFINES = re.compile(r'^(?:async\s+)?(?:def|class)\s+(\w+)', re.M)
MARKER = re.compile(r'^# %% \.\./nbs/(\S+)\.ipynb #(\w+)')
HOOD_SUMMARY = 'Optional reading: how it is made fast and exact, and the rare cases (click to open)'
WIDGET_STATE = 'application/vnd.jupyter.widget-state+json'
EXPORTS = {'export', 'exports', 'exporti'}

# Run first in each lesson's kernel: each matplotlib figure IPython shows gets alt text in its output's
# metadata, read from the figure (titles, axis labels, legend); one with none is an 'untitled figure',
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


def split_directives(source: str) -> tuple[dict, str]:
    "A code cell's `#| name: value` directives, and its source without them."
    found, kept = {}, []
    for line in source.splitlines():
        m = DIRECTIVE.match(line)
        if m: found[m.group(1)] = m.group(2)
        else: kept.append(line)
    return found, '\n'.join(kept).strip('\n')


def is_off(value) -> bool: return str(value).strip().lower() in ('false', 'no', '0')


def tag_cell(cell: dict, prose: str, module: str | None) -> list[str]:
    "Turn a code cell's directives into myst-nb tags; returns the fdl names it exports (for name links)."
    found, source = split_directives(''.join(cell['source']))
    meta = cell['metadata']
    tags, names = meta.setdefault('tags', []), DEFINES.findall(source)
    cell['source'], meta['fdl_id'] = source, cell.get('id')
    exported = bool(EXPORTS & set(found))
    if 'hide' in found:
        if names and (exported or any(re.search(rf'\b{n}\b', prose) for n in names)):
            tags += ['hide-input', 'remove-output']
            meta['mystnb'] = {'code_prompt_show': f'Hidden in the notebook: the code of {", ".join(names)}',
                              'code_prompt_hide': 'Hide the code'}
        else: tags.append('remove-cell')
    if 'solution' in found or meta.get('jupyter', {}).get('source_hidden'):
        tags.append('hide-cell')
        meta['mystnb'] = {'code_prompt_show': 'Show the solution', 'code_prompt_hide': 'Hide the solution'}
    if is_off(found.get('eval', True)): tags.append('skip-execution')
    if is_off(found.get('include', True)) or not source.strip(): tags.append('remove-cell')
    if is_off(found.get('echo', True)): tags.append('remove-input')
    if is_off(found.get('output', True)): tags.append('remove-output')
    return names if exported and module else []


def lesson_source(app, docname, source):
    "source-read: turn a lesson notebook's nbdev directives into what myst-nb and codeautolink read."
    if not docname.startswith('nbs/'): return
    nb = json.loads(source[0])
    prose = '\n'.join(''.join(c['source']) for c in nb['cells'] if c['cell_type'] == 'markdown')
    module = next((m.group(1) for c in nb['cells'] if c['cell_type'] == 'code'
                   for m in [re.search(r'^#\|\s*default_exp\s+(\S+)', ''.join(c['source']), re.M)] if m), None)
    cells = [{'cell_type': 'code', 'metadata': {'tags': ['remove-cell']}, 'source': FIGURE_ALT,
              'outputs': [], 'execution_count': None, 'id': 'fdl-figure-alt'}]
    for cell in nb['cells']:
        names = tag_cell(cell, prose, module) if cell['cell_type'] == 'code' else []
        cells.append(cell)
        if names:  # from here on the lesson's code means fdl's definition, not an earlier draft
            preface = f'```{{autolink-preface}}\nfrom fdl.{module} import {", ".join(names)}\n```'
            cells.append({'cell_type': 'markdown', 'metadata': {}, 'source': preface, 'id': f'p{len(cells)}'})
    nb['cells'] = cells
    source[0] = json.dumps(nb)


def exported_cells(root: Path) -> dict:
    "Cell id -> (module, first line of its code) for every cell nbdev exported into fdl/."
    cells = {}
    for py in sorted((root / 'fdl').glob('*.py')):
        for i, line in enumerate(py.read_text(encoding='utf-8').splitlines()):
            m = MARKER.match(line)
            if m: cells[m.group(2)] = (py.stem, i + 2)
    return cells


SHOW_DOC_SOURCE = re.compile(r'https://github\.com/[^/]+/[^/]+/blob/')


def drop_show_doc_source(doctree):
    "nbdev's show_doc opens with a [source] link to GitHub, outside the book: that paragraph goes."
    for ref in list(doctree.findall(nodes.reference)):
        para = ref.parent
        if SHOW_DOC_SOURCE.match(ref.get('refuri', '')) and isinstance(para, nodes.paragraph):
            if para.parent is not None: para.parent.remove(para)


def mark_lesson(app, doctree):
    "doctree-read: anchor cells, link exported cells to their source line, collapse Under the hood."
    docname = app.env.docname
    if not docname.startswith('nbs/'): return
    drop_show_doc_source(doctree)
    exported = app.env.fdl_exported
    for cell in list(doctree.findall(lambda n: isinstance(n, nodes.container) and n.get('nb_element') == 'cell_code')):
        cid = cell['cell_metadata'].get('fdl_id')
        if not cid: continue
        cell['ids'].append(f'cell-{cid}')
        if cid in exported:
            mod, line = exported[cid]
            link = nodes.reference('', f'fdl/{mod}.py, line {line}', refuri=f'../_modules/fdl/{mod}.html#L{line}')
            cell.insert(0, nodes.paragraph('', 'Exported to ', link, classes=['fdl-source-link']))
    for sec in list(doctree.findall(nodes.section)):
        if sec.children and sec[0].astext().strip().lower() == 'under the hood':
            sec.insert(1, nodes.raw('', f'<details class="fdl-hood"><summary>{HOOD_SUMMARY}</summary>',
                                    format='html'))
            sec.append(nodes.raw('', '</details>', format='html'))


def add_synonyms(app, doctree):
    "doctree-read: index entries for `fdl_synonyms`, so searching a word finds the name it stands for."
    for sig in list(doctree.findall(addnodes.desc_signature)):
        for target in sig['ids']:
            words = app.config.fdl_synonyms.get(target, [])
            if words:
                sig.parent.parent.insert(sig.parent.parent.index(sig.parent),
                                         addnodes.index(entries=[('single', w, target, 'main', None) for w in words]))


def reread_api(app, env, added, changed, removed):
    "env-get-outdated: read the module pages again each build, as Sphinx 9 keeps index entries only of read pages."
    return [d for d in env.found_docs if d.startswith('docs/api/')]


def api_pages(app):
    "builder-inited: one page per fdl module (written only when it changes), and the exported cells."
    root, api = Path(app.srcdir), Path(app.confdir) / 'api'
    api.mkdir(exist_ok=True)
    for py in sorted((root / 'fdl').glob('*.py')):
        if py.stem.startswith('_'): continue
        page = api / f'fdl.{py.stem}.md'
        text = f'# fdl.{py.stem}\n\n```{{eval-rst}}\n.. automodule:: fdl.{py.stem}\n```\n'
        if not page.exists() or page.read_text() != text: page.write_text(text)
    app.env.fdl_exported = exported_cells(root)


def markdown_docstring(app, what, name, obj, options, lines):
    "autodoc: fdl's docstrings are Markdown; escape what reST reads otherwise, link the lesson cell."
    for i, line in enumerate(lines):  # `code` as reST's ``code``; *, | and _ are plain characters
        parts = re.split(r'(`[^`]+`)', line)
        lines[i] = ''.join(rf'\ ``{p[1:-1]}``\ ' if p.startswith('`') else re.sub(r'([*|_\\])', r'\\\1', p)
                           for p in parts)
    try: src, start = inspect.getsourcelines(inspect.unwrap(obj))
    except (TypeError, OSError): return
    path = Path(inspect.getsourcefile(obj))
    above = path.read_text(encoding='utf-8').splitlines()[:start]
    cell = next((m for line in reversed(above) for m in [MARKER.match(line)] if m), None)
    if cell and what in ('function', 'class', 'method'):
        lines += ['', f'`Written in the lesson {cell.group(1)} <../../nbs/{cell.group(1)}.html#cell-{cell.group(2)}>`__']


def source_page(app, pagename, templatename, context, doctree):
    "html-page-context: line anchors on fdl's source pages, and each cell marker linked to its lesson cell."
    if not pagename.startswith('_modules/fdl/'): return
    body = re.sub(r'<span class="linenos">\s*(\d+)</span>',
                  r'<a class="linenos" id="L\1" href="#L\1">\1</a>', context['body'])
    def lesson(m):
        href = context['pathto'](f'nbs/{m.group(2)}') + f'#cell-{m.group(3)}'
        return f'<a class="fdl-lesson-link" href="{href}" title="the lesson cell that writes this">{m.group(1)}</a>'
    context['body'] = re.sub(r'(<span class="c1"># %% \.\./nbs/(\w+)\.ipynb #(\w+)</span>)', lesson, body)


def copy_mathjax(app, exc):
    "build-finished: copy the parts of MathJax 2 the pages use from jupyter-server-mathjax."
    if exc: return
    import jupyter_server_mathjax
    src, dest = Path(jupyter_server_mathjax.__file__).parent / 'static', Path(app.outdir) / '_static' / 'mathjax'
    for part in ['MathJax.js', 'LICENSE', 'config', 'extensions', 'jax/input/TeX', 'jax/element',
                 'jax/output/HTML-CSS', 'fonts/HTML-CSS/STIX-Web/woff', 'localization/en']:
        if (src / part).is_dir():
            shutil.copytree(src / part, dest / part, dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns('a11y', '*.otf', '*.eot', '*.svg'))
        else:
            (dest / part).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src / part, dest / part)


# ---------------------------------------------------------------- figures and widgets as myst-nb renders them

def widget_html(model_id: str, state: dict) -> str:
    "A still picture, in HTML, of what widget `model_id` showed when the notebook ran."
    model = state.get(model_id, {})
    kind, s = model.get('model_name', 'Widget').removesuffix('Model'), model.get('state', {})
    esc = html.escape
    if kind in ('HBox', 'VBox', 'Box'):
        inner = ''.join(widget_html(c.removeprefix('IPY_MODEL_'), state) for c in s.get('children', []))
        return f'<div class="fdl-widget-{kind.lower()}">{inner}</div>'
    if kind in ('Button', 'ToggleButton'): return f'<button disabled>{esc(s.get("description") or kind)}</button>'
    if kind in ('HTML', 'HTMLMath'): return f'<span>{s.get("value", "")}</span>'
    if kind == 'Label': return f'<span>{esc(s.get("value", ""))}</span>'
    if kind in ('FloatProgress', 'IntProgress'):
        lo, hi, v = s.get('min', 0), s.get('max', 100), s.get('value', 0)
        return f'<progress value="{v - lo:g}" max="{hi - lo:g}">{v:g}/{hi:g}</progress>'
    return f'<span>[ipywidgets {esc(kind)}]</span>'


def render_widget_view(self, data):
    "A widget output, drawn from the widget state the notebook stored, labelled as a still picture."
    state = self.renderer.nb_client.nb_metadata.get('widgets', {}).get(WIDGET_STATE, {}).get('state', {})
    view = data.content if isinstance(data.content, dict) else json.loads(data.string)
    tip = state.get(view.get('model_id'), {}).get('state', {}).get('tooltip')
    note = f'a still picture; in Jupyter, {tip}' if tip else 'a still picture; live when the notebook runs in Jupyter'
    return [nodes.raw('', f'<div class="fdl-widget">{widget_html(view.get("model_id"), state)}'
                          f'<span class="fdl-widget-note">({html.escape(note)})</span></div>', format='html')]


_render_image = NbElementRenderer.render_image


def render_image(self, data):
    "A figure, described by the alt text its output carries."
    image, = _render_image(self, data)
    alt = data.output_metadata.get(data.mime_type, {}).get('alt')
    if alt: image['alt'] = alt
    return [image]


FRONT_DOOR = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>fdl: the lesson book</title><meta http-equiv="refresh" content="0; url=docs/index.html"></head>
<body><h1><a href="docs/index.html">fdl: the lesson book</a></h1></body></html>
"""


def front_door(app, exc):
    "build-finished: an index.html at the book's top that opens the contents page, docs/index.html."
    if not exc: (Path(app.outdir) / 'index.html').write_text(FRONT_DOOR, encoding='utf-8')


def setup(app):
    NbElementRenderer.render_widget_view = render_widget_view
    NbElementRenderer.render_image = render_image
    app.add_config_value('fdl_synonyms', {}, 'env')
    app.connect('builder-inited', api_pages)
    app.connect('source-read', lesson_source)
    app.connect('env-get-outdated', reread_api)
    app.connect('doctree-read', mark_lesson)
    app.connect('doctree-read', add_synonyms)
    app.connect('autodoc-process-docstring', markdown_docstring)
    app.connect('html-page-context', source_page)
    app.connect('build-finished', copy_mathjax)
    app.connect('build-finished', front_door)
    app.add_js_file('fdl_book.js')
    app.add_css_file('fdl_book.css')
    return {'parallel_read_safe': False}
