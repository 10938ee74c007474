"""fdl.stats against torch over a sweep of sizes: every public numeric function, forward and forward+backward.

Sizes n = 10, 100, ..., 1e7 float32 values: a 1-D tensor reduced fully ('full'), and a 2-D tensor of shape
`SHAPES[n]` (rows, n / rows) reduced along dim 1 ('dim=1'), plus (64, 100) along dim 1. The matrix forms of
cov and corr take the rows of the same 2-D tensors as variables. Backward is that of the output's sum.
One thread. Targets: <= 4x at <= 1e3 values (the per-call cost), <= 1.5x from 1e5 values, <= 1.0x for full
var and std from 1e5; RunningStats.update <= 6x torch.var_mean on small batches, <= 1.0x on large ones.
"""
import torch
from harness import Case
from fdl.stats import mean, var, std, mad, var_shortcut, cov, corr, cov_matrix, corr_matrix, RunningStats, RunningCov

SIZES = [10**k for k in range(1, 8)]
SHAPES = {10: (2, 5), 100: (10, 10), 1000: (10, 100), 10**4: (100, 100), 10**5: (100, 1000),
          10**6: (1000, 1000), 10**7: (1000, 10000)}

def _other(x): return x.flip(-1) * 0.5 + 1   # paired data for cov and corr

def _pairs(dims):
    "(name, fdl function, torch function) of one tensor, reducing over `dims` (None: all values)."
    d = {} if dims is None else {'dim': dims}
    dev = lambda x: x - (x.mean() if dims is None else x.mean(dims, keepdim=True))
    def tcorr(x):
        a, b = dev(x), dev(_other(x))
        return (a * b).sum(**d) / ((a * a).sum(**d) * (b * b).sum(**d)).sqrt()
    return [('mean', lambda x: mean(x, dims), lambda x: torch.mean(x, **d)),
            ('var', lambda x: var(x, dims), lambda x: torch.var(x, **d, correction=0)),
            ('std', lambda x: std(x, dims), lambda x: torch.std(x, **d, correction=0)),
            ('mad', lambda x: mad(x, dims), lambda x: dev(x).abs().mean(**d)),
            ('var_shortcut', lambda x: var_shortcut(x, dims), lambda x: (x * x).mean(**d) - x.mean(**d) ** 2),
            ('cov', lambda x: cov(x, _other(x), dims), lambda x: (dev(x) * dev(_other(x))).mean(**d)),
            ('corr', lambda x: corr(x, _other(x), dims), tcorr)]

def _fwd_bwd(f, x):
    def run():
        x.grad = None
        f(x).sum().backward()
    return run

def _target(name, size, full):
    if size <= 1000: return 4.0
    if size >= 10**5: return 1.0 if full and name in ('var', 'std') else 1.5
    return None

def accuracy_note(n=10**7):
    "Relative error against float64 of float32 var on N(1e4, 1) data, fdl and torch, over seeds 0-2."
    rows = []
    for seed in range(3):
        x = torch.randn(n, generator=torch.Generator().manual_seed(seed)).add_(1e4)
        xd = x.double()
        ref = ((xd - xd.mean()) ** 2).mean().item()
        del xd
        rel = lambda v: abs(float(v) - ref) / ref
        rows.append(f'seed {seed}: fdl {rel(var(x)):.1e}, torch {rel(torch.var(x, correction=0)):.1e}')
    return f'float32 var of N(1e4, 1), {n:.0e} values, rel. error vs float64: ' + '; '.join(rows)

def cases():
    g = torch.Generator().manual_seed(0)
    note = accuracy_note()
    for n in SIZES:
        x1 = torch.randn(n, generator=g) + 3
        x2 = torch.randn(*SHAPES[n], generator=g) + 3
        for full, x, dims, where in ((True, x1, None, 'full'), (False, x2, 1, 'dim=1')):
            xg = x.clone().requires_grad_()
            for name, ours, theirs in _pairs(dims):
                t = _target(name, n, full)
                extra = note if (name, n, full) == ('var', 10**7, True) else ''
                yield Case(f'{name} {where} {tuple(x.shape)} fwd', lambda f=ours, x=x: f(x), lambda f=theirs, x=x: f(x),
                           family=f'{name} {where} fwd', size=n, target=t, note=extra)
                yield Case(f'{name} {where} {tuple(x.shape)} fwd+bwd', _fwd_bwd(ours, xg), _fwd_bwd(theirs, xg),
                           family=f'{name} {where} fwd+bwd', size=n, target=t)
        x2g = x2.clone().requires_grad_()
        for name, ours, theirs in (('cov matrix', cov_matrix, lambda x: torch.cov(x, correction=0)),
                                   ('corr matrix', corr_matrix, torch.corrcoef)):
            t = 4.0 if n <= 1000 else 1.5 if n >= 10**5 else None
            yield Case(f'{name} {tuple(x2.shape)} fwd', lambda f=ours: f(x2), lambda f=theirs: f(x2),
                       family=f'{name} fwd', size=n, target=t)
            yield Case(f'{name} {tuple(x2.shape)} fwd+bwd', _fwd_bwd(ours, x2g), _fwd_bwd(theirs, x2g),
                       family=f'{name} fwd+bwd', size=n, target=t)
        t = 6.0 if n <= 1000 else 1.0 if n >= 10**5 else None
        for where, b in (('(n,)', x1), ('(n/100, 100)', x2.reshape(-1, 100) if n >= 100 else None)):
            if b is None: continue
            rs = RunningStats().update(b)
            yield Case(f'RunningStats.update {tuple(b.shape)}', lambda b=b, rs=rs: rs.update(b),
                       lambda b=b: torch.var_mean(b, 0, correction=0), ref_name='torch.var_mean',
                       family=f'RunningStats.update {where}', size=n, target=t)
            rc, y = RunningCov().update(b, _other(b)), _other(b)
            ref = lambda b=b, y=y: (torch.var_mean(b, 0, correction=0), torch.var_mean(y, 0, correction=0),
                                    ((b - b.mean(0)) * (y - y.mean(0))).mean(0))
            yield Case(f'RunningCov.update {tuple(b.shape)}', lambda b=b, y=y, rc=rc: rc.update(b, y), ref,
                       ref_name='torch var_mean x2 + co-moment', family=f'RunningCov.update {where}', size=n,
                       target=4.0 if n <= 1000 else 1.5 if n >= 10**5 else None)
    x = torch.randn(64, 100, generator=g)
    xg = x.clone().requires_grad_()
    for name, ours, theirs in _pairs(1):
        yield Case(f'{name} dim=1 (64, 100) fwd', lambda f=ours: f(x), lambda f=theirs: f(x),
                   family=f'{name} (64, 100) fwd', size=6400, target=4.0)
        yield Case(f'{name} dim=1 (64, 100) fwd+bwd', _fwd_bwd(ours, xg), _fwd_bwd(theirs, xg),
                   family=f'{name} (64, 100) fwd+bwd', size=6400, target=4.0)
    rs = RunningStats().update(x)
    yield Case('RunningStats.update (64, 100)', lambda: rs.update(x), lambda: torch.var_mean(x, 0, correction=0),
               ref_name='torch.var_mean', family='RunningStats.update (64, 100)', size=6400, target=6.0)
