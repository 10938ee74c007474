"""Side-by-side timing of fdl against a reference (usually torch) with `torch.utils.benchmark`."""
from dataclasses import dataclass, field
from typing import Callable
import torch
from torch.utils import benchmark

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
    min_run_time: float = 0.5      # seconds `blocked_autorange` spends on each side

@dataclass
class Result:
    case: Case
    fdl_s: float
    ref_s: float
    @property
    def ratio(self): return self.fdl_s/self.ref_s
    @property
    def per_op(self): return None if self.case.per is None else self.fdl_s/self.case.per
    @property
    def status(self):
        checks = [self.ratio <= self.case.target] if self.case.target is not None else []
        if self.case.per_target is not None: checks.append(self.per_op <= self.case.per_target)
        return '' if not checks else 'ok' if all(checks) else 'OVER'

def measure(case: Case, min_run_time: float | None = None, rounds: int = 3) -> Result:
    """Time both sides of `case` in this process, taking turns for `rounds` rounds; each side's best median.
    Taking turns keeps a slow spell of the machine (another process, a clock change) from landing on one side only."""
    t = (min_run_time or case.min_run_time) / rounds
    def median(fn, who):
        timer = benchmark.Timer(stmt='fn()', globals={'fn': fn}, num_threads=case.threads,
                                label=case.name, description=who)
        return timer.blocked_autorange(min_run_time=t).median
    times = [(median(case.fdl, 'fdl'), median(case.ref, case.ref_name)) for _ in range(rounds)]
    return Result(case, min(f for f, _ in times), min(r for _, r in times))

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
