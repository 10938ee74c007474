"""fdl.stats against torch: variance and standard deviation of 10M float32 values, and streaming 100M values."""
import torch
from harness import Case
from fdl.stats import var, std, var_shortcut, RunningStats

def _rel(v, ref): return abs(float(v) - ref) / ref

def cases():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(10_000_000, generator=g).add_(1e4)   # N(1e4, 1): mean large against the spread
    xd = x.double()
    ref = ((xd - xd.mean())**2).mean().item()
    del xd
    errs = (f'rel. error vs float64: fdl {_rel(var(x), ref):.1e}, torch {_rel(torch.var(x, correction=0), ref):.1e}, '
            f'var_shortcut {_rel(var_shortcut(x), ref):.1e}')
    yield Case('var, 10M float32 N(1e4, 1)', lambda: var(x), lambda: torch.var(x, correction=0), target=1.0, note=errs)
    sd_ref = ref ** 0.5
    yield Case('std, 10M float32 N(1e4, 1)', lambda: std(x), lambda: torch.std(x, correction=0), target=1.0,
               note=f'rel. error vs float64: fdl {_rel(std(x), sd_ref):.1e}, torch {_rel(torch.std(x, correction=0), sd_ref):.1e}')

    big = torch.randn(100_000_000, generator=g).add_(1e4)
    bd = big.double()
    big_ref = ((bd - bd.mean())**2).mean().item()
    del bd
    def stream():
        rs = RunningStats()
        for chunk in big.split(1_000_000): rs.update(chunk)
        return rs.var
    yield Case('RunningStats, 100M float32 in 1M chunks', stream, lambda: torch.var(big, correction=0), target=1.2,
               note=f'rel. error vs float64: fdl {_rel(stream(), big_ref):.1e}, torch.var {_rel(torch.var(big, correction=0), big_ref):.1e}',
               min_run_time=2.0)
