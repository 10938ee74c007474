#!/usr/bin/env python
"""Open every page of the built lesson book in headless Chromium, from file://, and report what is broken.

Usage: python tools/check_book.py [_lesson] [--nbs nbs]

Any request for something that is not a local file inside the book folder is recorded and aborted.
On every page: a <title> and an <h1>; no console or JavaScript error; no request outside the folder;
every image loaded and described by its alt text; every local link finds its file and its place; math
typeset by the local MathJax; widgets drawn as still pictures and labelled so; `Under the hood` one
closed <details> marked optional and in the page outline; solutions closed, opening on click; an
outline on lesson and module pages; no code block scrolling sideways in a 1,280-px window; inline code
without margins; one font size for all code; one search box and its index loaded; on lesson pages a
download link to the notebook, byte-identical to nbs/ (`--nbs`). On fdl's own book, also what a learner
tries: search for names and words, follow a link or a result into a closed section, follow a name in a
lesson's code to its definition and come back, and no lesson's own toy class linked to fdl's.
Exit status 1 if anything is wrong. `check_book(folder)` returns the list of problems.
"""
from __future__ import annotations

import argparse
import html
import os
import re
import shutil
import sys
from pathlib import Path
from urllib.parse import unquote, urlparse

CHROMIUM = '/usr/bin/chromium'
CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
                 '--disable-component-update', '--disable-sync']
LOCAL = ('file:', 'data:', 'blob:', 'about:')
PLACEHOLDER_ALTS = ('', 'untitled figure')

# Runs in each page once it has loaded; returns what the checks need.
INSPECT_JS = r"""
async () => {
  const r = {};
  if (window.MathJax && MathJax.Hub) {
    const done = new Promise(res => MathJax.Hub.Queue(() => res('done')));
    r.mathjax = await Promise.race([done, new Promise(res => setTimeout(() => res('timeout'), 20000))]);
  }
  const art = document.querySelector('.bd-article') || document.body;
  const visible = e => e.checkVisibility() && e.getBoundingClientRect().width > 0;
  r.title = document.title.trim();
  r.h1 = !!document.querySelector('h1');
  r.badImages = [...document.images].filter(i => !(i.complete && i.naturalWidth > 0))
                .map(i => (i.getAttribute('src') || '').slice(0, 80));
  r.alts = [...art.querySelectorAll('img')].map(i => (i.getAttribute('alt') || '').trim());
  r.links = [...document.querySelectorAll('a[href]')].map(a => [a.href, a.innerText.trim().slice(0, 40)]);
  r.math = art.querySelectorAll('.math').length;
  r.mathDone = art.querySelectorAll('.MathJax, .MathJax_Display').length;
  r.mathErrors = art.querySelectorAll('.MathJax_Error, merror').length;
  const prose = [...art.querySelectorAll('p, li, h1, h2, h3, td')].map(e => {
    const c = e.cloneNode(true);
    c.querySelectorAll('code, pre, script, .math, .MathJax').forEach(x => x.remove());
    return c.textContent; }).join('\n');
  r.rawMath = (prose.match(/\$\$[^$]+\$\$|\$[^\s$\d][^$\n]*\$|\\\(.*?\\\)/) || [null])[0];
  r.widgets = [...art.querySelectorAll('.fdl-widget')].filter(w => !/still picture/.test(w.textContent)).length;
  r.liveWidgets = document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]').length;
  const hood = [...art.querySelectorAll('section')].find(s => s.querySelector(':scope > h2')
                && /^under the hood/i.test(s.querySelector(':scope > h2').innerText.trim()));
  r.hood = hood ? {details: [...hood.querySelectorAll(':scope > details')].map(d => ({open: d.open,
                     summary: d.querySelector('summary').innerText})),
                   outlined: !!document.querySelector(`.bd-sidebar-secondary a[href="#${CSS.escape(hood.id)}"]`)}
                : null;
  const sols = [...art.querySelectorAll('details')].filter(d => /solution/i.test(d.querySelector('summary')?.innerText));
  r.solutions = {n: sols.length, open: sols.filter(d => d.open).length};
  if (sols.length) { sols[0].querySelector('summary').click(); r.solutions.opens = sols[0].open; }
  r.outline = document.querySelectorAll('.bd-sidebar-secondary nav a[href^="#"]').length;
  r.search = {boxes: [...document.querySelectorAll('input[type=search], .search-button-field, .search-button')]
                     .filter(visible).length,
              index: typeof Search !== 'undefined' && Search.hasIndex()};
  r.download = [...document.querySelectorAll('a[href$=".ipynb"]')].map(a => a.href);
  art.querySelectorAll('details').forEach(d => { d.open = true; });  // the layout checks see everything
  r.wide = [...art.querySelectorAll('pre')].filter(p => visible(p) && p.scrollWidth > p.clientWidth + 1)
           .map(p => p.innerText.split('\n').sort((a, b) => b.length - a.length)[0].slice(0, 50));
  r.pageWide = document.documentElement.scrollWidth > innerWidth;
  const inline = [...art.querySelectorAll('code')].filter(c => !c.closest('pre') && visible(c));
  r.inlineMargins = inline.filter(c => { const s = getComputedStyle(c);
                                         return s.marginLeft !== '0px' || s.marginRight !== '0px'; }).length;
  r.codeSizes = [...new Set([...art.querySelectorAll('pre')].filter(visible)
                              .map(p => getComputedStyle(p).fontSize))];
  return r;
}
"""


