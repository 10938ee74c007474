"fdl.stats: lesson values, parity with torch and numpy, stability, bad input, streaming, plots, and a two-process merge."
import io, os, random, subprocess, sys, textwrap, time
from pathlib import Path
import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st
import fdl.stats as S
from fdl.stats import (mean, var, std, mad, cov, corr, cov_matrix, corr_matrix, var_shortcut, shortcut_errors,
                       RunningStats, RunningCov, plot_deviations, plot_scatter, plot_shortcut_error)

T = torch.tensor([1., 2., 4., 18.])
REPO = Path(__file__).resolve().parents[1]
SLAB = 1 << 20   # values per slab of var's second pass (the default of fdl.stats._moments)

def f64(x): return x.double().numpy()

# ---------------------------------------------------------------- lesson values

def test_lesson_values():
    assert mean(T).item() == 6.25 and var(T).item() == 47.1875 and mad(T).item() == 5.875
    assert std(T).item() == pytest.approx(6.8693, abs=5e-5)
    assert var_shortcut(T).item() == var(T).item() == 47.1875
    assert var(T).dtype == std(T).dtype == mad(T).dtype == torch.float32

def test_correction_matches_torch_defaults_when_asked():
    assert var(T, correction=1).item() == pytest.approx(torch.var(T).item(), rel=1e-6)   # torch's default is 1
    assert std(T, correction=1).item() == pytest.approx(torch.std(T).item(), rel=1e-6)
    assert var(T).item() == pytest.approx(torch.var(T).item() * 3 / 4, rel=1e-6)

def test_lesson_pearson_mixes_divisors():
    g = torch.Generator().manual_seed(0)
    u = T * 2 * (torch.randn(4, generator=g) / 10 + 0.95)
    mixed = cov(T, u) / (torch.std(T) * torch.std(u))
    assert (mixed / corr(T, u)).item() == pytest.approx(0.75, rel=1e-6)
    y = 3 * T + 1                                                   # perfectly correlated, yet the mixed formula gives 0.75
    assert (cov(T, y) / (torch.std(T) * torch.std(y))).item() == pytest.approx(0.75, rel=1e-6)
    assert corr(T, u).item() == pytest.approx(torch.corrcoef(torch.stack([T, u]))[0, 1].item(), abs=1e-6)

# ---------------------------------------------------------------- parity over random shapes, dims, corrections, dtypes

def _random_case(seed):
    rng = random.Random(seed)
    ndim = rng.randint(1, 4)
    shape = tuple(rng.randint(1, 6) for _ in range(ndim))
    k = rng.randint(0, ndim)
    dim = None if k == 0 else (rng.randrange(-ndim, ndim) if k == 1 else tuple(rng.sample(range(ndim), k)))
    return shape, dim, rng.random() < 0.5

def _n(shape, dim):
    if dim is None: return int(np.prod(shape))
    dims = (dim,) if isinstance(dim, int) else dim
    return int(np.prod([shape[d] for d in dims]))

@pytest.mark.parametrize('seed', range(40))
@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
def test_var_std_mean_parity_with_torch_and_numpy(seed, dtype):
    shape, dim, keepdim = _random_case(seed)
    x = (torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * 3 + 50).to(dtype)
    n = _n(shape, dim)
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == torch.float32 else dict(rtol=1e-12, atol=1e-12)
    npdim = dim if dim is None or isinstance(dim, int) else tuple(dim)
    for correction in sorted({0, 1, 0.5} - ({1, 0.5} if n < 2 else set())):
        v = var(x, dim, keepdim, correction)
        ref = torch.var(x, dim, correction=correction, keepdim=keepdim)
        assert v.shape == ref.shape and v.dtype == dtype
        torch.testing.assert_close(v, ref, **tol)
        torch.testing.assert_close(std(x, dim, keepdim, correction), torch.std(x, dim, correction=correction, keepdim=keepdim), **tol)
        np.testing.assert_allclose(v.double().numpy(), np.var(f64(x), axis=npdim, ddof=correction, keepdims=keepdim), rtol=1e-5 if dtype == torch.float32 else 1e-12, atol=1e-6)
    torch.testing.assert_close(mean(x, dim, keepdim), torch.mean(x, dim, keepdim=keepdim), **tol)
    xd = f64(x)
    mad_ref = np.mean(np.abs(xd - xd.mean(axis=npdim, keepdims=True)), axis=npdim, keepdims=keepdim)
    np.testing.assert_allclose(mad(x, dim, keepdim).double().numpy(), mad_ref, rtol=1e-5, atol=1e-6)

@pytest.mark.parametrize('seed', range(12))
@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16, torch.int32])
def test_low_precision_and_integer_parity(seed, dtype):
    shape, dim, keepdim = _random_case(seed + 50)
    x = (torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * 3 + 50).to(dtype)
    out = dtype if dtype.is_floating_point else torch.get_default_dtype()
    for correction in ([0, 1] if _n(shape, dim) > 1 else [0]):
        ref = torch.var(x.double(), dim, correction=correction, keepdim=keepdim)
        v = var(x, dim, keepdim, correction)
        assert v.dtype == out and v.shape == ref.shape
        torch.testing.assert_close(v, ref.to(out))          # rounded once, from a float64-accurate value
        torch.testing.assert_close(std(x, dim, keepdim, correction), ref.sqrt().to(out))
    torch.testing.assert_close(mean(x, dim, keepdim), torch.mean(x.double(), dim, keepdim=keepdim).to(out))

@pytest.mark.parametrize('seed', range(20))
def test_cov_corr_parity_along_dims(seed):
    shape, dim, keepdim = _random_case(seed + 100)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=g, dtype=torch.float64) + 7
    y = 0.5 * x + torch.randn(shape, generator=g, dtype=torch.float64)
    n, npdim = _n(shape, dim), dim if dim is None or isinstance(dim, int) else tuple(dim)
    dx = f64(x) - f64(x).mean(axis=npdim, keepdims=True)
    dy = f64(y) - f64(y).mean(axis=npdim, keepdims=True)
    c_ref = np.sum(dx * dy, axis=npdim, keepdims=keepdim)
    for correction in ([0, 1] if n > 1 else [0]):
        np.testing.assert_allclose(cov(x, y, dim, keepdim, correction).numpy(), c_ref / (n - correction), rtol=1e-10, atol=1e-12)
    if n > 1:
        r_ref = c_ref / np.sqrt(np.sum(dx**2, axis=npdim, keepdims=keepdim) * np.sum(dy**2, axis=npdim, keepdims=keepdim))
        np.testing.assert_allclose(corr(x, y, dim, keepdim).numpy(), r_ref, rtol=1e-10, atol=1e-12)

@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
def test_flat_cov_corr_match_torch(dtype):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(3, 50, generator=g).to(dtype)
    y = x * 2 - torch.randn(3, 50, generator=g).to(dtype)
    for correction in (0, 1, 2):
        torch.testing.assert_close(cov(x, y, correction=correction), torch.cov(torch.stack([x.flatten(), y.flatten()]), correction=correction)[0, 1])
    torch.testing.assert_close(corr(x, y), torch.corrcoef(torch.stack([x.flatten(), y.flatten()]))[0, 1])

