"Tests for fdl.softmax: parity with torch's softmax, losses and gradients; stability; bad input; properties."
import itertools, subprocess, sys, zlib
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp
import numpy as np
from fdl.softmax import (logsumexp, log_softmax, softmax, nll, cross_entropy, binary_cross_entropy_with_logits,
                         plot_softmax_temperatures)

inf, nan = float('inf'), float('nan')
torch.manual_seed(4)

def close(a, b, tol):
    torch.testing.assert_close(a, b, rtol=tol, atol=tol, equal_nan=True)

# ---------------------------------------------------------------- softmax, logsumexp, log_softmax

def test_lesson_value():
    close(log_softmax(torch.tensor([10., 11.])), torch.tensor([-1.3133, -0.3133]), 1e-4)

@pytest.mark.parametrize('shape', [(7,), (3, 5), (2, 3, 4), (2, 1, 3, 5)])
@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
def test_parity_any_dim(shape, dtype):
    x = torch.randn(shape, dtype=dtype) * 10
    tol = 1e-6 if dtype == torch.float32 else 1e-12
    for dim in range(-len(shape), len(shape)):
        close(log_softmax(x, dim), F.log_softmax(x, dim), tol)
        close(softmax(x, dim), F.softmax(x, dim), tol)
        for keepdim in (False, True):
            close(logsumexp(x, dim, keepdim), torch.logsumexp(x, dim, keepdim), tol)

@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
def test_half_computes_in_float32(dtype):
    "Computed in float32 and rounded once: within half a step of the float32 result (a half-precision sum is not)."
    x = (torch.randn(64, 50) * 5).to(dtype)
    half_step = torch.finfo(dtype).eps / 2                            # relative
    for d in (0, 1):
        for ours, ref in [(log_softmax(x, d), F.log_softmax(x.float(), d)), (softmax(x, d), F.softmax(x.float(), d)),
                          (logsumexp(x, d), torch.logsumexp(x.float(), d))]:
            assert ours.dtype == dtype
            assert ((ours.float() - ref).abs() <= ref.abs() * half_step + 1e-5).all()
    xr = x.float().requires_grad_()
    g, = torch.autograd.grad(log_softmax(xr.to(dtype))[:, 0].sum(), xr)
    close(g, torch.autograd.grad(F.log_softmax(xr.to(dtype), -1)[:, 0].sum(), xr)[0], 1e-2)

@pytest.mark.parametrize('shape,dim', [((0, 3), 0), ((0, 3), 1), ((2, 0), 1), ((), 0), ((), -1)])
def test_empty_and_zero_dim_inputs_match_torch(shape, dim):
    x = torch.randn(shape)
    close(logsumexp(x, dim), torch.logsumexp(x, dim), 0)             # a sum of nothing is 0: logsumexp is -inf
    close(log_softmax(x, dim), F.log_softmax(x, dim), 0)
    close(softmax(x, dim), F.softmax(x, dim), 0)

@pytest.mark.parametrize('shape', [(1100, 500), (70, 64, 130), (3, 200000)])
def test_large_inputs_match_torch(shape):
    "Half a million elements and more, with masked entries: values and gradients as torch's."
    torch.manual_seed(0)
    x = torch.randn(shape) * 20
    x.view(-1)[:500] = -inf                                         # some masked entries, maybe whole rows
    for dim in range(len(shape)):
        close(logsumexp(x, dim), torch.logsumexp(x, dim), 1e-5)
        close(log_softmax(x, dim), F.log_softmax(x, dim), 1e-5)
        close(softmax(x, dim), F.softmax(x, dim), 1e-6)
    xr, x64 = x.clamp(min=-50).requires_grad_(), x.clamp(min=-50).double().requires_grad_()
    seed = torch.randn(shape)
    # both gradients hold a float32 sum over the row (of the upstream gradient, or of it times the probabilities),
    # whose rounding reaches every entry: a few float32 steps of |seed| + sum(|seed|) along the row bound the error
    bound = 8 * torch.finfo(torch.float32).eps * (seed.abs() + seed.abs().sum(1, keepdim=True)).double()
    for ours, theirs in [(log_softmax, F.log_softmax), (softmax, F.softmax)]:  # along dim 1, sliced along dim 0
        exact = torch.autograd.grad(theirs(x64, 1), x64, seed.double())[0]
        for f in (ours, theirs):
            assert ((torch.autograd.grad(f(xr, 1), xr, seed)[0].double() - exact).abs() <= bound).all(), f
    # torch's logsumexp gradient is exp(x - result), which inherits the rounding of a result near 60 (a step of 4e-6);
    # ours is exp(x - max) / sum, so compare both with the float64 gradient
    exact = torch.softmax(xr.detach().double(), 0)
    close(torch.autograd.grad(logsumexp(xr, 0).sum(), xr)[0].double(), exact, 1e-6)
    close(torch.autograd.grad(torch.logsumexp(xr, 0).sum(), xr)[0].double(), exact, 1e-5)

@pytest.mark.parametrize('scale', [1e4, 1e30, 3e38])
def test_extreme_logits_stable(scale):
    x = torch.tensor([[1., 0.5, -1.], [-1., -0.5, 0.25]]) * scale
    for ours, theirs in [(log_softmax(x), F.log_softmax(x, -1)), (softmax(x), F.softmax(x, -1)),
                         (logsumexp(x), torch.logsumexp(x, -1))]:
        assert torch.equal(ours.isfinite(), theirs.isfinite())
        close(ours, theirs, 1e-6)
    assert softmax(x).isfinite().all() and logsumexp(x).isfinite().all()

def test_shifted_naive_failure_is_fixed():
    for shift in (100., -120., 1e4, -1e4):
        x = torch.tensor([10., 11.]) + shift
        close(log_softmax(x), torch.tensor([-1.3132617, -0.3132617]), 1e-6)

