"""Write README.md from nbs/index.ipynb (`--check`: fail if README.md differs).

nbdev_readme needs Quarto; this does the same job with nbconvert's markdown exporter: the notebook
is executed (so the README's outputs come from the current fdl), hidden cells are dropped and `#|`
directives removed.
"""
import argparse, re, sys
from pathlib import Path
import nbformat
from nbconvert import MarkdownExporter

root = Path(__file__).resolve().parent.parent
index, readme = root/'nbs'/'index.ipynb', root/'README.md'
HEADER = '<!-- Generated from nbs/index.ipynb by tools/readme.py: edit the notebook, not this file. -->\n\n'

def directives(src):
    return [l for l in src.splitlines() if re.match(r'^\s*#\|', l)]

def render() -> str:
    "README.md as the index notebook renders it, executed afresh so its outputs match the current fdl."
    from nbclient import NotebookClient
    nb = nbformat.read(index, as_version=4)
    NotebookClient(nb, timeout=120, kernel_name='python3', resources={'metadata': {'path': str(index.parent)}}).execute()
    cells = []
    for cell in nb.cells:
        flags = ' '.join(directives(cell.source))
        if re.search(r'\b(hide|exporti?)\b', flags) and cell.cell_type == 'code': continue
        cell.source = '\n'.join(l for l in cell.source.splitlines() if not re.match(r'^\s*#\|', l)).strip('\n')
        if cell.cell_type == 'code' and re.search(r'\bhide_output\b', flags): cell.outputs = []
        cells.append(cell)
    nb.cells = cells
    nb.metadata['language_info'] = {'name': 'python'}
    body, _ = MarkdownExporter().from_notebook_node(nb)
    body = re.sub(r'\]\((?!\w+://)([\w-]+\.ipynb)\)', r'](nbs/\1)', body)  # links between notebooks, from the repo root
    body = re.sub(r'\n{3,}', '\n\n', body).strip() + '\n'
    return HEADER + body

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--check', action='store_true', help='only check that README.md is up to date')
    args = p.parse_args(argv)
    text = render()
    if args.check:
        if readme.exists() and readme.read_text(encoding='utf-8') == text:
            print('README.md matches nbs/index.ipynb'); return 0
        print('ERROR: README.md is out of date with nbs/index.ipynb; run `python tools/readme.py` '
              '(or `make export`) and commit README.md.', file=sys.stderr)
        return 1
    readme.write_text(text, encoding='utf-8'); print('wrote README.md from nbs/index.ipynb')
    return 0

if __name__ == '__main__': sys.exit(main())