@pytest.mark.parametrize('dtype', [torch.float32, torch.float64, torch.int64])
def test_matrix_forms_match_torch(dtype):
    X = (torch.randn(4, 30, generator=torch.Generator().manual_seed(2)) * 10).to(dtype)
    Xf = X if X.is_floating_point() else X.float()
    for correction in (0, 1, 3):
        torch.testing.assert_close(cov_matrix(X, correction=correction), torch.cov(Xf, correction=correction))
    torch.testing.assert_close(corr_matrix(X), torch.corrcoef(Xf))
    assert cov_matrix(X).dtype == corr_matrix(X).dtype == Xf.dtype
    one = X[0]
    assert cov_matrix(one).shape == torch.cov(Xf[0]).shape == ()
    torch.testing.assert_close(cov_matrix(one, correction=1), torch.cov(Xf[0]))
    torch.testing.assert_close(cov_matrix(X[:1]), torch.cov(Xf[:1], correction=0))
    assert corr_matrix(one).item() == pytest.approx(1.0)

def test_zero_dim_tensor():
    x = torch.tensor(3.)
    for f in (var, std, mad):
        assert f(x).shape == () and f(x).item() == 0.0
    assert var(x, dim=0).item() == torch.var(x, dim=0, correction=0).item() == 0
    assert mean(x, keepdim=True).shape == torch.mean(x, dim=0, keepdim=True).shape == ()