def test_masked_and_infinite_rows_match_torch():
    x = torch.tensor([[0., -inf, 1.], [-inf, -inf, -inf], [inf, 1., 2.], [-inf, 5., -inf], [nan, 0., 1.]])
    sm, lsm, lse = softmax(x), log_softmax(x), logsumexp(x)
    close(sm, F.softmax(x, -1), 1e-6); close(lsm, F.log_softmax(x, -1), 1e-6); close(lse, torch.logsumexp(x, -1), 1e-6)
    assert sm[0, 1] == 0 and sm[0, [0, 2]].isfinite().all() and lsm[0, 1] == -inf
    assert sm[1].isnan().all() and lsm[1].isnan().all() and lse[1] == -inf   # all -inf: nan / nan / -inf, as torch
    assert lse[2] == inf and sm[4].isnan().all()
    assert torch.equal(softmax(x[3:4]), torch.tensor([[0., 1., 0.]]))

def test_gradients_by_autograd():
    x = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    for f in (lambda x: log_softmax(x, 1), lambda x: softmax(x, 0), lambda x: logsumexp(x, 1), lambda x: logsumexp(x, 0, True)):
        assert torch.autograd.gradcheck(f, x)

@pytest.mark.parametrize('f', [softmax, log_softmax, logsumexp])
def test_integer_input_rejected(f):
    with pytest.raises(TypeError, match='x must be a floating-point tensor, got dtype torch.int64'): f(torch.arange(3))
    with pytest.raises(TypeError, match='x must be a torch.Tensor'): f([1., 2.])

@pytest.mark.parametrize('shape', [(7,), (3, 5), (2, 3, 4), (2, 1, 3, 5)])
@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
def test_logsumexp_over_several_dims_matches_torch(shape, dtype):
    x = torch.randn(shape, dtype=dtype) * 10
    x.view(-1)[::5] = -inf                                          # masked entries
    tol = 1e-6 if dtype == torch.float32 else 1e-12
    n = len(shape)
    for k in range(1, n + 1):
        for dims in itertools.combinations(range(-n, n), k):
            if len({d % n for d in dims}) < k: continue             # the same dimension twice: an error, tested below
            for keepdim in (False, True):
                for d in (dims, list(dims), dims[::-1]):
                    ours = logsumexp(x, d, keepdim)
                    assert ours.shape == torch.logsumexp(x, d, keepdim).shape
                    close(ours, torch.logsumexp(x, d, keepdim), tol)

def test_logsumexp_several_dims_edge_cases():
    x = torch.randn(2, 0, 3)
    close(logsumexp(x, (0, 1)), torch.logsumexp(x, (0, 1)), 0)        # an empty sum: -inf
    close(logsumexp(x, (0, 2), True), torch.logsumexp(x, (0, 2), True), 0)
    s = torch.tensor(2.5)
    close(logsumexp(s, (0,)), torch.logsumexp(s, (0,)), 0); close(logsumexp(s, [-1]), torch.logsumexp(s, [-1]), 0)
    x = torch.randn(3, 4, 5)
    for d in (np.int64(1), torch.tensor(1), (np.int64(0), torch.tensor(2))):  # integers of other types, as torch takes
        close(logsumexp(x, d), torch.logsumexp(x, d), 1e-6)

def test_logsumexp_several_dims_large_and_gradient():
    "Over several dims of a large tensor the sum matches torch's; gradients match."
    torch.manual_seed(1)
    x = torch.randn(70, 64, 130) * 20
    for dims in [(0, 2), (1, 2), (0, 1), (0, 1, 2)]:
        close(logsumexp(x, dims), torch.logsumexp(x, dims), 1e-5)
    xr = torch.randn(3, 4, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: logsumexp(x, (0, 2)), xr)
    assert torch.autograd.gradcheck(lambda x: logsumexp(x, (-1, 1), keepdim=True), xr)
    close(torch.autograd.grad(logsumexp(xr, (0, 2)).sum(), xr)[0],
          torch.autograd.grad(torch.logsumexp(xr, (0, 2)).sum(), xr)[0], 1e-12)

X3 = torch.randn(2, 3, 4)

@pytest.mark.parametrize('dim,err,match', [
    ((0, 0), ValueError, r'dim.*twice'),
    ((-1, 2), ValueError, r'dim.*twice'),
    ((0, 3), IndexError, r'dim.*range'),
    (-4, IndexError, r'dim.*range'),
    ((), ValueError, r'dim.*no dimension'),
    ([], ValueError, r'dim.*no dimension'),
    (1.0, TypeError, r'dim.*integer'),
    (True, TypeError, r'dim.*integer'),
    ((0, 1.0), TypeError, r'dim.*integer'),
])
def test_logsumexp_bad_dim(dim, err, match):
    with pytest.raises(err, match=match): logsumexp(X3, dim)
    with pytest.raises((TypeError, ValueError, IndexError, RuntimeError)): torch.logsumexp(X3, dim)  # torch refuses too

def test_logsumexp_keepdim_must_be_a_bool_and_dim_none_means_all():
    for bad in ('no', 1, None):
        with pytest.raises(TypeError, match='keepdim'): logsumexp(X3, 1, keepdim=bad)
    close(logsumexp(X3, None), torch.logsumexp(X3, (0, 1, 2)), 1e-6)   # torch refuses None; fdl reads it as every dim

@pytest.mark.parametrize('f,ref', [(softmax, F.softmax), (log_softmax, F.log_softmax)])
def test_softmax_takes_one_int_dim(f, ref):
    "softmax and log_softmax normalize along one dimension, like torch's: a tuple of dims is a TypeError naming dim."
    name = f.__name__
    for dim in [(0, 1), [0, 1], (1,)]:
        with pytest.raises(TypeError, match=r'dim.*one int'): f(X3, dim)
        with pytest.raises(TypeError, match="argument 'dim'"): ref(X3, dim)
    for dim in (1.0, None, True):
        with pytest.raises(TypeError, match='dim.*integer'): f(X3, dim)
    with pytest.raises(IndexError, match=r'dim.*range'): f(X3, 3)
    with pytest.raises(IndexError): ref(X3, 3)
    for dim in (np.int64(1), torch.tensor(-1)):                      # integers of other types, as torch takes
        close(f(X3, dim), ref(X3, int(dim)), 1e-6)
    close(f(torch.tensor(1.5), -1), ref(torch.tensor(1.5), -1), 0)

