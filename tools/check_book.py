#!/usr/bin/env python
"""Open every page of a built lesson book in headless Chromium and report what is broken.

Usage: python tools/check_book.py [_lesson] [--screenshots DIR]

Pages are loaded from file:// URLs; any request for something that is not a local file or a data:
URL is recorded and aborted, since the book must work offline. Checked on every page: a non-empty
<title> and a rendered <h1>; every <img> loaded; no console errors and no uncaught page errors; no
network requests; every link to a local file points at a file that exists; math typeset by MathJax;
an `Under the hood` section collapsed (closed <details>, marked optional) and linked from the page outline;
exercise solutions closed on load and opening on click; every figure described by its alt text; the
search box and its index on every page; every link to a place on a page (`page.html#id`) finds that place;
no request for a file outside the book folder. For fdl's own book it also types "logsumexp" into the search
box and chooses fdl.softmax.logsumexp, and follows a name in lesson 04's code to its source and back.
Exit status 1 if anything is wrong. `check_book(folder)` returns the list of problems.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path
from urllib.parse import unquote, urlparse

CHROMIUM = '/usr/bin/chromium'
CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
                 '--disable-background-networking', '--disable-component-update', '--disable-sync']
LOCAL_SCHEMES = ('file:', 'data:', 'blob:', 'about:')

# Runs in the page once it has loaded: waits for MathJax (if any), then collects what is checked.
_INSPECT_JS = r"""
async (mathTimeout) => {
  const r = {mathjax: null};
  if (window.MathJax && window.MathJax.Hub) {
    const started = new Promise(res => { MathJax.Hub.Register.StartupHook('End', () => { res(); }); });
    const typeset = started.then(() => new Promise(res => { MathJax.Hub.Queue(() => { res('done'); }); }));
    const late = new Promise(res => setTimeout(() => res('timeout'), mathTimeout));
    r.mathjax = await Promise.race([typeset, late]);
  }
  r.title = document.title.trim();
  r.h1 = [...document.querySelectorAll('h1')].map(h => h.innerText.trim()).filter(Boolean);
  r.badImages = [...document.images].filter(i => !(i.complete && i.naturalWidth > 0))
                 .map(i => (i.getAttribute('src') || '').slice(0, 80));
  r.links = [...document.querySelectorAll('a[href]')].map(a => [a.href, a.innerText.trim().slice(0, 40)]);
  r.alts = [...document.images].map(i => (i.getAttribute('alt') || '').trim());
  r.search = {box: !!document.getElementById('fdl-q'), engine: !!window.MiniSearch,
              entries: window.FDL_SEARCH ? window.FDL_SEARCH.docs.length : 0};
  const hoodHeading = [...document.querySelectorAll('h2')].find(h => /^under the hood/i.test(h.innerText.trim()));
  r.hood = hoodHeading ? {
    anchor: hoodHeading.id,
    details: [...document.querySelectorAll('details.fdl-hood')].map(d => ({
      open: d.open, summary: (d.querySelector('summary') || {innerText: ''}).innerText.trim(),
      hiddenCells: [...d.children].filter(c => c.tagName !== 'SUMMARY').every(c => !c.checkVisibility()),
      afterHeading: !!(hoodHeading.compareDocumentPosition(d) & Node.DOCUMENT_POSITION_FOLLOWING)})),
    outlined: !!document.querySelector(`.fdl-outline a[href="#${CSS.escape(hoodHeading.id)}"]`)} : null;
  const sols = [...document.querySelectorAll('details.fdl-solution')];
  r.solutions = {n: sols.length, openAtLoad: sols.filter(d => d.open).length,
                 visibleAtLoad: sols.filter(d => [...d.children].some(c => c.tagName !== 'SUMMARY' && c.checkVisibility())).length};
  if (sols.length) { sols[0].querySelector('summary').click(); r.solutions.opensOnClick = sols[0].open; sols[0].open = false; }
  r.mathSources = document.querySelectorAll('script[type^="math/tex"]').length;
  r.mathRendered = document.querySelectorAll('.MathJax, .MathJax_Display, .MathJax_CHTML, .MathJax_SVG, mjx-container').length;
  r.mathErrors = [...document.querySelectorAll('.MathJax_Error, .mjx-merror, merror')].length
                 + (document.body.innerText.includes('Math Processing Error') ? 1 : 0);
  const prose = [...document.querySelectorAll('.jp-RenderedMarkdown')].map(e => {
    const c = e.cloneNode(true);  // code is not math: drop it before looking for TeX delimiters
    c.querySelectorAll('code, pre, script, style').forEach(x => x.remove());
    return c.textContent;
  }).join('\n');
  const raw = prose.match(/\$\$[^$]+\$\$|\$[^\s$][^$\n]*\$|\\\([^\n]*?\\\)/);
  r.rawMath = raw ? raw[0].slice(0, 60) : null;
  return r;
}
"""


def find_chromium(path: str | None = None) -> str | None:
    "The Chromium executable to use: `path`, $CHROMIUM, /usr/bin/chromium or `chromium` on PATH."
    for p in (path, os.environ.get('CHROMIUM'), CHROMIUM, shutil.which('chromium')):
        if p and Path(p).is_file() and os.access(p, os.X_OK): return p
    return None


def _check_page(context, page_path: Path, folder: Path, math_timeout_ms: int, screenshots: Path | None) -> list[str]:
    "Problems found on one page, each prefixed with the page's file name."
    name = page_path.name
    problems, network, console, failed = [], [], [], set()
    page = context.new_page()

    inside = str(folder.resolve()) + os.sep

    def on_route(route):
        url = route.request.url
        if url.startswith('file:') and not unquote(urlparse(url).path).startswith(inside):
            problems.append(f'{name}: request outside the book folder (blocked): {unquote(urlparse(url).path)}')
            route.abort()
        elif url.startswith(LOCAL_SCHEMES): route.continue_()
        else:
            if url not in network: network.append(url)
            route.abort()

    def on_request(request):
        if not request.url.startswith(LOCAL_SCHEMES) and request.url not in network: network.append(request.url)

    def on_console(msg):
        if msg.type == 'error':
            loc = msg.location.get('url', '') if msg.location else ''
            if msg.text.startswith('Failed to load resource') and (loc in failed or loc in network): return  # reported below
            console.append(msg.text + (f' ({Path(unquote(urlparse(loc).path)).name})' if loc else ''))

    page.route('**/*', on_route)
    page.on('request', on_request)
    page.on('websocket', lambda ws: ws.url in network or network.append(ws.url))
    page.on('console', on_console)
    page.on('pageerror', lambda err: problems.append(f'{name}: JavaScript error: {err}'))

    def on_failed(request):
        if request.url.startswith('file:'):
            failed.add(request.url)
            problems.append(f'{name}: could not load {unquote(urlparse(request.url).path)} ({request.failure})')

    page.on('requestfailed', on_failed)
    try:
        page.goto(page_path.resolve().as_uri(), wait_until='load', timeout=60_000)
        info = page.evaluate(_INSPECT_JS, math_timeout_ms)
        if screenshots:
            screenshots.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(screenshots / f'{page_path.stem}.png'))
    except Exception as e:  # a page that cannot even be opened is one problem, not a crash
        problems.append(f'{name}: could not open the page: {e}')
        page.close()
        return problems
    page.close()

    if not info['title']: problems.append(f'{name}: the <title> is empty')
    if not info['h1']: problems.append(f'{name}: no <h1> heading is rendered')
    for src in info['badImages']: problems.append(f'{name}: image did not load: {src!r}')
    for msg in console: problems.append(f'{name}: console error: {msg}')
    for url in network: problems.append(f'{name}: network request attempted (blocked): {url}')
    if info['mathjax'] == 'timeout': problems.append(f'{name}: MathJax did not finish typesetting')
    if info['mathSources'] and not info['mathRendered']: problems.append(f'{name}: math was found but not rendered')
    if info['mathErrors']: problems.append(f'{name}: {info["mathErrors"]} math formula(s) failed to typeset')
    if info['rawMath']: problems.append(f'{name}: TeX left untypeset in the text: {info["rawMath"]!r}')
    hood = info['hood']
    if hood:  # an `Under the hood` section: optional reading, shown collapsed and linked from the page's outline
        if len(hood['details']) != 1: problems.append(f'{name}: Under the hood is not one collapsed <details> section')
        for d in hood['details']:
            if d['open'] or not d['hiddenCells']: problems.append(f'{name}: Under the hood is open when the page loads')
            if not d['afterHeading']: problems.append(f'{name}: the collapsed section is not under its heading')
            if 'optional' not in d['summary'].lower(): problems.append(f'{name}: Under the hood is not marked as optional reading')
        if not hood['outlined']: problems.append(f'{name}: the page outline does not link to Under the hood')
    sol = info['solutions']
    if sol['openAtLoad'] or sol['visibleAtLoad']: problems.append(f'{name}: {max(sol["openAtLoad"], sol["visibleAtLoad"])} solution(s) shown open when the page loads')
    if sol['n'] and not sol.get('opensOnClick'): problems.append(f'{name}: a solution does not open when its summary is clicked')
    for alt in info['alts']:
        if not alt or alt.lower().startswith(PLACEHOLDER_ALTS):
            problems.append(f'{name}: a figure has no description (alt text {alt!r}): give it a title or axis labels')
    if not (info['search']['box'] and info['search']['engine'] and info['search']['entries']):
        problems.append(f'{name}: the search box is missing or its index did not load ({info["search"]})')
    for href, text in info['links']:
        u = urlparse(href)
        if u.scheme != 'file': continue  # web links are not followed, so they need no network
        target = Path(unquote(u.path))
        try: shown = target.relative_to(folder.resolve())
        except ValueError:
            problems.append(f'{name}: link outside the book folder: {target} (link text {text!r})')
            continue
        if not target.exists():
            kind = 'page' if target.suffix == '.html' else 'file'
            problems.append(f'{name}: link to a missing {kind}: {shown} (link text {text!r})')
        elif u.fragment and target.suffix == '.html' and not _has_id(target, unquote(u.fragment)):
            problems.append(f'{name}: link to a missing place: {shown}#{unquote(u.fragment)} (link text {text!r})')
    return problems


PLACEHOLDER_ALTS = ('no description', 'untitled figure')
_ids: dict[Path, set[str]] = {}


def _has_id(page: Path, fragment: str) -> bool:
    "Whether `page` has an element with id `fragment` (read once per page)."
    import html, re
    if page not in _ids:
        _ids[page] = {html.unescape(m) for m in re.findall(r'\bid="([^"]*)"', page.read_text(encoding='utf-8'))}
    return fragment in _ids[page]


_IN_VIEW_JS = 'id => { const e = document.getElementById(id); if (!e) return false; const r = e.getBoundingClientRect(); return r.top >= 0 && r.top < innerHeight; }'


def _offline_page(context):
    "A new page whose requests for anything but local files are aborted."
    page = context.new_page()
    page.route('**/*', lambda route: route.continue_() if route.request.url.startswith(LOCAL_SCHEMES) else route.abort())
    return page


def check_search(context, folder: Path, term: str, expect: list[str], choose: str) -> list[str]:
    "Type `term` into the search box of the first page: `expect` hrefs must be listed; `choose` must land on its target."
    page, problems = _offline_page(context), []
    first = sorted(folder.glob('*.html'))[0]
    try:
        page.goto(first.resolve().as_uri(), wait_until='load')
        page.keyboard.press('/')  # the shortcut that focuses the box
        page.keyboard.type(term, delay=20)
        page.wait_for_selector('#fdl-results li', timeout=5_000)
        hrefs = page.eval_on_selector_all('#fdl-results a', 'as => as.map(a => a.getAttribute("href"))')
        for want in expect:
            if want not in hrefs: problems.append(f'search {term!r}: {want} is not among the results {hrefs}')
        if choose in hrefs:
            for _ in range(hrefs.index(choose)): page.keyboard.press('ArrowDown')
            with page.expect_navigation(): page.keyboard.press('Enter')
            url = urlparse(page.url)
            got = f'{Path(unquote(url.path)).name}#{unquote(url.fragment)}'
            if got != choose: problems.append(f'search {term!r}: choosing {choose} landed on {got}')
            elif not page.evaluate(_IN_VIEW_JS,
                                   unquote(url.fragment)):
                problems.append(f'search {term!r}: {choose} is not scrolled into view')
        else: problems.append(f'search {term!r}: nothing to choose, {choose} not listed')
    except Exception as e: problems.append(f'search {term!r}: {e}')
    finally: page.close()
    return problems


def check_symbol_link(context, folder: Path, lesson: str) -> list[str]:
    "Follow the first fdl name linked in a code cell of `lesson`: it must open the name's source line; back must return."
    page, problems = _offline_page(context), []
    try:
        start = (folder / lesson).resolve().as_uri()
        page.goto(start, wait_until='load')
        link = page.query_selector('.jp-InputArea a.fdl-sym[href*="#"]')  # a name, not a whole module
        if link is None: return [f'{lesson}: no fdl name in its code is linked to its source']
        href = link.get_attribute('href')
        link.scroll_into_view_if_needed()
        with page.expect_navigation(): link.click()
        url = urlparse(page.url)
        if f'{Path(unquote(url.path)).name}#{unquote(url.fragment)}' != href:
            problems.append(f'{lesson}: the link {href} opened {page.url}')
        elif not page.evaluate(_IN_VIEW_JS,
                               unquote(url.fragment)):
            problems.append(f'{lesson}: {href} is not shown where the link lands')
        page.go_back(wait_until='load')
        if urlparse(page.url).path != urlparse(start).path: problems.append(f'{lesson}: back from {href} went to {page.url}')
    except Exception as e: problems.append(f'{lesson}: following a name link: {e}')
    finally: page.close()
    return problems


def check_book(folder, *, chromium: str | None = None, screenshots=None, math_timeout_ms: int = 20_000,
               log=None, search: tuple | None = None, symbol_link: str | None = None) -> list[str]:
    """Open every .html page of the book in `folder` in headless Chromium; return the problems found.
    `search=(term, expected hrefs, href to choose)` also tries the search box; `symbol_link='page.html'` follows a name link."""
    from playwright.sync_api import sync_playwright
    folder = Path(folder)
    _ids.clear()  # the folder may have been rebuilt since the last check
    pages = sorted(folder.glob('*.html'))
    if not pages: return [f'{folder}: no .html pages found']
    problems = [] if (folder / 'index.html').exists() else [f'{folder}: there is no index.html']
    exe = find_chromium(chromium)
    if exe is None: raise FileNotFoundError(f'Chromium not found (looked at {chromium or CHROMIUM}, $CHROMIUM, PATH)')
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS, headless=True)
        try:
            context = browser.new_context(viewport={'width': 1280, 'height': 900}, service_workers='block')
            for p in pages:
                found = _check_page(context, p, folder, math_timeout_ms, Path(screenshots) if screenshots else None)
                if log: log(f'{"ok  " if not found else "FAIL"} {p.name}' + (f' ({len(found)} problem(s))' if found else ''))
                problems += found
            if search: problems += check_search(context, folder, *search)
            if symbol_link: problems += check_symbol_link(context, folder, symbol_link)
        finally: browser.close()
    return problems


# What a learner tries in fdl's own book: find logsumexp by typing, and follow a name from lesson 04's code to its source.
FDL_PROBES = {'search': ('logsumexp', ['04_softmax.html', 'fdl.softmax.html#fdl.softmax.logsumexp'],
                         'fdl.softmax.html#fdl.softmax.logsumexp'),
              'symbol_link': '04_softmax.html'}
FDL_PROBE_PAGES = ('04_softmax.html', 'fdl.softmax.html')


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('folder', nargs='?', type=Path, default=Path('_lesson'), help='the built book (default: _lesson)')
    ap.add_argument('--chromium', help=f'Chromium executable (default: {CHROMIUM})')
    ap.add_argument('--screenshots', type=Path, help='also save a screenshot of each page into this folder')
    args = ap.parse_args(argv)
    print(f'==> checking the lesson book in {args.folder.resolve()} with headless Chromium', flush=True)
    probes = FDL_PROBES if all((args.folder / f).exists() for f in FDL_PROBE_PAGES) else {}
    try: problems = check_book(args.folder, chromium=args.chromium, screenshots=args.screenshots,
                               log=lambda s: print(s, flush=True), **probes)
    except FileNotFoundError as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    for p in problems: print(f'  problem: {p}')
    n = len(list(args.folder.glob('*.html')))
    print(f'==> {n} page(s) checked: ' + (f'{len(problems)} problem(s)' if problems else 'no problems'), flush=True)
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main())