@pytest.mark.parametrize('size', [SLAB - 1, SLAB, SLAB + 1, 3 * SLAB + 5])
def test_slabs_match_float64(size):
    x = torch.randn(size, generator=torch.Generator().manual_seed(size)) * 2 + 1e4
    ref = np.var(f64(x))
    assert var(x).item() == pytest.approx(ref, rel=1e-6)
    assert std(x.reshape(-1, 1)).item() == pytest.approx(ref**0.5, rel=1e-6)
    big = x[: size // 2 * 2].reshape(2, -1).T    # non-contiguous: the unchunked path
    assert var(big).item() == pytest.approx(np.var(f64(big)), rel=1e-6)

# ---------------------------------------------------------------- stability, dtypes, overflow

def test_large_mean_small_spread_float32():
    x = torch.randn(1_000_000, generator=torch.Generator().manual_seed(0)) + 1e4
    ref = np.var(f64(x))
    assert abs(var(x).item() - ref) / ref < 1e-6
    assert abs(std(x).item() - ref**0.5) / ref**0.5 < 1e-6
    assert abs(var_shortcut(x).item() - ref) / ref > 0.5   # the shortcut loses every digit
    y = x[:1000]
    yref = np.var(f64(y))
    assert abs(var(y, dim=0).item() - yref) / yref < 1e-6

def test_refinements_beat_plain_two_passes():
    "Spread 0.1 around 1e4 (the page's data), over seeds: the rounded float32 mean costs plain two passes and torch.var."
    errs = []
    for seed in range(10):
        z = torch.randn(1000, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
        x = (1e4 + 0.1 * z).float()
        ref = np.var(f64(x))
        rel = lambda v: abs(float(v) - ref) / ref
        errs.append((rel(var(x)), rel(((x - x.mean())**2).mean()), rel(torch.var(x, correction=0))))
    e = np.array(errs)
    assert e[:, 0].max() < 1e-7                                   # var: every seed
    assert (np.median(e[:, 1:], axis=0) > 10 * e[:, 0].max()).all()  # plain and torch: the median seed is 10x worse

def test_float64_shortcut_breaks_around_1e8():
    for seed in range(5):                               # every seed, not one seed's rounding
        e = shortcut_errors([1.0, 1e8], torch.float64, seed=seed)
        assert e['shortcut'][0] < 1e-12 and e['shortcut'][1] > 0.5
        assert max(e['var']) < 1e-12
        e32 = shortcut_errors([1.0, 1e4], torch.float32, n=500, seed=seed)
        assert e32['shortcut'][1] > 0.5 and max(e32['var']) < 1e-6 and len(e32['var']) == 2

@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
def test_half_precision_accumulates_wider(dtype):
    x = (torch.arange(2000, dtype=torch.float64) % 7 + 200).to(dtype)
    ref = np.var(f64(x))
    v = var(x)
    assert v.dtype == dtype
    assert v.item() == pytest.approx(ref, rel=1e-2)
    assert torch.var(x.double(), correction=0).to(dtype).item() == v.item()
    assert mean(x).dtype == dtype and mean(x).item() == pytest.approx(f64(x).mean(), rel=1e-2)

def test_integer_and_bool_inputs_give_floats():
    i = torch.tensor([1, 2, 4, 18])
    assert var(i).dtype == torch.get_default_dtype() and var(i).item() == 47.1875
    assert mad(i).item() == 5.875 and mean(i).item() == 6.25 and var_shortcut(i).item() == 47.1875
    b = torch.tensor([True, False, False, True])
    assert var(b).item() == 0.25
    big = torch.tensor([2**53, 2**53 + 2], dtype=torch.int64)   # computed in float64, exact
    assert var(big, correction=1).item() == 2.0
    assert cov(i, i * 2).item() == pytest.approx(2 * 47.1875)

def test_float32_range_stated_on_the_page():
    "float32 holds while squares of deviations are normal and their sums finite; outside, inf or 0 (said on the page)."
    x = torch.tensor([1e19, 2e19, 3e19, 4e19])
    ref = np.var(f64(x))
    assert var(x).isinf().item() and torch.var(x, correction=0).isfinite().item()   # torch adds squares in float64
    assert var(x.double()).item() == pytest.approx(ref, rel=1e-12)                # float64: well inside its range
    assert std(x.double()).item() == pytest.approx(ref**0.5, rel=1e-12)
    assert mad(x).item() == pytest.approx(1e19, rel=1e-6)                          # no squares: fine
    assert mean(torch.full((8,), 3e38)).isinf().item()                             # the sum overflows
    assert mean(torch.full((8,), 3e37)).item() == pytest.approx(3e37, rel=1e-6)    # 8 * 3e37 < 3.4e38
    z = torch.randn(1000, generator=torch.Generator().manual_seed(0))
    for scale in (1e-18, 1e-10, 1.0, 1e10, 1e17):                                 # inside: 1e-19 .. 1.8e19 / sqrt(n)
        ref = torch.var(z * scale, correction=0)
        assert var(z * scale).item() == pytest.approx(ref.item(), rel=1e-5)
        assert std(z * scale).item() == pytest.approx(ref.sqrt().item(), rel=1e-5)
        assert cov(z * scale, z).item() == pytest.approx(ref.item() / scale, rel=1e-5)
        assert RunningStats().update(z * scale).var.item() == pytest.approx(ref.item(), rel=1e-5)
    assert var(z * 1e19).isinf().item()                                             # outside: overflow
    assert std(z * 1e-30).item() == 0.0                                             # outside: squares underflow
    assert 0 < var(z.double() * 1e-150).item() < float('inf') and var(z.double() * 1e150).isfinite().item()

def test_tiny_and_huge_values_in_float64():
    "Deviations far below float32's range keep their digits in float64, along dims and in the streaming classes."
    g = torch.Generator().manual_seed(6)
    x = torch.randn(3, 200, generator=g, dtype=torch.float64) * torch.tensor([[1e-100], [1.], [1e100]], dtype=torch.float64)
    x[1] = 0                                                           # a slice of zeros next to tiny and huge ones
    ref = np.std(f64(x), axis=1)
    np.testing.assert_allclose(std(x, dim=1).numpy(), ref, rtol=1e-12)
    np.testing.assert_allclose(RunningStats().update(x.T).std.numpy(), ref, rtol=1e-12)
    y = torch.randn(200, generator=g, dtype=torch.float64)
    r = np.corrcoef(f64(x[0]), f64(y))[0, 1]
    assert corr(x[0], y).item() == pytest.approx(r, rel=1e-10)
    assert RunningCov().update(x[0], y).corr.item() == pytest.approx(r, rel=1e-10)
    assert cov(x[0], y).item() == pytest.approx(np.cov(f64(x[0]), f64(y), ddof=0)[0, 1], rel=1e-10)
    one_ulp = torch.tensor([0., 1.4e-45])                              # float32: variance 2**-300 is not representable
    assert var(one_ulp).item() == 0.0 and std(one_ulp).item() >= 0.0   # never negative, never nan

def test_nan_and_inf_follow_torch():
    x = torch.tensor([[1., float('nan'), 3.], [2., 5., 7.]])
    for dim in (None, 0, 1):
        assert torch.equal(var(x, dim).isnan(), torch.var(x, dim).isnan())
        assert torch.equal(std(x, dim).isnan(), torch.std(x, dim).isnan())
        assert torch.equal(mean(x, dim).isnan(), torch.mean(x, dim).isnan())
    assert torch.allclose(var(x, 0, correction=1)[[0, 2]], torch.var(x, 0)[[0, 2]])
    inf = torch.tensor([1., float('inf')])
    assert var(inf).isnan().item() and torch.var(inf).isnan().item()
    assert cov(x, x).isnan().item() and corr(x[1], x[0]).isnan().item()

def test_constant_input_to_corr_is_nan_like_torch():
    c = torch.ones(5)
    assert corr(torch.arange(5.), c).isnan().item()
    assert torch.corrcoef(torch.stack([torch.arange(5.), c]))[0, 1].isnan().item()
    m = corr_matrix(torch.stack([torch.arange(5.), c]))
    assert torch.equal(m.isnan(), torch.corrcoef(torch.stack([torch.arange(5.), c])).isnan())
    assert var(c).item() == 0.0 and cov(c, torch.arange(5.)).item() == 0.0
    k = torch.full((33,), 0.2494252324104309)    # constant, but its float32 mean is not exactly the constant
    y = torch.randn(33, generator=torch.Generator().manual_seed(7))
    assert S.mean(k).item() != k[0].item()
    assert corr(k, y).isnan().item() and corr(y, k).isnan().item()
    assert corr_matrix(torch.stack([k, y]))[0, 1].isnan().item() and RunningCov().update(k, y).corr.isnan().item()
    assert var(k).item() == 0.0

def test_corr_is_clipped_and_scale_free():
    x = torch.randn(1000, generator=torch.Generator().manual_seed(5)) + 3
    assert corr(x, x).item() == 1.0 and corr(x, -x).item() == -1.0
    assert corr(x * 1e3 + 5, x).item() == pytest.approx(1.0, abs=1e-6)

# ---------------------------------------------------------------- gradients

def _grad(f, x):
    x = x.detach().clone().requires_grad_()
    out = f(x)
    g, = torch.autograd.grad(out.sum(), x)
    return out.detach(), g

@pytest.mark.parametrize('shape', [(4,), (100,), (512, 512), (SLAB + 7,)])  # small, and beyond one chunk
@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
def test_var_std_gradients_match_torch(shape, dtype):
    x = (torch.randn(shape, generator=torch.Generator().manual_seed(len(shape)), dtype=torch.float64) * 3 + 5).to(dtype)
    for ours, theirs in ((var, torch.var), (std, torch.std)):
        v, g = _grad(lambda x: ours(x), x)
        tv, tg = _grad(lambda x: theirs(x, correction=0), x)
        assert v.dtype == g.dtype == dtype
        torch.testing.assert_close(v, tv, rtol=1e-5, atol=0)
        torch.testing.assert_close(g, tg, rtol=1e-4, atol=1e-6 * tg.abs().max().item())
    _, g = _grad(var, x)
    xd = x.double()
    torch.testing.assert_close(g.double(), 2 * (xd - xd.mean()) / xd.numel(), rtol=1e-4, atol=1e-6 * g.abs().max().item())

def test_gradients_along_dims_with_correction_and_keepdim():
    x = torch.randn(6, 5, 4, generator=torch.Generator().manual_seed(3))
    for dim, keepdim, correction in ((0, False, 1), ((0, 2), True, 0), (-1, False, 2)):
        for ours, theirs in ((var, torch.var), (std, torch.std), (mean, torch.mean)):
            kw = {} if ours is mean else {'correction': correction}
            _, g = _grad(lambda x: ours(x, dim=dim, keepdim=keepdim, **kw), x)
            _, tg = _grad(lambda x: theirs(x, dim=dim, keepdim=keepdim, **kw), x)
            torch.testing.assert_close(g, tg, rtol=1e-5, atol=1e-7)

def test_gradients_of_mad_cov_corr_match_torch():
    g = torch.Generator().manual_seed(5)
    x, y = torch.randn(300_000, generator=g), torch.randn(300_000, generator=g)
    y = x + y
    _, gm = _grad(mad, x)
    _, tgm = _grad(lambda x: (x - x.mean()).abs().mean(), x)
    torch.testing.assert_close(gm, tgm, rtol=1e-4, atol=1e-12)
    _, gc = _grad(lambda x: corr(x, y), x)
    _, tgc = _grad(lambda x: torch.corrcoef(torch.stack([x, y]))[0, 1], x)
    torch.testing.assert_close(gc, tgc, rtol=1e-3, atol=1e-3 * tgc.abs().max().item())
    _, gv = _grad(lambda x: cov(x, y), x)
    _, tgv = _grad(lambda x: torch.cov(torch.stack([x, y]), correction=0)[0, 1], x)
    torch.testing.assert_close(gv, tgv, rtol=1e-4, atol=1e-4 * tgv.abs().max().item())

def test_gradients_stay_finite_at_the_ends_of_the_float_range():
    "Values far out for float32 are inside float64's range: computed in float64, value and gradient match torch."
    for x in (torch.tensor([1e19, 2e19, 3e19, 4e19], dtype=torch.float64), torch.tensor([-1e-30, 1e-30, 3e-30], dtype=torch.float64)):
        for ours, theirs in ((var, torch.var), (std, torch.std)):
            v, g = _grad(ours, x)
            tv, tg = _grad(lambda x: theirs(x, correction=0), x)
            assert g.isfinite().all()
            torch.testing.assert_close(v, tv, rtol=1e-5, atol=0)
            torch.testing.assert_close(g, tg, rtol=1e-5, atol=1e-12 * tg.abs().max().item())

def test_no_grad_mode_and_results_without_grad_are_unchanged():
    x = torch.randn(SLAB * 2 + 3, generator=torch.Generator().manual_seed(6)) + 1e4
    plain = var(x)
    xg = x.clone().requires_grad_()
    with torch.no_grad(): quiet = var(xg)
    assert not quiet.requires_grad and torch.equal(quiet, plain)
    assert var(xg).requires_grad
    torch.testing.assert_close(var(xg).detach(), plain, rtol=1e-6, atol=0)

def test_running_stats_detach_their_input():
    x = torch.randn(SLAB + 11, generator=torch.Generator().manual_seed(7)).requires_grad_()
    rs = RunningStats().update(x).update(x[:1000])
    assert not rs.var.requires_grad and not rs.mean.requires_grad
    ref = RunningStats().update(x.detach()).update(x.detach()[:1000])
    assert torch.equal(rs.var, ref.var) and torch.equal(rs.mean, ref.mean)
    rows = torch.randn(400_000, 2, generator=torch.Generator().manual_seed(8)).requires_grad_()
    rc = RunningCov().update(rows, rows * 2)
    assert not rc.cov.requires_grad and not rc.corr.requires_grad
    torch.testing.assert_close(rc.cov, cov(rows.detach(), rows.detach() * 2, dim=0), rtol=1e-6, atol=0)
    assert x.grad is None

# ---------------------------------------------------------------- bad input

BAD_INPUT = [   # (call, exception type, the argument's name and a key word)
    (lambda: var([1., 2.]), TypeError, 'x must be a torch.Tensor'),
    (lambda: mean(np.ones(3)), TypeError, 'x must be a torch.Tensor'),
    (lambda: std(torch.ones(3, dtype=torch.complex64)), TypeError, 'x must be a real'),
    (lambda: var(torch.tensor([])), ValueError, 'x has no values'),
    (lambda: mean(torch.zeros(3, 0), dim=1), ValueError, 'x has no values'),
    (lambda: mad(torch.zeros(0, 2), dim=0), ValueError, 'x has no values'),
    (lambda: var(T, dim=1), IndexError, 'dim=1 is out of range'),
    (lambda: var(T, dim=-2), IndexError, 'dim=-2 is out of range'),
    (lambda: var(torch.zeros(2, 2), dim=(0, -2)), ValueError, 'dim.*twice'),
    (lambda: var(T, dim=()), ValueError, 'dim=\\(\\) names no dimension'),
    (lambda: var(T, dim=1.0), TypeError, 'dim must be'),
    (lambda: var(T, dim=True), TypeError, 'dim must be'),
    (lambda: var(T, keepdim=1), TypeError, 'keepdim must be True or False'),
    (lambda: mean(T, keepdim='no'), TypeError, 'keepdim'),
    (lambda: var(T, correction=4), ValueError, 'correction=4.*degrees of freedom'),
    (lambda: std(torch.tensor([5.]), correction=1), ValueError, 'correction=1'),
    (lambda: var(T, correction=-1), ValueError, 'correction must be >= 0'),
    (lambda: var(T, correction=float('nan')), ValueError, 'correction must be a number'),
    (lambda: std(T, correction=float('inf')), ValueError, 'correction must be finite'),
    (lambda: var(T, correction='1'), TypeError, 'correction must be a number'),
    (lambda: var(T, correction=True), TypeError, 'correction must be a number'),
    (lambda: var_shortcut(T, correction=4), ValueError, 'correction=4'),
    (lambda: cov(T, T[:3]), ValueError, r'y must have shape \(4,\)'),
    (lambda: corr(T, T[None]), ValueError, 'y must have shape'),
    (lambda: cov(T, [1., 2., 3., 4.]), TypeError, 'y must be a torch.Tensor'),
    (lambda: corr(T, T.to(torch.complex64)), TypeError, 'y must be a real'),
    (lambda: cov(T, T, correction=4), ValueError, 'correction=4'),
    (lambda: cov(T, T, correction=float('nan')), ValueError, 'correction must be a number'),
    (lambda: cov_matrix(torch.zeros(2, 3, 4)), ValueError, 'x must be 1-D or 2-D'),
    (lambda: cov_matrix(torch.zeros(2, 0)), ValueError, 'x has no values'),
    (lambda: cov_matrix(torch.zeros(2, 3), correction=3), ValueError, 'correction=3'),
    (lambda: corr(torch.zeros(2, 3)), TypeError, "'y'"),
    (lambda: cov(torch.zeros(2, 3), keepdim=True), TypeError, "'y'"),
    (lambda: corr_matrix([[1., 2.]]), TypeError, 'x must be a torch.Tensor'),
    (lambda: plot_deviations(torch.full((4,), 2.)), ValueError, 'x must hold at least two different'),
    (lambda: plot_deviations(torch.tensor([3.])), ValueError, 'x must hold at least two different'),
    (lambda: plot_deviations(T.to(torch.complex64)), TypeError, 'x must be a real'),
    (lambda: plot_deviations(torch.tensor(3.)), ValueError, 'x must have at least 1'),
    (lambda: shortcut_errors([1.], n=1), ValueError, 'n must be >= 2'),
    (lambda: plot_shortcut_error(n=1), ValueError, 'n must be >= 2'),
    (lambda: RunningStats(correction=float('nan')), ValueError, 'correction must be a number'),
    (lambda: RunningCov(correction=-1), ValueError, 'correction must be >= 0'),
    (lambda: shortcut_errors([1.], n=0), ValueError, 'n must be >= 2'),
]

@pytest.mark.parametrize('call,exc,msg', BAD_INPUT)
def test_bad_input(call, exc, msg):
    with pytest.raises(exc, match=msg): call()

def test_torch_behaviour_we_document():
    "The cases where fdl raises and torch returns something, as the notebook's table says."
    with pytest.warns(UserWarning): assert torch.var(torch.tensor([])).isnan().item()
    with pytest.warns(UserWarning): assert torch.var(torch.tensor([1., 2.]), correction=2).isinf().item()
    with pytest.raises(RuntimeError): torch.var(torch.tensor([1, 2]))
    with pytest.raises(RuntimeError): torch.mean(torch.tensor([1, 2]))
    assert torch.var(torch.ones(3, dtype=torch.complex64)).item() == 0

# ---------------------------------------------------------------- hypothesis properties

ints = st.lists(st.integers(-1000, 1000), min_size=2, max_size=60)

@settings(max_examples=60, deadline=None)
@given(ints, st.integers(-10**6, 10**6), st.sampled_from([torch.float32, torch.float64]))
def test_var_and_cov_are_shift_invariant(xs, shift, dtype):
    x = torch.tensor(xs, dtype=dtype)      # integers: x + shift is exact in both dtypes
    y = x.flip(0) * 2 + 1
    tol = 1e-5 if dtype == torch.float32 else 1e-12
    assert var(x + shift).item() == pytest.approx(var(x).item(), rel=tol, abs=tol)
    assert cov(x + shift, y - shift).item() == pytest.approx(cov(x, y).item(), rel=tol, abs=tol * var(x).item()**0.5 * var(y).item()**0.5 + tol)

@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-1e3, 1e3).map(lambda f: f if abs(f) > 1e-100 else 0.0), min_size=2, max_size=60),
       st.floats(-1e3, 1e3).filter(lambda a: abs(a) > 1e-3), st.integers(-20, 20))