@settings(max_examples=40, deadline=None)
@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=3, max_side=5),
                  elements=st.floats(-1e6, 1e6, allow_nan=False)), st.floats(-1e6, 1e6), st.integers(0, 2))
def test_properties(a, shift, dim):
    x = torch.from_numpy(a)
    dim = dim % x.dim()
    close(log_softmax(x + shift, dim), log_softmax(x, dim), 1e-6)           # shift invariance
    close(softmax(x, dim).sum(dim), torch.ones(x.sum(dim).shape, dtype=x.dtype), 1e-12)
    lse, mx = logsumexp(x, dim), x.amax(dim)
    assert (lse >= mx).all() and (lse <= mx + np.log(x.shape[dim]) + 1e-9).all()

# ---------------------------------------------------------------- nll

def test_nll_parity():
    logp = F.log_softmax(torch.randn(6, 4, 3, dtype=torch.float64), 1)
    target = torch.randint(0, 4, (6, 3)); target[0, 0] = target[2, 1] = 2
    w = torch.rand(4, dtype=torch.float64)
    for red, weight, ii in itertools.product(['none', 'mean', 'sum'], [None, w], [-100, 2]):
        kw = dict(weight=weight, ignore_index=ii, reduction=red)
        close(nll(logp, target, **kw), F.nll_loss(logp, target, **kw), 1e-12)
        close(nll(logp[:, :, 0], target[:, 0], **kw), F.nll_loss(logp[:, :, 0], target[:, 0], **kw), 1e-12)
        close(nll(logp[0, :, 0], target[0, 0], **kw), F.nll_loss(logp[0, :, 0], target[0, 0], **kw), 1e-12)

def test_nll_gradient_and_errors():
    logp = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    t = torch.tensor([0, 2, 1, -100, 2])
    assert torch.autograd.gradcheck(lambda l: nll(l, t, torch.tensor([1., 2., .5], dtype=torch.float64)), logp)
    with pytest.raises(TypeError, match='log_probs must be a floating-point'): nll(t, t)
    with pytest.raises(ValueError, match=r'target.*class index 3'): nll(logp, torch.tensor([0, 3, 1, 1, 1]))
    with pytest.raises(ValueError, match=r'target.*shape \(5,\)'): nll(logp, t[:4])
    with pytest.raises(TypeError, match='target.*integer'): nll(logp, t.float())
    with pytest.raises(ValueError, match=r'weight.*shape \(3,\)'): nll(logp, t, torch.ones(2))
    with pytest.raises(ValueError, match='reduction.*one of'): nll(logp, t, reduction='avg')
    with pytest.raises(TypeError, match='ignore_index.*integer'): nll(logp, t, ignore_index=1.5)

# ---------------------------------------------------------------- cross_entropy parity grid

SHAPES = [(5,), (6, 5), (4, 5, 3), (3, 5, 2, 2)]

def make_targets(shape, dtype, kind, ignore_index):
    n_classes = shape[0] if len(shape) == 1 else shape[1]
    if kind == 'probs':
        return F.softmax(torch.randn(shape, dtype=dtype) * 2, 0 if len(shape) == 1 else 1)
    idx_shape = () if len(shape) == 1 else shape[:1] + shape[2:]
    t = torch.randint(0, n_classes, idx_shape)
    if t.dim(): t.view(-1)[0] = ignore_index if ignore_index != 1 else 1   # class 1 is ignored when ignore_index=1
    return t

GRID = [case for case in itertools.product(SHAPES, [torch.float32, torch.float64], ['none', 'mean', 'sum'], [False, True],
                                           [-100, 1], [0., 0.25], ['index', 'probs'])
        if not (case[-1] == 'probs' and case[4] >= 0)]   # ignore_index does not apply to probability targets

@pytest.mark.parametrize('shape,dtype,reduction,weighted,ignore_index,smoothing,kind', GRID)
def test_cross_entropy_parity(shape, dtype, reduction, weighted, ignore_index, smoothing, kind):
    torch.manual_seed(zlib.crc32(repr((shape, dtype, reduction, weighted, ignore_index, smoothing, kind)).encode()))
    g = torch.Generator().manual_seed(torch.initial_seed())
    x = (torch.randn(shape, dtype=dtype, generator=g) * 3).requires_grad_()
    target = make_targets(shape, dtype, kind, ignore_index)
    weight = torch.rand(x.shape[0 if x.dim() == 1 else 1], dtype=dtype, generator=g) + 0.2 if weighted else None
    kw = dict(weight=weight, ignore_index=ignore_index, reduction=reduction, label_smoothing=smoothing)
    ours, theirs = cross_entropy(x, target, **kw), F.cross_entropy(x, target, **kw)
    assert ours.shape == theirs.shape and ours.dtype == theirs.dtype
    close(ours, theirs, 1e-6 if dtype == torch.float32 else 1e-12)
    seed = torch.randn(ours.shape, dtype=dtype, generator=g)           # a non-trivial upstream gradient
    g_ours, = torch.autograd.grad(ours, x, seed)
    g_theirs, = torch.autograd.grad(theirs, x, seed)
    close(g_ours, g_theirs, 1e-5 if dtype == torch.float32 else 1e-12)

def test_cross_entropy_float32_large_batch_parity():
    x = torch.randn(512, 100, requires_grad=True)
    t = torch.randint(0, 100, (512,))
    for kw in [{}, dict(label_smoothing=0.1, weight=torch.rand(100) + 0.1)]:
        close(cross_entropy(x, t, **kw), F.cross_entropy(x, t, **kw), 1e-6)
        close(torch.autograd.grad(cross_entropy(x, t, **kw), x)[0], torch.autograd.grad(F.cross_entropy(x, t, **kw), x)[0], 1e-5)