def find_chromium(path: str | None = None) -> str | None:
    "The Chromium executable to use: `path`, $CHROMIUM, /usr/bin/chromium or `chromium` on PATH."
    for p in (path, os.environ.get('CHROMIUM'), CHROMIUM, shutil.which('chromium')):
        if p and Path(p).is_file() and os.access(p, os.X_OK): return p
    return None


_ids: dict[Path, set[str]] = {}


def has_id(page: Path, fragment: str) -> bool:
    "Whether `page` has an element with id `fragment` (each page read once)."
    if page not in _ids:
        _ids[page] = {html.unescape(m) for m in re.findall(r'\bid="([^"]*)"', page.read_text(encoding='utf-8'))}
    return fragment in _ids[page]


def open_page(context, folder: Path, url: str, problems: list, name: str):
    "A page of the book opened from file://; requests outside the folder are aborted and reported."
    page, inside = context.new_page(), str(folder.resolve()) + os.sep
    def route(r):
        u = r.request.url
        path = unquote(urlparse(u).path)
        if u.startswith('file:') and not path.startswith(inside):
            problems.append(f'{name}: request outside the book folder (blocked): {path}')
        elif not u.startswith(LOCAL): problems.append(f'{name}: network request attempted (blocked): {u}')
        else: return r.continue_()
        r.abort()
    page.route('**/*', route)
    page.on('pageerror', lambda e: problems.append(f'{name}: JavaScript error: {e}'))
    page.on('console', lambda m: m.type == 'error' and not m.text.startswith('Failed to load resource')
            and problems.append(f'{name}: console error: {m.text}'))
    page.on('requestfailed', lambda r: r.url.startswith('file:') and r.failure != 'net::ERR_ABORTED'  # not: left
            and unquote(urlparse(r.url).path).startswith(inside)
            and problems.append(f'{name}: could not load {unquote(urlparse(r.url).path)[len(inside):]}'))
    page.goto(url, wait_until='load', timeout=60_000)
    return page


FRONT_DOOR = re.compile(r'http-equiv="refresh" content="0; url=([^"]+)"')


def check_front_door(path: Path, folder: Path) -> list[str]:
    "The book's top index.html only sends the browser on: its target must exist."
    name, target = path.relative_to(folder).as_posix(), FRONT_DOOR.search(path.read_text(encoding='utf-8'))
    if target is None: return [f'{name}: it sends the browser nowhere (no refresh to the contents page)']
    return [] if (path.parent / target[1]).is_file() else [f'{name}: it sends the browser to a missing {target[1]}']