def test_scale_laws(xs, a, k):
    x = torch.tensor(xs, dtype=torch.float64)
    y = x.roll(1) + 1
    v = var(x).item()
    assert var(x * 2.0**k).item() == v * 4.0**k           # powers of two scale exactly (values are kept away from subnormals)
    # a * x is rounded before fdl sees it: each value moves by up to eps*|a*x|, which bounds how far the results may move
    eps, big_x, big_y = torch.finfo(torch.float64).eps, x.abs().max().item(), y.abs().max().item()
    wiggle = 4 * eps * abs(a) * big_x
    assert var(a * x).item() == pytest.approx(a * a * v, rel=1e-9, abs=abs(a) * wiggle * (v**0.5 + eps * big_x) + 1e-300)
    assert std(a * x).item() == pytest.approx(abs(a) * std(x).item(), rel=1e-9, abs=wiggle + 1e-300)
    assert mad(a * x).item() == pytest.approx(abs(a) * mad(x).item(), rel=1e-9, abs=wiggle + 1e-300)
    assert cov(a * x, 4 * y).item() == pytest.approx(4 * a * cov(x, y).item(), rel=1e-9,
                                                     abs=4 * wiggle * (var(y).item()**0.5 + eps * big_y) + 1e-300)

inside = st.floats(-1e6, 1e6).map(lambda f: f if abs(f) > 1e-15 else 0.0)   # within the range the page states