@pytest.mark.parametrize('reduction', ['none', 'mean', 'sum'])
@pytest.mark.parametrize('shape', [(4, 3), (3, 4, 2), (4,)])
def test_gradcheck(reduction, shape):
    x = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    n_classes = shape[0] if len(shape) == 1 else shape[1]
    idx = torch.randint(0, n_classes, () if len(shape) == 1 else shape[:1] + shape[2:])
    if idx.dim(): idx.view(-1)[1] = -100
    w = torch.rand(n_classes, dtype=torch.float64) + 0.1
    for weight, eps in itertools.product([None, w], [0., 0.3]):
        kw = dict(weight=weight, reduction=reduction, label_smoothing=eps)
        assert torch.autograd.gradcheck(lambda x: cross_entropy(x, idx, **kw), x)
    probs = F.softmax(torch.randn(shape, dtype=torch.float64), 0 if len(shape) == 1 else 1).requires_grad_()
    assert torch.autograd.gradcheck(lambda x, t: cross_entropy(x, t, w, reduction=reduction, label_smoothing=0.2), (x, probs))

def test_target_gradient_matches_torch():
    x = torch.randn(4, 5, dtype=torch.float64, requires_grad=True)
    t = F.softmax(torch.randn(4, 5, dtype=torch.float64), 1).requires_grad_()
    w = (torch.rand(5, dtype=torch.float64) + 0.1).requires_grad_()
    ours = torch.autograd.grad(cross_entropy(x, t, w, label_smoothing=0.1), (x, t, w))
    theirs = torch.autograd.grad(F.cross_entropy(x, t, w, label_smoothing=0.1), (x, t, w))
    for a, b in zip(ours, theirs): close(a, b, 1e-12)

def test_ignored_items_get_no_gradient_and_all_ignored_is_nan():
    x = torch.randn(3, 4, requires_grad=True)
    t = torch.tensor([1, -100, 2])
    g, = torch.autograd.grad(cross_entropy(x, t, label_smoothing=0.2), x)
    assert torch.equal(g[1], torch.zeros(4))
    none = torch.full((3,), -100)
    for red in ('mean', 'sum', 'none'):
        for eps in (0., 0.1):
            close(cross_entropy(x, none, reduction=red, label_smoothing=eps), F.cross_entropy(x, none, reduction=red, label_smoothing=eps), 0)
    assert cross_entropy(x, none).isnan()

def test_empty_batch_matches_torch():
    x = torch.randn(0, 4)
    for t in (torch.zeros(0, dtype=torch.long), torch.zeros(0, 4)):
        for red in ('mean', 'sum', 'none'):
            close(cross_entropy(x, t, reduction=red), F.cross_entropy(x, t, reduction=red), 0)

def test_retain_graph_second_backward_and_double_backward():
    x = torch.randn(5, 4, requires_grad=True)
    t = torch.tensor([0, 3, 1, 2, 2])
    loss = cross_entropy(x, t, label_smoothing=0.1)
    first, = torch.autograd.grad(loss, x, retain_graph=True)
    second, = torch.autograd.grad(loss, x)
    close(first, second, 0)
    close(first, torch.autograd.grad(F.cross_entropy(x, t, label_smoothing=0.1), x)[0], 1e-6)
    x64 = x.detach().double().requires_grad_()
    w = torch.rand(4, dtype=torch.float64) + 0.1
    for kw in ({}, dict(weight=w, label_smoothing=0.2), dict(reduction='sum', ignore_index=3)):
        g, = torch.autograd.grad(cross_entropy(x64, t, **kw), x64, create_graph=True)
        g_torch, = torch.autograd.grad(F.cross_entropy(x64, t, **kw), x64, create_graph=True)
        close(g, g_torch, 1e-12)
        v = torch.randn_like(x64)
        close(torch.autograd.grad((g * v).sum(), x64)[0], torch.autograd.grad((g_torch * v).sum(), x64)[0], 1e-12)

def test_integer_target_dtypes():
    x = torch.randn(4, 3)
    t = torch.tensor([0, 2, 1, 1])
    for dtype in (torch.int32, torch.int16, torch.uint8):
        close(cross_entropy(x, t.to(dtype)), F.cross_entropy(x, t), 1e-6)

# ---------------------------------------------------------------- stability, masks, nan, half

@pytest.mark.parametrize('scale', [1e4, 1e8, 1e30])
def test_extreme_logits_finite_where_torch_is(scale):
    x = (torch.tensor([[1., -1., 0.5], [-0.5, 0.25, 1.]]) * scale).requires_grad_()
    t = torch.tensor([0, 1])
    for eps in (0., 0.1):
        ours, theirs = cross_entropy(x, t, label_smoothing=eps), F.cross_entropy(x, t, label_smoothing=eps)
        assert ours.isfinite() and theirs.isfinite()
        close(ours, theirs, 1e-6)
        g, = torch.autograd.grad(ours, x)
        assert g.isfinite().all()
        close(g, torch.autograd.grad(theirs, x)[0], 1e-6)

@pytest.mark.parametrize('offset', [1e4, -1e4, 3e5])
def test_small_losses_on_large_logits_keep_their_digits(offset):
    "A loss of 0.3 on logits near 1e4 must not inherit the rounding of 1e4 (a float32 step of 1e-3)."
    x = (torch.tensor([[0., -1., -2.5, -4.], [-0.5, 0., -3., -1.]]) + offset).requires_grad_()
    t = torch.tensor([0, 1])
    w = torch.tensor([1., 2., 0.5, 1.5])
    exact = lambda **kw: F.cross_entropy(x.detach().double() - offset, t, **{k: v.double() if torch.is_tensor(v) else v for k, v in kw.items()})
    for kw in ({}, dict(label_smoothing=0.2), dict(weight=w, label_smoothing=0.2, reduction='none')):
        close(cross_entropy(x, t, **kw).double(), exact(**kw), 1e-6)
        close(cross_entropy(x, t, **kw), F.cross_entropy(x, t, **kw), 1e-6)

