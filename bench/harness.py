"""Side-by-side timing of fdl against a reference (usually torch): short blocks of calls, the two sides
taking turns, the best block of each; ratios, a table, and the results as JSON for the speed page."""
from dataclasses import dataclass
from typing import Callable
import json, time
import torch

BLOCK = 2e-3  # seconds a timed block of calls lasts: short, so a block rarely meets another job's time slice


@dataclass
class Case:
    "One benchmark row: `fdl` and `ref` are zero-argument callables doing the same work on the same inputs."
    name: str                      # what is measured, e.g. 'var, 10M float32'
    fdl: Callable[[], object]      # the fdl side
    ref: Callable[[], object]      # the reference side
    ref_name: str = 'torch'        # how the reference is called in the table
    threads: int = 1               # torch threads for both sides
    target: float | None = None    # the ratio fdl/ref that the row should stay under
    note: str = ''                 # accuracy or other facts printed beside the row
    per: int | None = None         # operations in one call of `fdl`, to report fdl's time per operation
    per_target: float | None = None  # seconds per operation that fdl should stay under (needs `per`)
    min_run_time: float = 0.5      # seconds spent timing both sides together
    family: str = ''               # the curve the row belongs to on the speed page, e.g. 'var dim=1 fwd'
    size: int | None = None        # elements of the input: the curve's horizontal axis


@dataclass
class Result:
    case: Case
    fdl_s: float
    ref_s: float
    @property
    def ratio(self): return self.fdl_s / self.ref_s
    @property
    def per_op(self): return None if self.case.per is None else self.fdl_s / self.case.per
    @property
    def status(self):
        checks = [self.ratio <= self.case.target] if self.case.target is not None else []
        if self.case.per_target is not None: checks.append(self.per_op <= self.case.per_target)
        return '' if not checks else 'ok' if all(checks) else 'OVER'
    def as_dict(self) -> dict:
        "The row as plain values, for JSON."
        c = self.case
        return dict(name=c.name, family=c.family, size=c.size, threads=c.threads, ref_name=c.ref_name,
                    target=c.target, fdl_s=self.fdl_s, ref_s=self.ref_s, ratio=self.ratio, note=c.note)


def _calls_per_block(fn) -> int:
    "How many calls of `fn` fill about one `BLOCK` (at least one)."
    fn()  # warm up: the first call may allocate or compile
    t = time.perf_counter()
    fn()
    once = max(time.perf_counter() - t, 1e-7)
    return max(1, int(BLOCK / once))


def _block(fn, n) -> float:
    "Seconds per call over one block of `n` calls."
    t = time.perf_counter()
    for _ in range(n): fn()
    return (time.perf_counter() - t) / n


def measure(case: Case, min_run_time: float | None = None) -> Result:
    """Time both sides of `case` in this process, in blocks of about `BLOCK` seconds that take turns
    (fdl, reference, fdl, ...) until `min_run_time` is spent; each side's fastest block.
    Taking turns keeps a slow spell of the machine from landing on one side only; short blocks and
    the fastest of many keep other jobs' time slices out of the figure."""
    budget = min_run_time or case.min_run_time
    old = torch.get_num_threads()
    torch.set_num_threads(case.threads)
    try:
        n_fdl, n_ref = _calls_per_block(case.fdl), _calls_per_block(case.ref)
        best_fdl = best_ref = float('inf')
        start, rounds = time.perf_counter(), 0
        while rounds < 3 or time.perf_counter() - start < budget:
            best_fdl = min(best_fdl, _block(case.fdl, n_fdl))
            best_ref = min(best_ref, _block(case.ref, n_ref))
            rounds += 1
    finally: torch.set_num_threads(old)
    return Result(case, best_fdl, best_ref)


def fmt_time(s: float) -> str:
    "Seconds as a short human string."
    for unit, scale in (('s', 1), ('ms', 1e-3), ('µs', 1e-6), ('ns', 1e-9)):
        if s >= scale: return f'{s/scale:.3g} {unit}'
    return f'{s/1e-9:.3g} ns'


def table(results: list[Result]) -> str:
    "A plain-text table of results, one row per case."
    def target(c):
        parts = [] if c.target is None else [f'<= {c.target:.2f}x']
        if c.per_target is not None: parts.append(f'< {fmt_time(c.per_target)}/op')
        return ', '.join(parts)
    head = ('case', 'threads', 'fdl', 'reference', 'fdl/ref', 'fdl per op', 'target', '', 'note')
    rows = [head] + [(r.case.name, str(r.case.threads), fmt_time(r.fdl_s),
                      f'{fmt_time(r.ref_s)} ({r.case.ref_name})', f'{r.ratio:.2f}x',
                      '' if r.per_op is None else fmt_time(r.per_op), target(r.case), r.status, r.case.note)
                     for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = ['  '.join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, '-'*len(lines[0]))
    return '\n'.join(lines)


def save(results: dict, path, meta: dict) -> None:
    """Write `results` ({module: [Result, ...]}) and facts about the run (`meta`) to `path` as JSON,
    keeping the rows already there of modules not measured this time."""
    from pathlib import Path
    old = json.loads(Path(path).read_text()) if Path(path).exists() else {'runs': {}}
    runs = {m: r for m, r in old.get('runs', {}).items() if m not in results}
    runs.update({m: {'meta': meta, 'results': [r.as_dict() for r in rs]} for m, rs in results.items()})
    Path(path).write_text(json.dumps({'runs': dict(sorted(runs.items()))}, indent=1) + '\n')


def _size(n: int) -> str:
    "An element count as the sweep's column heads write it: 10, 1e3, 64e2."
    e = len(str(n)) - 1
    return str(n) if n < 1000 else f'{n / 10**e:g}e{e}'


def sweep_table(results: list[Result]) -> str:
    "The sweep as a grid: a row per family, a column per input size, fdl/ref ratios; '!' marks a ratio over target."
    rows = [r for r in results if r.case.family and r.case.size]
    if not rows: return ''
    sizes = sorted({r.case.size for r in rows})
    families = list(dict.fromkeys(r.case.family for r in rows))
    cell = {(r.case.family, r.case.size): r for r in rows}
    def fmt(r): return '' if r is None else f'{r.ratio:.2f}' + ('!' if r.status == 'OVER' else '')
    grid = [('family \\ elements', *map(_size, sizes))]
    grid += [(f, *(fmt(cell.get((f, s))) for s in sizes)) for f in families]
    widths = [max(len(row[i]) for row in grid) for i in range(len(grid[0]))]
    lines = ['  '.join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))).rstrip()
             for row in grid]
    lines.insert(1, '-' * len(lines[0]))
    return '\n'.join(lines)