@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(inside, inside), min_size=2, max_size=60))
def test_corr_lies_in_unit_interval(pairs):
    for dtype in (torch.float64, torch.float32):
        x, y = torch.tensor(pairs, dtype=torch.float64).T.to(dtype)
        r, constant = corr(x, y), bool(x.min() == x.max() or y.min() == y.max())
        assert r.isnan().item() == constant                 # nan exactly when a side has no spread
        assert constant or -1.0 <= r.item() <= 1.0
        assert var(x).item() >= 0 and not std(x).isnan().item()     # rounding never makes a sum of squares negative

@settings(max_examples=40, deadline=None)
@given(st.integers(1, 300), st.lists(st.integers(0, 300), max_size=8), st.randoms(use_true_random=False),
       st.sampled_from([(), (3,), (2, 2)]))
def test_running_stats_any_chunking_any_merge_order(n, cuts, rnd, features):
    data = torch.randn(n, *features, generator=torch.Generator().manual_seed(n)) * 5 + 100
    bounds = sorted({0, n, *[c % (n + 1) for c in cuts]})
    pieces = [data[a:b] for a, b in zip(bounds, bounds[1:])]
    parts = []
    for p in pieces:                    # each piece fed in its own random chunking
        rs = RunningStats()
        i = 0
        while i < len(p):
            step = rnd.randint(1, len(p))
            rs.update(p[i:i + step]); i += step
        parts.append(rs)
    while len(parts) > 1:               # merge in a random tree order
        a = parts.pop(rnd.randrange(len(parts))); b = parts.pop(rnd.randrange(len(parts)))
        parts.append(a.merge(b))
    total = parts[0]
    assert total.n == n
    torch.testing.assert_close(total.mean, mean(data, dim=0), rtol=1e-6, atol=1e-4)
    torch.testing.assert_close(total.var, var(data, dim=0), rtol=1e-5, atol=1e-5)

# ---------------------------------------------------------------- RunningStats / RunningCov

def test_running_stats_matches_batch_and_torch():
    data = torch.randn(1000, 3, generator=torch.Generator().manual_seed(0)) * torch.tensor([1., 10., .1]) + 1e4
    rs = RunningStats(correction=1)
    for c in data.split(77): rs.update(c)
    assert rs.n == 1000 and rs.mean.dtype == torch.float32 and rs.var.shape == (3,)
    torch.testing.assert_close(rs.var, torch.var(data.double(), dim=0).float(), rtol=1e-6, atol=0)
    torch.testing.assert_close(rs.std, torch.std(data.double(), dim=0).float(), rtol=1e-6, atol=0)
    torch.testing.assert_close(rs.mean, data.double().mean(0).float())
    assert repr(rs) == 'RunningStats(n=1000, features=(3,), correction=1)'

def test_running_stats_scalar_stream_and_dtypes():
    rs = RunningStats().update(T[:1]).update(T[1:3]).update(torch.tensor([]))
    rs.update(T[3:])
    assert rs.n == 4 and rs.var.item() == 47.1875 and rs.mean.item() == 6.25
    assert rs.std.item() == pytest.approx(6.8693, abs=5e-5)
    ri = RunningStats().update(torch.tensor([1, 2, 4, 18]))
    assert ri.var.dtype == torch.get_default_dtype() and ri.var.item() == 47.1875
    rd = RunningStats().update(T.double())
    assert rd.var.dtype == torch.float64
    assert RunningStats().update(T.half()).var.dtype == torch.float16
    assert RunningStats().update(T).merge(rd).var.dtype == torch.float64

def test_running_stats_large_stream_is_accurate():
    x = torch.randn(3_000_000, generator=torch.Generator().manual_seed(1)) + 1e4
    rs = RunningStats()
    for c in x.split(1_000_000): rs.update(c)
    ref = np.var(f64(x))
    assert abs(rs.var.item() - ref) / ref < 1e-6