def test_masked_classes():
    x = torch.tensor([[2., -inf, 0.5, 1.], [-inf, 3., -inf, 0.]], requires_grad=True)
    t = torch.tensor([0, 3])
    ours, theirs = cross_entropy(x, t, reduction='none'), F.cross_entropy(x, t, reduction='none')
    assert ours.isfinite().all()
    close(ours, theirs, 1e-6)
    g, = torch.autograd.grad(ours.sum(), x)
    assert g.isfinite().all() and (g[x.detach() == -inf] == 0).all()
    close(g, torch.autograd.grad(theirs.sum(), x)[0], 1e-6)
    assert cross_entropy(x, torch.tensor([1, 3])).isinf()       # the target class is masked: infinite loss, as torch
    assert F.cross_entropy(x, torch.tensor([1, 3])).isinf()

def test_probability_targets_zero_times_log_zero_is_zero():
    x = torch.tensor([[2., -inf, 0.5], [1., 0., -inf]], requires_grad=True)
    t = torch.tensor([[0.6, 0., 0.4], [0.5, 0.5, 0.]])
    ours = cross_entropy(x, t, reduction='none')
    assert F.cross_entropy(x, t, reduction='none').isnan().all()     # torch: 0 * -inf = nan
    expected = torch.stack([F.cross_entropy(x[0, [0, 2]], t[0, [0, 2]]), F.cross_entropy(x[1, :2], t[1, :2])])
    close(ours, expected, 1e-6)                                      # same as dropping the masked class
    g, = torch.autograd.grad(ours.sum(), x)
    assert g.isfinite().all()

def test_nan_logits_propagate():
    x = torch.tensor([[0., nan, 1.], [0., 1., 2.]])
    assert cross_entropy(x, torch.tensor([0, 1]), reduction='none')[0].isnan()
    assert cross_entropy(x, torch.tensor([0, 1])).isnan()
    assert cross_entropy(x, torch.tensor([[1., 0., 0.], [0., 1., 0.]])).isnan()
    assert binary_cross_entropy_with_logits(x, torch.ones(2, 3)).isnan()

@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
def test_half_precision_computes_in_float32(dtype):
    x = (torch.randn(32, 10) * 3).to(dtype)
    t = torch.randint(0, 10, (32,))
    p = F.softmax(torch.randn(32, 10), 1).to(dtype)
    for target in (t, p):
        for kw in ({}, dict(label_smoothing=0.1, reduction='none')):
            ours = cross_entropy(x, target, **kw)
            assert ours.dtype == dtype
            close(ours, F.cross_entropy(x.float(), target.float() if target.is_floating_point() else target, **kw).to(dtype), 0)
            close(ours.float(), F.cross_entropy(x, target, **kw).float(), 5e-2)
    xr = x.float().requires_grad_()
    g, = torch.autograd.grad(cross_entropy(xr.to(dtype), t), xr)
    close(g, torch.autograd.grad(F.cross_entropy(xr.to(dtype), t), xr)[0], 1e-3)

# ---------------------------------------------------------------- bad input

X, Y = torch.randn(4, 3), torch.tensor([0, 2, 1, 1])

@pytest.mark.parametrize('call,err,match', [
    (lambda: cross_entropy(X, torch.tensor([0, 3, 1, 1])), ValueError, r'target.*class index 3.*\[0, 2\]'),
    (lambda: cross_entropy(X, torch.tensor([0, -1, 1, 1])), ValueError, r'target.*class index -1'),
    (lambda: cross_entropy(X, torch.tensor([0, 5, 1, 1]), ignore_index=5), None, None),
    (lambda: cross_entropy(X, Y[:3]), ValueError, r'target.*shape \(4,\).*got shape \(3,\)'),
    (lambda: cross_entropy(X, torch.rand(4, 2)), ValueError, r'target.*shape \(4, 3\).*got shape \(4, 2\)'),
    (lambda: cross_entropy(X, Y.float()), ValueError, r'target.*shape \(4, 3\)'),
    (lambda: cross_entropy(X, torch.tensor([True, False, True, True])), TypeError, 'target.*integer'),
    (lambda: nll(X, torch.tensor([True, False, True, True])), TypeError, 'target.*integer'),
    (lambda: cross_entropy(X, [0, 1, 2, 1]), TypeError, 'target.*Tensor'),
    (lambda: cross_entropy(X, torch.full((4, 3), 0.5)), ValueError, 'target.*summing to 1.*off by 0.5'),
    (lambda: cross_entropy(X, torch.tensor([[1.5, -0.5, 0.]] * 4)), ValueError, 'target.*negative'),
    (lambda: cross_entropy(X, F.softmax(X, 1), ignore_index=0), ValueError, 'ignore_index'),
    (lambda: cross_entropy(X, Y, ignore_index='none'), TypeError, 'ignore_index'),
    (lambda: cross_entropy(X, Y, weight=torch.ones(4)), ValueError, r'weight.*shape \(3,\)'),
    (lambda: cross_entropy(X, Y, weight=torch.ones(3, dtype=torch.long)), TypeError, 'weight.*floating'),
    (lambda: cross_entropy(X, Y, weight=[1., 1., 1.]), TypeError, 'weight.*Tensor'),
    (lambda: cross_entropy(X, Y, reduction='average'), ValueError, r"reduction.*'average'"),
    (lambda: cross_entropy(X, Y, label_smoothing=1.5), ValueError, r'label_smoothing.*\[0, 1\]'),
    (lambda: cross_entropy(X, Y, label_smoothing=-0.1), ValueError, 'label_smoothing'),
    (lambda: cross_entropy(X, Y, label_smoothing=nan), ValueError, 'label_smoothing.*nan'),
    (lambda: cross_entropy(X, Y, label_smoothing=True), TypeError, 'label_smoothing'),
    (lambda: cross_entropy(Y, Y), TypeError, 'logits.*floating'),
    (lambda: cross_entropy(torch.tensor(1.), torch.tensor(0)), ValueError, 'logits.*dimension'),
    (lambda: nll(torch.tensor(1.), torch.tensor(0)), ValueError, r'log_probs.*dimension'),
    (lambda: cross_entropy(X, F.softmax(X, 1).index_put((torch.tensor(0), torch.tensor(1)), torch.tensor(float('nan')))),
     ValueError, 'target.*nan'),
    (lambda: binary_cross_entropy_with_logits(X, torch.ones(4)), ValueError, r'target.*shape \(4, 3\)'),
    (lambda: binary_cross_entropy_with_logits(X, Y.float()[:, None].expand(4, 3).long()), TypeError, 'target.*floating'),
    (lambda: binary_cross_entropy_with_logits(X, torch.ones(4, 3), pos_weight=torch.ones(4)), ValueError, r'pos_weight.*broadcast'),
    (lambda: binary_cross_entropy_with_logits(X, torch.ones(4, 3), weight=torch.ones(2, 4, 3)), ValueError, r'weight.*broadcast'),
    (lambda: binary_cross_entropy_with_logits(X, torch.ones(4, 3), reduction='max'), ValueError, 'reduction'),
])
def test_bad_input(call, err, match):
    if err is None: call(); return                    # ignore_index may lie outside the class range
    with pytest.raises(err, match=match): call()