def check_page(context, path: Path, folder: Path, nbs: Path | None) -> list[str]:
    "The problems of one page, each starting with its path in the book."
    name, problems = path.relative_to(folder).as_posix(), []
    if FRONT_DOOR.search(path.read_text(encoding='utf-8')): return check_front_door(path, folder)
    try:
        page = open_page(context, folder, path.resolve().as_uri(), problems, name)
        info = page.evaluate(INSPECT_JS)
        page.close()
    except Exception as e:  # a page that cannot be opened is one problem, not a crash
        return problems + [f'{name}: could not open the page: {e}']
    add = problems.append
    if not info['title']: add(f'{name}: the <title> is empty')
    if not info['h1']: add(f'{name}: no <h1> heading')
    for src in info['badImages']: add(f'{name}: image did not load: {src!r}')
    for alt in info['alts']:
        if alt.lower() in PLACEHOLDER_ALTS or alt.lower().startswith('no description'):
            add(f'{name}: a figure has no description (alt text {alt!r}): give it a title or axis labels')
    if info.get('mathjax') == 'timeout': add(f'{name}: MathJax did not finish typesetting')
    if info['math'] and not info['mathDone']: add(f'{name}: formulas were not typeset')
    if info['mathErrors']: add(f'{name}: {info["mathErrors"]} formula(s) failed to typeset')
    if info['rawMath']: add(f'{name}: TeX left untypeset in the text: {info["rawMath"][:60]!r}')
    if info['widgets']: add(f'{name}: {info["widgets"]} widget(s) not labelled as a still picture')
    if info['liveWidgets']: add(f'{name}: {info["liveWidgets"]} widget(s) need JavaScript to be drawn')
    hood = info['hood']
    if hood:
        if len(hood['details']) != 1: add(f'{name}: Under the hood is not one collapsed <details> section')
        if any(d['open'] for d in hood['details']): add(f'{name}: Under the hood is open when the page loads')
        if not any('optional' in d['summary'].lower() for d in hood['details']):
            add(f'{name}: Under the hood is not marked as optional reading')
        if not hood['outlined']: add(f'{name}: the page outline does not link to Under the hood')
    sol = info['solutions']
    if sol['open']: add(f'{name}: {sol["open"]} solution(s) shown open when the page loads')
    if sol['n'] and not sol.get('opens'): add(f'{name}: a solution does not open when its summary is clicked')
    if name.startswith(('nbs/', 'docs/api/')) and not info['outline']: add(f'{name}: no outline of the page')
    for line in info['wide']: add(f'{name}: a code block scrolls sideways at 1280 px: {line!r}')
    if info['pageWide']: add(f'{name}: the page scrolls sideways at 1280 px')
    if info['inlineMargins']: add(f'{name}: {info["inlineMargins"]} inline code element(s) have margins')
    if len(info['codeSizes']) > 1: add(f'{name}: code in {len(info["codeSizes"])} font sizes {info["codeSizes"]}')
    if info['search']['boxes'] != 1: add(f'{name}: {info["search"]["boxes"]} search boxes instead of one')
    if not info['search']['index']: add(f'{name}: the search index did not load')
    if name.startswith('nbs/'):
        if not info['download']: add(f'{name}: no link to download the notebook')
        for url in info['download']:
            got = Path(unquote(urlparse(url).path))
            if nbs and got.is_file() and got.read_bytes() != (nbs / got.name).read_bytes():
                add(f'{name}: the notebook to download differs from {nbs / got.name}')
    for href, text in info['links']:
        u = urlparse(href)
        if u.scheme != 'file': continue
        target = Path(unquote(u.path))
        if not target.resolve().is_relative_to(folder.resolve()):
            add(f'{name}: link outside the book folder: {target} ({text!r})')
        elif not target.exists(): add(f'{name}: link to a missing file: {target.relative_to(folder.resolve())} ({text!r})')
        elif u.fragment and target.suffix == '.html' and not has_id(target, unquote(u.fragment)):
            add(f'{name}: link to a missing place: {target.relative_to(folder.resolve())}#{unquote(u.fragment)}')
    return problems


IN_VIEW_JS = '''id => { const e = document.getElementById(id); if (!e || !e.checkVisibility()) return false;
                        const r = e.getBoundingClientRect(); return r.top >= -2 && r.top < innerHeight; }'''


def search(context, folder: Path, term: str, problems: list) -> list[str]:
    "Type `term` into the search box of the book's first page; the results, as paths in the book."
    page = open_page(context, folder, (folder / 'docs/index.html').resolve().as_uri(), problems, f'search {term!r}')
    page.click('.search-button-field')
    page.keyboard.type(term, delay=20)
    page.wait_for_selector('#search-results li a', timeout=10_000)
    page.wait_for_timeout(800)  # results are added one by one
    hrefs = page.eval_on_selector_all('#search-results li a', 'as => as.map(a => a.href)')
    page.close()
    root = folder.resolve().as_uri() + '/'
    return [h.removeprefix(root) for h in hrefs]


def follow(context, folder: Path, start: str, selector: str, problems: list, what: str) -> str | None:
    "Click the first `selector` on page `start`: it must land on its place, shown; back must return."
    page = open_page(context, folder, (folder / start).resolve().as_uri(), problems, what)
    try:
        link = page.query_selector(selector)
        if link is None: return problems.append(f'{what}: nothing matches {selector} on {start}')
        href = link.evaluate('a => a.href')
        with page.expect_navigation(): link.click()
        frag = unquote(urlparse(page.url).fragment)
        page.wait_for_timeout(300)
        if page.url != href: problems.append(f'{what}: the link to {href} opened {page.url}')
        elif frag and not page.evaluate(IN_VIEW_JS, frag): problems.append(f'{what}: #{frag} is not shown where it lands')
        page.go_back(wait_until='load')
        if urlparse(page.url).path != urlparse((folder / start).resolve().as_uri()).path:
            problems.append(f'{what}: back went to {page.url}')
        return href
    finally: page.close()