def test_running_stats_rejects_without_changing_state():
    rs = RunningStats().update(torch.randn(10, 3))
    before = rs.state_dict()
    def same():
        after = rs.state_dict()
        return after['n'] == before['n'] and torch.equal(after['mean'], before['mean']) and torch.equal(after['m2'], before['m2'])
    with pytest.raises(ValueError, match=r'batch must have shape \(5, 3\)'): rs.update(torch.zeros(5, 4))
    with pytest.raises(ValueError, match='batch must have at least 1 dim'): rs.update(torch.tensor(1.))
    with pytest.raises(TypeError, match='batch must be a torch.Tensor'): rs.update([[1., 2., 3.]])
    with pytest.raises(TypeError, match='batch must be a real'): rs.update(torch.zeros(2, 3, dtype=torch.complex64))
    with pytest.raises(ValueError, match=r'other must have shape \(3,\)'): rs.merge(RunningStats().update(torch.zeros(4, 2)))
    with pytest.raises(TypeError, match='other must be a RunningStats'): rs.merge(torch.zeros(3))
    with pytest.raises(ValueError, match="state is missing.*m2"): rs.load_state_dict({'n': 1, 'mean': 0, 'dtype': None, 'correction': 0})
    with pytest.raises(ValueError, match="state\\['n'\\] must be >= 0"): rs.load_state_dict({**before, 'n': -1})
    with pytest.raises(ValueError, match="state\\['m2'\\] must have shape"): rs.load_state_dict({**before, 'm2': torch.zeros(2)})
    with pytest.raises(TypeError, match="state\\['dtype'\\] must be a dtype"): rs.load_state_dict({**before, 'dtype': 'float32'})
    with pytest.raises(ValueError, match="state\\['correction'\\] must be a number"): rs.load_state_dict({**before, 'correction': float('nan')})
    with pytest.raises(ValueError, match="state\\['m2'\\] must be >= 0"): rs.load_state_dict({**before, 'm2': before['m2'] - 1e9})
    with pytest.raises(ValueError, match="state\\['m2'\\] must be a number"): rs.load_state_dict({**before, 'm2': before['m2'] * float('nan')})
    assert same()

def test_load_state_dict_stores_detached_copies():
    rs = RunningStats().update(torch.randn(10, 3))
    state = rs.state_dict()
    w = torch.ones(3, requires_grad=True)
    state['mean'] = state['mean'] * w                          # a mean that carries an autograd graph
    loaded = RunningStats().load_state_dict(state)
    assert not loaded._mean.requires_grad and not loaded.mean.requires_grad
    torch.testing.assert_close(loaded.mean, rs.mean)
    rc = RunningCov().update(torch.randn(5, 2), torch.randn(5, 2))
    with pytest.raises(ValueError, match="state\\['m2y'\\] must be >= 0"):
        RunningCov().load_state_dict({**rc.state_dict(), 'm2y': -torch.ones(2)})

def test_running_stats_empty_and_correction():
    rs = RunningStats(correction=1)
    assert rs.n == 0 and repr(rs) == 'RunningStats(n=0, features=None, correction=1)'
    for prop in ('mean', 'var', 'std'):
        with pytest.raises(ValueError, match='RunningStats has seen 0 values'): getattr(rs, prop)
    rs.update(torch.tensor([3.]))
    assert rs.mean.item() == 3.0
    with pytest.raises(ValueError, match='needs more than 1'): rs.var
    with pytest.raises(ValueError, match='correction=1') as e: rs.std
    assert 'update() first' not in str(e.value)             # update() was called: the divisor is the problem
    with pytest.raises(ValueError, match='correction must be >= 0'): RunningStats(correction=-1)
    assert RunningStats().merge(RunningStats()).n == 0
    assert RunningStats().merge(rs).mean.item() == 3.0 and rs.merge(RunningStats()).n == 1

def test_running_stats_state_dict_round_trip():
    data = torch.randn(100, 2, generator=torch.Generator().manual_seed(3))
    rs = RunningStats(correction=1).update(data[:60])
    buf = io.BytesIO(); torch.save(rs.state_dict(), buf); buf.seek(0)
    resumed = RunningStats().load_state_dict(torch.load(buf))
    assert resumed.correction == 1 and resumed.n == 60
    resumed.update(data[60:]); rs.update(data[60:])
    assert torch.equal(resumed.var, rs.var)
    assert RunningStats().load_state_dict(RunningStats().state_dict()).n == 0
    assert set(rs.state_dict()) == {'n', 'dtype', 'correction', 'mean', 'm2'}
    sd = rs.state_dict(); sd['mean'] += 1       # the dict is a copy
    assert not torch.equal(rs.state_dict()['mean'], sd['mean'])