def test_bad_input_is_caught_before_any_computation(monkeypatch):
    import fdl.softmax as sm
    def computed(*args, **kwargs): raise AssertionError('the loss was computed')
    monkeypatch.setattr(torch, 'log_softmax', computed)
    monkeypatch.setattr(F, 'nll_loss', computed)
    with pytest.raises(ValueError, match='class index 9'): sm.cross_entropy(X, torch.tensor([0, 9, 1, 1]))
    with pytest.raises(ValueError, match='weight'): sm.cross_entropy(X, Y, weight=torch.ones(2))
    with pytest.raises(ValueError, match='summing to 1'): sm.cross_entropy(X, torch.ones(4, 3))
    with pytest.raises(AssertionError, match='computed'): sm.cross_entropy(X, Y)    # good input does reach it

def peak_bytes(run):
    "Peak bytes held by torch's CPU allocator during `run()` (allocations minus frees, in time order)."
    from torch.profiler import profile, ProfilerActivity
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof: run()
    events = sorted((e for e in prof.profiler.kineto_results.events() if e.name() == '[memory]'), key=lambda e: e.start_ns())
    live = peak = 0
    for e in events: live += e.nbytes(); peak = max(peak, live)
    return peak

def test_cross_entropy_uses_no_more_memory_than_torchs_budget():
    x, t = torch.randn(256, 1000, requires_grad=True), torch.randint(0, 1000, (256,))
    def fwd_bwd(f):
        def run(): x.grad = None; f(x, t).backward()
        run()
        return peak_bytes(run)
    full = x.numel() * x.element_size()
    # the same kernels as torch's: at most three full-size buffers live at once (log-probabilities, the
    # gradient of nll, the gradient of the logits); the order the profiler sees frees in varies by a buffer
    for f in (cross_entropy, F.cross_entropy): assert fwd_bwd(f) <= 3 * full + full // 100, f

@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16, torch.float32, torch.float64])
@pytest.mark.parametrize('n_classes', [2, 50, 1000, 32000])
def test_probability_rows_tolerance_scales_with_dtype(dtype, n_classes):
    x = torch.randn(8, n_classes)
    for scale in (0.01, 1., 5.):
        p = F.softmax(torch.randn(8, n_classes) * scale, 1)
        cross_entropy(x, p.to(dtype))                                 # rounding the probabilities is not an error
    p = p.clone(); p[:, 0] += 0.05                                    # a row that sums to 1.05 is
    with pytest.raises(ValueError, match='target.*summing to 1'): cross_entropy(x, p.to(dtype))

# ---------------------------------------------------------------- binary cross-entropy

@pytest.mark.parametrize('shape', [(5,), (4, 3), (2, 3, 4)])
@pytest.mark.parametrize('reduction', ['none', 'mean', 'sum'])
def test_bce_parity(shape, reduction):
    x = (torch.randn(shape) * 4).requires_grad_()
    t = torch.rand(shape)
    w, pw = torch.rand(shape[-1]) + 0.1, torch.rand(shape[-1]) * 3
    for kw in ({}, dict(weight=w), dict(pos_weight=pw), dict(weight=w, pos_weight=pw)):
        ours = binary_cross_entropy_with_logits(x, t, reduction=reduction, **kw)
        theirs = F.binary_cross_entropy_with_logits(x, t, reduction=reduction, **kw)
        close(ours, theirs, 1e-6)
        seed = torch.randn(ours.shape)
        close(torch.autograd.grad(ours, x, seed)[0], torch.autograd.grad(theirs, x, seed)[0], 1e-5)

def test_bce_extreme_logits_and_zero():
    x = torch.tensor([1e4, -1e4, 200., -200., 1e30, -1e30, 0.], dtype=torch.float64, requires_grad=True)
    t = torch.tensor([0., 1., 1., 0., 0.5, 0.5, 1.], dtype=torch.float64)
    ours = binary_cross_entropy_with_logits(x, t, reduction='none')
    assert ours.isfinite().all()
    close(ours, F.binary_cross_entropy_with_logits(x, t, reduction='none'), 1e-12)
    assert torch.autograd.gradcheck(lambda x: binary_cross_entropy_with_logits(x, t[:4]), x[:4].detach().clone().requires_grad_())
    g, = torch.autograd.grad(ours.sum(), x)
    close(g, torch.sigmoid(x.detach()) - t, 1e-12)                  # right at x = 0 too