def check_probes(context, folder: Path) -> list[str]:
    "What a learner tries in fdl's book: search, links into closed sections, name links and back."
    problems = []
    def ranked(term, target, within):
        try: got = search(context, folder, term, problems)
        except Exception as e: return problems.append(f'search {term!r}: no results ({e})')
        if not any(h.endswith(target) for h in got[:within]):
            problems.append(f'search {term!r}: {target} is not among the first {within} results {got[:5]}')
    ranked('var', 'docs/api/fdl.stats.html#fdl.stats.var', 1)
    ranked('variance', 'docs/api/fdl.stats.html#fdl.stats.var', 3)
    ranked('learning rate finder', '#fdl.learner.Learner.lr_find', 5)
    ranked('logsumexp', 'docs/api/fdl.softmax.html#fdl.softmax.logsumexp', 1)
    ranked('Slabs', 'nbs/03_stats.html#slabs', 3)
    # a link into Under the hood (here from the page outline) opens it and shows the place
    follow(context, folder, 'nbs/03_stats.html', '.bd-sidebar-secondary a[href="#slabs"]', problems, 'outline link')
    follow(context, folder, 'nbs/04_softmax.html', '.cell_input a.sphinx-codeautolink-a[href*="#fdl.softmax."]',
           problems, 'a name in lesson 04')
    follow(context, folder, 'nbs/03_stats.html', 'a.fdl-source-link, p.fdl-source-link a', problems, 'exported cell')
    follow(context, folder, '_modules/fdl/stats.html', 'a.fdl-lesson-link', problems, 'source marker')
    # a lesson's own early definitions are never linked to fdl's
    for page, name, toy in (('nbs/02_dunder.html', 'fdl.learner.Learner', None),
                            ('nbs/01_callbacks.html', 'fdl.callbacks.SlowCalculator', 'SlowCalculator')):
        text = (folder / page).read_text(encoding='utf-8')
        links = [m.start() for m in re.finditer(rf'href="[^"]*#{re.escape(name)}"', text)]
        if toy is None and links: problems.append(f'{page}: the lesson\'s own class is linked to {name}')
        if toy:
            defs = [m.start() for m in re.finditer(rf'class</span><span class="w"> </span><span class="nc">{toy}\b', text)]
            exported = [d for d in defs if 'Exported to' in text[max(0, d - 3000):d]]
            if not exported or not links or min(links) < exported[0]:
                problems.append(f'{page}: {toy} is linked to {name} before the lesson exports it')
    return problems


def check_book(folder, *, pages=None, nbs=None, probes: bool = False, chromium: str | None = None,
               log=None) -> list[str]:
    """Open `pages` (default: every .html page of `folder`) in headless Chromium; return the problems.
    `probes=True` also tries what a learner does in fdl's book (search, name links, links into closed sections)."""
    from playwright.sync_api import sync_playwright
    folder = Path(folder)
    _ids.clear()  # the folder may have been rebuilt since the last check
    pages = [folder / p for p in pages] if pages is not None else sorted(p for p in folder.rglob('*.html')
                                                             if not p.relative_to(folder).parts[0] == '_static')
    if not (pages or probes): return [f'{folder}: no .html pages found']
    exe = find_chromium(chromium)
    if exe is None: raise FileNotFoundError(f'Chromium not found (looked at {chromium or CHROMIUM}, $CHROMIUM, PATH)')
    problems = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS, headless=True)
        try:
            context = browser.new_context(viewport={'width': 1280, 'height': 900}, service_workers='block')
            for p in pages:
                found = check_page(context, p, folder, Path(nbs) if nbs else None)
                if log: log(f'{"ok  " if not found else "FAIL"} {p.relative_to(folder)}')
                problems += found
            if probes: problems += check_probes(context, folder)
        finally: browser.close()
    return problems


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('folder', nargs='?', type=Path, default=Path('_lesson'), help='the built book (default: _lesson)')
    ap.add_argument('--nbs', type=Path, default=Path('nbs'), help='the notebooks the download links must match')
    args = ap.parse_args(argv)
    print(f'==> checking the lesson book in {args.folder.resolve()} with headless Chromium', flush=True)
    try: problems = check_book(args.folder, nbs=args.nbs, probes=(args.folder / 'nbs/03_stats.html').exists(),
                               log=lambda s: print(s, flush=True))
    except FileNotFoundError as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    for p in problems: print(f'  problem: {p}')
    print('==> ' + (f'{len(problems)} problem(s)' if problems else 'no problems'), flush=True)
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main())