def test_running_cov_matches_batch():
    g = torch.Generator().manual_seed(4)
    x = torch.randn(500, 2, generator=g) + 100
    y = x * torch.tensor([2., -1.]) + torch.randn(500, 2, generator=g)
    rc = RunningCov(correction=1)
    for cx, cy in zip(x.split(64), y.split(64)): rc.update(cx, cy)
    assert rc.n == 500 and repr(rc) == 'RunningCov(n=500, features=(2,), correction=1)'
    torch.testing.assert_close(rc.cov, cov(x, y, dim=0, correction=1), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(rc.corr, corr(x, y, dim=0), rtol=1e-6, atol=1e-6)
    ref = torch.stack([torch.corrcoef(torch.stack([x[:, j], y[:, j]]))[0, 1] for j in range(2)])
    torch.testing.assert_close(rc.corr, ref, rtol=1e-5, atol=1e-6)
    a, b = RunningCov(1).update(x[:123], y[:123]), RunningCov(1).update(x[123:], y[123:])
    torch.testing.assert_close(b.merge(a).cov, rc.cov, rtol=1e-6, atol=1e-6)
    sd = RunningCov().load_state_dict(rc.state_dict())
    assert torch.equal(sd.cov, rc.cov) and torch.equal(sd.corr, rc.corr)

def test_running_cov_rejects_without_changing_state():
    rc = RunningCov().update(torch.randn(5, 2), torch.randn(5, 2))
    c0 = rc.cov.clone()
    with pytest.raises(ValueError, match=r'y must have shape \(5, 2\)'): rc.update(torch.zeros(5, 2), torch.zeros(4, 2))
    with pytest.raises(ValueError, match=r'y must have shape \(5, 2\)'): rc.update(torch.zeros(5, 2), torch.zeros(5, 3))
    with pytest.raises(ValueError, match=r'x must have shape \(5, 2\)'): rc.update(torch.zeros(5, 3), torch.zeros(5, 3))
    with pytest.raises(TypeError, match='y must be a torch.Tensor'): rc.update(torch.zeros(5, 2), None)
    with pytest.raises(ValueError, match='other must have shape'): rc.merge(RunningCov().update(torch.zeros(2, 3), torch.zeros(2, 3)))
    with pytest.raises(TypeError, match='other must be a RunningCov'): rc.merge(RunningStats())
    with pytest.raises(ValueError, match=r"state\['c'\] must have shape"):
        RunningCov().load_state_dict({**rc.state_dict(), 'c': torch.zeros(3)})
    assert rc.n == 5 and torch.equal(rc.cov, c0)
    assert RunningCov().update(torch.zeros(0, 2), torch.zeros(0, 2)).n == 0
    with pytest.raises(ValueError, match='RunningCov has seen 0 values'): RunningCov().corr

# ---------------------------------------------------------------- two processes with torch.distributed

WORKER = textwrap.dedent('''
    import datetime, functools, sys, torch, torch.distributed as dist
    from fdl.stats import RunningStats
    rank, world, rendezvous, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
    dist.init_process_group('gloo', init_method=f'file://{rendezvous}', rank=rank, world_size=world,
                            timeout=datetime.timedelta(seconds=60))
    data = torch.randn(10_001, 3, generator=torch.Generator().manual_seed(0)) * 3 + 1e3
    shard = data.tensor_split(world)[rank]
    stats = RunningStats(correction=1)
    for chunk in shard.split(999): stats.update(chunk)
    gathered = [None] * world
    dist.all_gather_object(gathered, stats)
    total = functools.reduce(RunningStats.merge, gathered, RunningStats(correction=1))
    torch.save(total.state_dict(), f'{out}.{rank}')
    dist.destroy_process_group()
''')

def test_two_processes_merge_to_single_process_result(tmp_path):
    "Rendezvous through a file (no port to collide on), gloo on the loopback interface, and a deadline: a failure never hangs."
    script, out = tmp_path / 'worker.py', tmp_path / 'state'
    script.write_text(WORKER)
    env = {**os.environ, 'PYTHONPATH': f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}", 'OMP_NUM_THREADS': '1'}
    if Path('/sys/class/net/lo').exists(): env.setdefault('GLOO_SOCKET_IFNAME', 'lo')   # not whatever the hostname resolves to
    procs = [subprocess.Popen([sys.executable, str(script), str(r), '2', str(tmp_path / 'rendezvous'), str(out)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for r in range(2)]
    deadline = time.monotonic() + 120
    try:
        logs = [p.communicate(timeout=max(1, deadline - time.monotonic()))[0] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None: p.kill(); p.wait()
    assert [p.returncode for p in procs] == [0, 0], logs
    data = torch.randn(10_001, 3, generator=torch.Generator().manual_seed(0)) * 3 + 1e3
    single = RunningStats(correction=1).update(data)
    for r in range(2):
        merged = RunningStats().load_state_dict(torch.load(f'{out}.{r}'))
        assert merged.n == 10_001
        torch.testing.assert_close(merged.mean, single.mean, rtol=1e-7, atol=0)
        torch.testing.assert_close(merged.var, single.var, rtol=1e-6, atol=0)
        torch.testing.assert_close(merged.var, torch.var(data.double(), dim=0).float(), rtol=1e-6, atol=0)

# ---------------------------------------------------------------- plots and import weight

@pytest.fixture
def plt():
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    yield plt
    plt.close('all')

def test_plot_deviations_shows_shares(plt):
    ax = plot_deviations(T)
    heights = [p.get_height() for p in ax.patches]
    d = T.double() - 6.25
    assert heights[:4] == pytest.approx((100 * d**2 / (d**2).sum()).tolist())
    assert heights[4:] == pytest.approx((100 * d.abs() / d.abs().sum()).tolist())
    assert heights[3] == pytest.approx(73.15, abs=0.01) and heights[7] == 50.0
    assert [t.get_text() for t in ax.get_xticklabels()] == ['1', '2', '4', '18']

def test_plot_scatter_titles_with_corr(plt):
    g = torch.Generator().manual_seed(0)
    v = torch.randn(4, generator=g)
    fig, ax = plt.subplots()
    assert plot_scatter(T, v, ax=ax, color='red') is ax
    assert ax.get_title() == f'Pearson r = {corr(T, v).item():.3f}'
    assert len(ax.collections[0].get_offsets()) == 4
    assert plot_scatter(T, 2 * T).get_title() == 'Pearson r = 1.000'
    plt.close('all')
    with pytest.raises(ValueError, match='y must have shape'): plot_scatter(T, T[:2])
    assert plt.get_fignums() == []          # checked before anything is drawn

def test_plot_shortcut_error_lines(plt):
    ax = plot_shortcut_error(n=200)
    labels = [l.get_label() for l in ax.get_lines() if not l.get_label().startswith('_')]
    assert labels == ['shortcut, float32', 'var, float32', 'shortcut, float64', 'var, float64']
    sc32 = ax.get_lines()[0].get_ydata()
    assert sc32[0] < 1e-5 and max(sc32) > 1     # fine near 0, useless far from it
    assert max(ax.get_lines()[1].get_ydata()) < 1e-6

def test_import_does_not_load_matplotlib():
    code = 'import sys, fdl.stats; print("matplotlib" in sys.modules)'
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, 'PYTHONPATH': str(REPO)})
    assert out.stdout.strip() == 'False', out.stderr

def test_corr_matrix_of_huge_and_tiny_rows_matches_the_pair_form():
    x = torch.tensor([[1e100, -1e100, 0., 3e99], [1., 2., 3., 5.], [1e-100, 3e-100, 2e-100, 0.]], dtype=torch.float64)
    m = corr_matrix(x)                                  # inside float64's range: 1e-154 .. 1e154 / sqrt(n)
    assert m.isfinite().all()
    for i in range(3):
        for j in range(3):
            assert m[i, j].item() == pytest.approx(corr(x[i], x[j]).item(), abs=1e-12)
    torch.testing.assert_close(m, torch.corrcoef(x), atol=1e-12, rtol=0)
    assert not corr_matrix(x * 1e60).isfinite().all()   # outside: products overflow, as the page states


# ---------------------------------------------------------------- wherever torch works: meta, torch.func, double backward

def _pairs():
    "Each numeric function of fdl.stats beside torch's counterpart, as functions of one tensor (paired data derived from it)."
    other = lambda x: x.flip(-1) * 2 + x.sin()
    return [
        ('mean', lambda x: mean(x), lambda x: torch.mean(x)),
        ('mean dim', lambda x: mean(x, -1, True), lambda x: torch.mean(x, -1, True)),
        ('var', lambda x: var(x), lambda x: torch.var(x, correction=0)),
        ('var dim', lambda x: var(x, 0, correction=1), lambda x: torch.var(x, 0, correction=1)),
        ('std', lambda x: std(x), lambda x: torch.std(x, correction=0)),
        ('std dim', lambda x: std(x, -1, True, 0.5), lambda x: torch.std(x, -1, correction=0.5, keepdim=True)),
        ('mad', lambda x: mad(x), lambda x: (x - x.mean()).abs().mean()),
        ('var_shortcut', lambda x: var_shortcut(x), lambda x: torch.var(x, correction=0)),
        ('cov', lambda x: cov(x, other(x)), lambda x: torch.cov(torch.stack([x.flatten(), other(x).flatten()]), correction=0)[0, 1]),
        ('corr', lambda x: corr(x, other(x)), lambda x: torch.corrcoef(torch.stack([x.flatten(), other(x).flatten()]))[0, 1]),
        ('cov matrix', lambda x: cov_matrix(x, correction=1), lambda x: torch.cov(x)),
        ('corr matrix', lambda x: corr_matrix(x), lambda x: torch.corrcoef(x)),
    ]

X = torch.randn(3, 7, generator=torch.Generator().manual_seed(11), dtype=torch.float64) * 2 + 3

@pytest.mark.parametrize('name,ours,theirs', _pairs(), ids=[p[0] for p in _pairs()])
def test_meta_tensors_shape_and_dtype_like_torch(name, ours, theirs):
    for dtype in (torch.float32, torch.float64):
        r, ref = ours(X.to(dtype).to('meta')), theirs(X.to(dtype))   # torch.cov and torch.corrcoef do not run on meta
        assert r.is_meta and r.shape == ref.shape and r.dtype == ref.dtype

@pytest.mark.parametrize('name,ours,theirs', _pairs(), ids=[p[0] for p in _pairs()])
def test_func_grad_vmap_and_double_backward_like_torch(name, ours, theirs):
    tol = dict(rtol=1e-9, atol=1e-10)
    torch.testing.assert_close(ours(X), theirs(X), **tol)
    scalar = lambda f: (lambda x: f(x).sum())
    torch.testing.assert_close(torch.func.grad(scalar(ours))(X), torch.func.grad(scalar(theirs))(X), **tol)
    if 'matrix' not in name:   # per row of X: vmap over the batch dim
        torch.testing.assert_close(torch.func.vmap(ours)(X), torch.func.vmap(theirs)(X), **tol)
    x = X.clone().requires_grad_()
    hv = []
    for f in (ours, theirs):
        g, = torch.autograd.grad(f(x).sum(), x, create_graph=True)
        hv.append(torch.autograd.grad((g * X.cos()).sum(), x)[0] if g.requires_grad else torch.zeros_like(X))  # Hessian-vector product
    torch.testing.assert_close(hv[0], hv[1], **tol)
    torch.testing.assert_close(torch.func.grad(lambda x: torch.func.grad(scalar(ours))(x).square().sum())(X),
                               torch.func.grad(lambda x: torch.func.grad(scalar(theirs))(x).square().sum())(X), **tol)

def test_float32_under_vmap_and_grad_matches_torch():
    x = X.float()
    torch.testing.assert_close(torch.func.vmap(var)(x), torch.var(x, 1, correction=0))
    torch.testing.assert_close(torch.func.grad(std)(x[0]), torch.func.grad(lambda v: torch.std(v, correction=0))(x[0]))
    assert torch.func.grad(std)(x[0]).dtype == torch.float32

def test_std_of_constant_data_has_gradient_zero_like_torch():
    for dtype in (torch.float32, torch.float64):
        c = torch.full((5,), 3.25, dtype=dtype, requires_grad=True)
        g, = torch.autograd.grad(std(c), c)
        tg, = torch.autograd.grad(torch.std(c, correction=0), c)
        assert torch.equal(g, torch.zeros(5, dtype=dtype)) and torch.equal(g, tg)
        assert torch.equal(torch.func.grad(std)(c.detach()), torch.zeros(5, dtype=dtype))
        g2, = torch.autograd.grad(std(torch.stack([c, c * 2]), dim=1).sum(), c)
        assert g2.isfinite().all() and not g2.any()
    assert std(torch.tensor([float('nan'), 1.])).isnan().item()    # nan stays nan

# ---------------------------------------------------------------- copies, deep copies and pickles are independent

@pytest.mark.parametrize('make', [lambda: RunningStats(1).update(torch.randn(20, 3)),
                                  lambda: RunningCov(1).update(torch.randn(20, 3), torch.randn(20, 3))],
                         ids=['RunningStats', 'RunningCov'])
def test_copies_are_independent(make):
    import copy, pickle
    torch.manual_seed(0)
    a = make()
    before = a.state_dict()
    for dup in (copy.copy(a), copy.deepcopy(a), pickle.loads(pickle.dumps(a))):
        assert type(dup) is type(a) and dup.n == a.n
        if isinstance(a, RunningStats): dup.update(torch.randn(7, 3)); dup.merge(RunningStats().update(torch.randn(4, 3)))
        else: dup.update(torch.randn(7, 3), torch.randn(7, 3)); dup.merge(RunningCov().update(torch.randn(4, 3), torch.randn(4, 3)))
        assert dup.n == a.n + 11
        after = a.state_dict()
        assert after['n'] == before['n'] and all(torch.equal(after[k], before[k]) for k in before if isinstance(before[k], torch.Tensor))
    b = make()
    b.merge(a)
    a.update(*([torch.randn(3, 3)] * (1 if isinstance(a, RunningStats) else 2)))
    assert b.n == 40                                            # merging took values, not a reference to a's state

def test_running_cov_keeps_its_own_state():
    rc = RunningCov().update(torch.randn(10, 2), torch.randn(10, 2))
    assert not any(isinstance(v, RunningStats) for v in vars(rc).values())

def test_range_end_values_in_float64_along_dims_and_under_autograd():
    x = torch.tensor([[1e19, 2e19, 3e19, 4e19], [-1e-30, 1e-30, 3e-30, 0.]], dtype=torch.float64)
    np.testing.assert_allclose(std(x, dim=1).numpy(), np.std(f64(x), axis=1), rtol=1e-12)
    assert var(x, dim=1)[0].item() == pytest.approx(1.25e38, rel=1e-12)
    xg = x.clone().requires_grad_()
    g, = torch.autograd.grad(std(xg, dim=1).sum(), xg)
    tg, = torch.autograd.grad(torch.std(xg, dim=1, correction=0).sum(), xg)
    torch.testing.assert_close(g, tg)
    assert mean(torch.full((5, 3), 3e38, dtype=torch.float64), dim=0).isfinite().all()

def test_running_statistics_on_meta_tensors():
    m = torch.empty(10, 3, device='meta')
    rs = RunningStats().update(m).update(m[:4])
    assert rs.n == 14 and rs.var.is_meta and rs.var.shape == (3,)
    assert RunningStats().update(torch.empty(SLAB * 3 + 1, device='meta')).var.is_meta   # in slabs, on meta
    rc = RunningCov().update(m, m)
    assert rc.corr.is_meta and rc.cov.shape == (3,)


# ---------------------------------------------------------------- NIST StRD univariate summary statistics (higher difficulty)

def _numacc(k):
    "NIST StRD NumAcc1-4: (data as exact decimal strings, certified mean, certified standard deviation)."
    if k == 1: return ['10000001', '10000003', '10000002'], 10000002, 1.0
    base = {2: ('1.2', '1.1', '1.3'), 3: ('1000000.2', '1000000.1', '1000000.3'), 4: ('10000000.2', '10000000.1', '10000000.3')}[k]
    return [base[0]] + [base[1], base[2]] * 500, float(base[0]), 0.1

@pytest.mark.parametrize('k', [1, 2, 3, 4])
def test_nist_strd_numacc_at_the_float64_limit(k):
    "Certified values within what float64 input rounding allows: each value is off by up to ulp/2 before fdl sees it."
    data, mu, sd = _numacc(k)
    x = torch.tensor([float(v) for v in data], dtype=torch.float64)
    u = torch.finfo(torch.float64).eps * x.abs().max().item()          # an ulp of the largest value
    assert abs(mean(x).item() - mu) <= u
    assert abs(std(x, correction=1).item() - sd) <= 2 * u              # the inputs' rounding moves sd by up to ~ulp
    exact = np.std(np.array(x.numpy(), dtype=np.longdouble), ddof=1)  # on the rounded inputs, in extended precision
    assert abs(std(x, correction=1).item() - float(exact)) <= 4 * np.finfo(np.float64).eps * sd
    rs = RunningStats(correction=1)
    for c in x.split(77): rs.update(c)
    assert abs(rs.std.item() - sd) <= 2 * u