@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
def test_bce_half(dtype):
    x, t = (torch.randn(8, 3) * 3).to(dtype), torch.rand(8, 3).to(dtype)
    ours = binary_cross_entropy_with_logits(x, t)
    assert ours.dtype == dtype
    close(ours.float(), F.binary_cross_entropy_with_logits(x.float(), t.float()), 1e-2)

# ---------------------------------------------------------------- plot and import weight

def test_plot_softmax_temperatures_refuses_t_at_or_below_zero():
    "T = 0 divides by zero (nan bars); T < 0 reverses the ranking: both are refused, naming temperatures."
    logits = torch.tensor([1., 2., 0.5])
    for bad in [(1., 0.), (-1.,), (0.5, -0.25), (float('nan'),), (float('inf'),)]:
        with pytest.raises(ValueError, match='temperatures'): plot_softmax_temperatures(logits, bad)
    with pytest.raises(TypeError, match='temperatures'): plot_softmax_temperatures(logits, ('1',))
    with pytest.raises(TypeError, match='logits'): plot_softmax_temperatures([1., 2.])

def test_plot_softmax_temperatures():
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    logits = torch.tensor([1., 2., 0.5])
    ax = plot_softmax_temperatures(logits, temperatures=(0.5, 2.))
    heights = [p.get_height() for p in ax.patches]
    assert len(heights) == 6 and [t.get_text() for t in ax.get_legend().get_texts()] == ['T = 0.5', 'T = 2']
    close(torch.tensor(heights[:3], dtype=torch.float32), softmax(logits / 0.5), 1e-6)
    plt.close('all')

def test_logsumexp_is_built_from_primitives(monkeypatch):
    "fdl's logsumexp is the lesson's max-shift, not a call to torch's (the losses call torch's fused kernels)."
    def oracle(*args, **kwargs): raise AssertionError('a torch reference function was called')
    for owner in (torch, torch.Tensor):
        for name in ['logsumexp', 'softmax', 'log_softmax', 'logaddexp']: monkeypatch.setattr(owner, name, oracle)
    x = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    torch.autograd.grad(logsumexp(x).sum() + logsumexp(x, (0, 1)), x)

def test_each_name_is_defined_once():
    "The module binds each function, class and constant once: what a learner reads is what runs."
    import ast, fdl.softmax as sm
    names = []
    for n in ast.parse(open(sm.__file__).read()).body:
        if isinstance(n, (ast.FunctionDef, ast.ClassDef)): names.append(n.name)
        elif isinstance(n, ast.Assign): names += [t.id for t in n.targets if isinstance(t, ast.Name)]
    assert 'logsumexp' in names and len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)

def test_import_is_light():
    code = 'import sys, fdl.softmax; print("matplotlib" in sys.modules)'
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == 'False'

def test_negative_ignore_index_with_probability_targets_changes_nothing_as_in_torch():
    x, t = torch.randn(4, 3), F.softmax(torch.randn(4, 3), 1)
    assert torch.allclose(cross_entropy(x, t, ignore_index=-1), cross_entropy(x, t))
    assert torch.allclose(cross_entropy(x, t, ignore_index=-1), F.cross_entropy(x, t, ignore_index=-1))
    with pytest.raises(RuntimeError, match='ignore_index is not supported for floating point target'):
        F.cross_entropy(x, t, ignore_index=0)

# ---------------------------------------------------------------- no data-dependent branches: meta, torch.func, double backward

_T = torch.tensor([0, 2, -100, 4])
_P = F.softmax(torch.randn(4, 5, dtype=torch.float64), 1)
_W = torch.rand(5, dtype=torch.float64) + 0.1
_B = torch.rand(4, 5, dtype=torch.float64)
def on(x, t): return t.to(x.device, x.dtype if t.is_floating_point() else t.dtype)  # a constant on x's device

NUMERIC = {   # name: (fdl, torch), each a function of logits of shape (4, 5)
    'logsumexp': (lambda x: logsumexp(x, 1), lambda x: torch.logsumexp(x, 1)),
    'logsumexp_dims_keepdim': (lambda x: logsumexp(x, (0, 1), True), lambda x: torch.logsumexp(x, (0, 1), True)),
    'log_softmax': (lambda x: log_softmax(x, 1), lambda x: F.log_softmax(x, 1)),
    'softmax': (lambda x: softmax(x, 0), lambda x: F.softmax(x, 0)),
    'nll': (lambda x: nll(x, on(x, _T), on(x, _W)), lambda x: F.nll_loss(x, on(x, _T), on(x, _W))),
    'cross_entropy': (lambda x: cross_entropy(x, on(x, _T)), lambda x: F.cross_entropy(x, on(x, _T))),
    'cross_entropy_weighted_smoothed': (lambda x: cross_entropy(x, on(x, _T), on(x, _W), label_smoothing=0.2, reduction='none'),
                                        lambda x: F.cross_entropy(x, on(x, _T), on(x, _W), label_smoothing=0.2, reduction='none')),
    'cross_entropy_probs': (lambda x: cross_entropy(x, on(x, _P), label_smoothing=0.1),
                            lambda x: F.cross_entropy(x, on(x, _P), label_smoothing=0.1)),
    'bce': (lambda x: binary_cross_entropy_with_logits(x, on(x, _B), pos_weight=on(x, _W)),
            lambda x: F.binary_cross_entropy_with_logits(x, on(x, _B), pos_weight=on(x, _W))),
}

@pytest.mark.parametrize('name', NUMERIC)
@pytest.mark.parametrize('dtype', [torch.float32, torch.float16])
def test_meta_tensors_give_torchs_shape_and_dtype(name, dtype):
    ours, theirs = NUMERIC[name]
    x = torch.empty(4, 5, dtype=dtype, device='meta')
    out, ref = ours(x), theirs(x)
    assert out.is_meta and out.shape == ref.shape and out.dtype == ref.dtype

def test_meta_targets_skip_value_checks():
    x = torch.empty(4, 5, device='meta')
    assert cross_entropy(x, torch.empty(4, dtype=torch.long, device='meta'), reduction='none').shape == (4,)
    assert cross_entropy(x, torch.empty(4, 5, device='meta')).shape == ()
    assert nll(x, torch.full((4,), 7, device='meta')).is_meta           # values unknown: not checked

@pytest.mark.parametrize('name', NUMERIC)
def test_torch_func_grad_matches_torch(name):
    ours, theirs = NUMERIC[name]
    x = torch.randn(4, 5, dtype=torch.float64) * 3
    g = torch.func.grad(lambda x: ours(x).sum())(x)
    close(g, torch.func.grad(lambda x: theirs(x).sum())(x), 1e-12)

@pytest.mark.parametrize('name', NUMERIC)
def test_torch_func_vmap_matches_torch(name):
    ours, theirs = NUMERIC[name]
    xs = torch.randn(3, 4, 5, dtype=torch.float64) * 3
    close(torch.func.vmap(ours)(xs), torch.func.vmap(theirs)(xs), 1e-12)
    close(torch.func.vmap(torch.func.grad(lambda x: ours(x).sum()))(xs),
          torch.func.vmap(torch.func.grad(lambda x: theirs(x).sum()))(xs), 1e-12)

def test_vmap_over_targets():
    x, ts = torch.randn(4, 5, dtype=torch.float64), torch.randint(0, 5, (3, 4))
    close(torch.func.vmap(lambda t: cross_entropy(x, t, label_smoothing=0.1))(ts),       # torch's fails under vmap here
          torch.stack([F.cross_entropy(x, t, label_smoothing=0.1) for t in ts]), 1e-12)
    ps = F.softmax(torch.randn(3, 4, 5, dtype=torch.float64), -1)
    close(torch.func.vmap(lambda p: cross_entropy(x, p))(ps), torch.func.vmap(lambda p: F.cross_entropy(x, p))(ps), 1e-12)

@pytest.mark.parametrize('name', NUMERIC)
def test_double_backward_matches_torch(name):
    ours, theirs = NUMERIC[name]
    x = (torch.randn(4, 5, dtype=torch.float64) * 3).requires_grad_()
    v = torch.randn(4, 5, dtype=torch.float64)
    def hvp(f):
        g, = torch.autograd.grad(f(x).sum(), x, create_graph=True)
        if not g.requires_grad: return g, torch.zeros_like(x)           # linear in x (nll): no second derivative
        return g, torch.autograd.grad((g * v).sum(), x, materialize_grads=True)[0]
    (g, h), (g_ref, h_ref) = hvp(ours), hvp(theirs)
    close(g, g_ref, 1e-12); close(h, h_ref, 1e-10)

def test_bce_infinite_logits_as_torch():
    x = torch.tensor([inf, inf, -inf, -inf, inf, -inf, inf])
    t = torch.tensor([0., 1., 0., 1., 0.5, 0.5, 0.])
    for kw in ({}, dict(pos_weight=torch.tensor(2.)), dict(weight=torch.tensor(3.))):
        ours = binary_cross_entropy_with_logits(x, t, reduction='none', **kw)
        close(ours, F.binary_cross_entropy_with_logits(x, t, reduction='none', **kw), 0)
        assert ours[0] == inf                                          # logit +inf, target 0: inf, not nan

def test_weight_requiring_grad_as_torch():
    """Class-index targets: torch's nll_loss refuses a weight that requires grad, and so does fdl (the same call);
    probability targets: the weights' gradient comes from autograd, as in torch."""
    x, w = torch.randn(6, 4, dtype=torch.float64), (torch.rand(4, dtype=torch.float64) + 0.1).requires_grad_()
    t = torch.tensor([0, 1, 2, 3, -100, 1])
    for f in (cross_entropy, F.cross_entropy):
        with pytest.raises(RuntimeError, match='weight'): f(x, t, w)
    p = F.softmax(torch.randn(6, 4, dtype=torch.float64), 1)
    assert torch.autograd.gradcheck(lambda w: cross_entropy(x, p, w, label_smoothing=0.1), w)
    close(torch.autograd.grad(cross_entropy(x, p, w), w)[0], torch.autograd.grad(F.cross_entropy(x, p, w), w)[0], 1e-12)

def test_bce_gradient_at_infinite_logits_as_torch():
    "At logits of +-inf the gradient is torch's sigmoid(x) - t (times the weights), never nan."
    x = torch.tensor([inf, inf, -inf, -inf, inf, -inf, 0.], requires_grad=True)
    t = torch.tensor([0., 1., 0., 1., 0.5, 0.5, 1.])
    for kw in ({}, dict(pos_weight=torch.tensor(2.)), dict(weight=torch.tensor(3.))):
        g, = torch.autograd.grad(binary_cross_entropy_with_logits(x, t, reduction='sum', **kw), x)
        g_torch, = torch.autograd.grad(F.binary_cross_entropy_with_logits(x, t, reduction='sum', **kw), x)
        assert g.isfinite().all()
        close(g, g_torch, 0)

@pytest.mark.parametrize('name', NUMERIC)
def test_torch_func_jacrev_and_jvp_match_torch(name):
    "Reverse-mode Jacobians and forward-mode products, as torch's functions give them."
    ours, theirs = NUMERIC[name]
    x, v = torch.randn(4, 5, dtype=torch.float64) * 3, torch.randn(4, 5, dtype=torch.float64)
    close(torch.func.jacrev(ours)(x), torch.func.jacrev(theirs)(x), 1e-12)
    close(torch.func.jvp(ours, (x,), (v,))[1], torch.func.jvp(theirs, (x,), (v,))[1], 1e-10)
