"fdl.activations: the 50-layer figures, hooks that never outlive their block or fit, bounded memory, LSUV, BatchNorm against torch, the digits accuracy, bad input."
import math
from functools import partial

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader

from fdl.activations import (ActivationStats, BatchNorm, GeneralRelu, Hook, Hooks, HooksCallback, deep_mlp,
                             init_kaiming_, layer_stds, lsuv_init, plot_stats)
from fdl.callbacks import Callback
from fdl.dunder import Dataset
from fdl.learner import DataLoaders, Learner, MetricsCB, digits_dls


pytestmark = pytest.mark.usefixtures('one_thread')  # the fixture and `dls` are in conftest.py


def no_hooks(model): return not any(m._forward_hooks for m in model.modules())


# the 50-layer figures

def test_randn_weights_explode_to_nan():
    s = layer_stds(1.)
    assert 9 < s[0] < 11 and 1e9 < s[9] < 1e11  # tenfold per layer for n = 100
    first = next(i for i, v in enumerate(s) if not math.isfinite(v))
    assert first < 40 and math.isnan(s[-1])


def test_small_weights_vanish_to_zero():
    s = layer_stds(0.01)
    assert 0.09 < s[0] < 0.11 and s[-1] == 0


def test_one_over_root_n_keeps_linear_layers_near_one():
    s = layer_stds(1 / math.sqrt(100))
    assert all(0.5 < v < 2 for v in s)


def test_kaiming_keeps_relu_layers_in_range_where_one_over_root_n_vanishes():
    plain, kaiming = layer_stds(1 / math.sqrt(100), relu=True), layer_stds(math.sqrt(2 / 100), relu=True)
    assert plain[-1] < 1e-7 and all(0.1 < v < 1.5 for v in kaiming)
    assert 0.7 < kaiming[9] < 0.9  # about the std of a ReLU of N(0, 2), 0.83


def test_variance_of_a_sum_of_products():
    torch.manual_seed(0)
    x, w = torch.randn(2000, 100), torch.randn(100, 300) * 0.3
    assert (x @ w).var().item() == pytest.approx(100 * 0.09, rel=0.05)


# hooks

def test_hook_records_and_is_removed_after_the_block():
    lin = nn.Linear(3, 2)
    seen = []
    with Hook(lin, lambda h, m, i, o: seen.append((h, m, o.shape))) as h:
        lin(torch.randn(4, 3))
    lin(torch.randn(4, 3))
    assert seen == [(h, lin, (4, 2))] and lin._forward_hooks == {}


def test_hook_is_removed_when_the_block_raises():
    lin = nn.Linear(3, 2)
    with pytest.raises(RuntimeError, match='boom'):
        with Hook(lin, lambda *a: None): raise RuntimeError('boom')
    assert lin._forward_hooks == {}


def test_hooks_on_a_model_hook_its_leaves_and_remove_them_all_after_a_raise():
    model = deep_mlp()
    with pytest.raises(ValueError):
        with Hooks(model, lambda *a: None) as hooks:
            assert len(hooks) == 17 and not no_hooks(model)
            raise ValueError
    assert no_hooks(model)


def test_hooks_on_an_iterable_of_modules():
    model = deep_mlp()
    relus = [m for m in model if isinstance(m, nn.ReLU)]
    with Hooks(iter(relus), lambda h, m, i, o: setattr(h, 'n', o.shape[1])) as hooks: model(torch.randn(2, 64))
    assert [h.n for h in hooks] == [50] * 8 and no_hooks(model)


def test_hooks_callback_removes_its_hooks_after_a_fit_that_raised(dls):
    class Boom(Callback):
        def after_batch(self, learn):
            if learn.iter == 2: raise RuntimeError('boom')
    model, cb = deep_mlp(), HooksCallback(lambda *a: None, nn.ReLU)
    with pytest.raises(RuntimeError, match='boom'): Learner(model, dls, cbs=[cb, Boom()]).fit(1)
    assert len(cb.hooks) == 8 and no_hooks(model)


def test_activation_stats_are_removed_after_a_fit_that_raised(dls):
    class Boom(Callback):
        def after_predict(self, learn): raise RuntimeError('boom')
    model, st = deep_mlp(), ActivationStats()
    with pytest.raises(RuntimeError, match='boom'): Learner(model, dls, cbs=[st, Boom()]).fit(1)
    assert no_hooks(model)


def test_hooks_callback_cleanup_without_a_fit_is_harmless():
    HooksCallback(lambda *a: None).cleanup_fit(None)


# activation statistics

def few_batches(dls, n, bs=7):
    x, y = dls.train.dataset.x[:n * bs], dls.train.dataset.y[:n * bs]
    return DataLoaders(DataLoader(Dataset(x, y), bs), DataLoader(Dataset(x[:bs], y[:bs]), bs))


def heap_bytes():
    "Bytes of heap in use, from glibc's mallinfo2 (gc first); None where there is no such function."
    import ctypes, gc
    try: libc = ctypes.CDLL('libc.so.6'); f = libc.mallinfo2
    except (OSError, AttributeError): return None
    class Info(ctypes.Structure): _fields_ = [(k, ctypes.c_size_t) for k in 'arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost'.split()]
    f.restype = Info; gc.collect(); i = f(); return i.uordblks + i.hblkhd


def held_tensors(st):
    "The tensors an ActivationStats holds on its hooks: attributes, and the items of list attributes."
    out = []
    for h in st.hooks:
        for v in vars(h).values(): out += [v] if isinstance(v, torch.Tensor) else [t for t in v if isinstance(t, torch.Tensor)] if isinstance(v, list) else []
    return out


def fit_recorded(dls, n, *types, norm=None):
    "A fit of `n` training batches with ActivationStats(*types): the callback, and the heap's growth during the fit (None without mallinfo2)."
    model, d = deep_mlp(norm=norm), few_batches(dls, n)
    Learner(model, d).fit(1, valid=False)  # the allocator's caches first
    st = ActivationStats(*types); learn = Learner(model, d, cbs=st)
    h0 = heap_bytes(); learn.fit(1, valid=False); h1 = heap_bytes()
    return st, None if h0 is None else h1 - h0


@pytest.mark.parametrize('types, layers', [((nn.ReLU,), 8), ((), 17)])
def test_activation_stats_memory_is_bounded(dls, types, layers):
    "200 training batches against 10: one tensor per hook either way, and well under 1 MB more in them."
    (small, heap_small), (large, heap_large) = fit_recorded(dls, 10, *types), fit_recorded(dls, 200, *types)
    assert small.stats().shape == (layers, 10, 42) and large.stats().shape == (layers, 200, 42)
    ts, tl = held_tensors(small), held_tensors(large)
    assert len(ts) == len(tl) == layers  # one block per hook, however many batches
    grown = sum(t.untyped_storage().nbytes() for t in tl) - sum(t.untyped_storage().nbytes() for t in ts)
    assert grown < 0.7e6  # the blocks: 256 rows against 64, of 168 bytes, per layer


@pytest.mark.skipif(heap_bytes() is None, reason='glibc mallinfo2 is not available to measure the heap')
@pytest.mark.parametrize('types, norm', [((nn.ReLU,), None), ((), None), ((), BatchNorm)])
def test_activation_stats_heap_growth_is_bounded(dls, types, norm):
    "The process's heap, not only the tensors: it grows by well under 1 MB more over 200 training batches than over 10."
    (_, small), (_, large) = fit_recorded(dls, 10, *types, norm=norm), fit_recorded(dls, 200, *types, norm=norm)
    assert large - small < 1e6, (large - small)


def test_activation_stats_rows_match_the_outputs(dls):
    torch.manual_seed(0)
    model, st = deep_mlp(), ActivationStats(nn.ReLU, nn.Linear)
    b = few_batches(dls, 1, bs=32)
    outs = {}
    def keep(h, m, i, o): outs.setdefault(m, o.detach())  # returns None: a hook returning a value would replace the output
    with Hooks([m for m in model if isinstance(m, (nn.ReLU, nn.Linear))], keep):
        Learner(model, b, lr=1e-9, cbs=st).fit(1, valid=False)
    s = st.stats()
    assert s.shape == (17, 1, 42)
    for row, m in zip(s[:, 0], [m for m in model if isinstance(m, (nn.ReLU, nn.Linear))]):
        o = outs[m]
        torch.testing.assert_close(row[:2], torch.stack([o.mean(), o.std(unbiased=False)]), rtol=1e-5, atol=1e-6)
        assert torch.equal(row[2:], torch.histc(o.abs(), 40, 0, 10 - 1e-6)) or (row[2:] - torch.histc(o.abs(), 40, 0, 10)).abs().sum() <= 2


@pytest.mark.parametrize('dtype', [torch.float64, torch.float16, torch.bfloat16])
def test_activation_stats_rows_are_float32_for_any_float_output(dtype):
    "float32 rows whatever the layer's float dtype: the mean and std, then the counts per bin."
    from types import SimpleNamespace
    torch.manual_seed(0)
    out, model, st = (torch.randn(64, 50) * 3).to(dtype), nn.Identity(), ActivationStats()
    st.before_fit(SimpleNamespace(model=model))  # hooks the model's one leaf
    model(out)
    st.cleanup_fit(None)
    assert st.stats().shape == (1, 1, 42) and no_hooks(model)  # stats() measures what is kept
    hook = st.hooks[0]
    assert hook.rows.dtype == torch.float32 and hook.n == 1
    o = out.double()
    want = torch.stack([o.mean(), o.std(unbiased=False)]).float()
    torch.testing.assert_close(hook.rows[0, :2], want, rtol=1e-2, atol=1e-2)
    assert torch.equal(hook.rows[0, 2:], torch.histc(out.float().abs(), 40, 0, 10))


def test_activation_stats_measure_outputs_before_a_later_layer_changes_them_in_place(dls):
    "A Linear followed by ReLU(inplace=True): the Linear's rows are its own output's, negative values included."
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 50), nn.ReLU(inplace=True), nn.Linear(50, 10))
    outs, st = [], ActivationStats(nn.Linear)
    with Hook(model[0], lambda h, m, i, o: outs.append(o.detach().clone())):
        Learner(model, few_batches(dls, 3), lr=1e-9, cbs=st).fit(1, valid=False)
    want = torch.stack([torch.stack([o.mean(), o.std(unbiased=False)]) for o in outs])
    torch.testing.assert_close(st.stats()[0, :, :2], want)
    assert (want[:, 0] < 0.2).all() and (st.stats()[0, :, 0] < 0.2).all()


def test_activation_stats_measure_many_batches_at_once_in_order(dls):
    "Outputs of several shapes kept over batches and epochs (the last batch is shorter): each row is its own batch's."
    torch.manual_seed(0)
    model, outs, st = deep_mlp(), [], ActivationStats(nn.ReLU)
    with Hook(model[-2], lambda h, m, i, o: outs.append(o.detach().clone()) if m.training else None):
        x, y = dls.train.dataset.x[:295], dls.train.dataset.y[:295]  # 9 batches of 30, then 25
        d = DataLoaders(DataLoader(Dataset(x, y), 30), dls.valid)
        Learner(model, d, lr=1e-9, cbs=st).fit(3, valid=False)
    s = st.stats()
    assert s.shape == (8, 30, 42) and len({o.shape for o in outs}) == 2
    want = torch.stack([torch.stack([o.mean(), o.std(unbiased=False)]) for o in outs])
    torch.testing.assert_close(s[-1, :, :2], want)


def test_activation_stats_is_one_definition():
    "record and stats are the class's own methods: nothing patched in later, no _orig_ left behind."
    for name in ('record', 'stats', 'before_fit'):
        owner = next(c for c in ActivationStats.__mro__ if name in vars(c))
        assert not any(k.startswith('_orig_') for k in vars(owner)), owner
    assert 'record' in vars(ActivationStats) and 'stats' in vars(ActivationStats)
    assert not any(k.startswith('_orig_') for k in vars(BatchNorm))


def test_activation_stats_refuses_a_layer_returning_a_tuple(dls):
    "An LSTM returns (output, (h, c)): refused at the first batch, naming the layer; no hook is left."
    model = nn.Sequential(nn.Linear(64, 8), nn.LSTM(8, 8))
    with pytest.raises(TypeError, match='output of LSTM must be a torch.Tensor, got tuple'):
        Learner(model, few_batches(dls, 2), cbs=ActivationStats(nn.LSTM)).fit(1)
    assert no_hooks(model)


def test_plot_stats_draws_four_panels_with_a_legend_of_the_layers(dls):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    st = ActivationStats(nn.ReLU)
    Learner(deep_mlp(), few_batches(dls, 3), cbs=st).fit(1, valid=False)
    fig, axs = plt.subplots(2, 2)
    plot_stats(st, axs.flatten(), 'run')
    assert [t.get_text() for t in fig.legends[0].get_texts()] == [f'layer {i}' for i in range(1, 9)]
    assert len(axs[0, 0].lines) == 8 and axs[0, 0].get_ylabel() == 'run'
    plt.close(fig)


def test_validation_batches_are_not_recorded(dls):
    st = ActivationStats(nn.ReLU)
    Learner(deep_mlp(), few_batches(dls, 3), cbs=st).fit(2)
    assert st.stats().shape == (8, 6, 42)


# initialization

def test_init_kaiming_matches_torch_statistics():
    torch.manual_seed(0)
    for leak in (0., 0.1, 1.):
        ours = init_kaiming_(nn.Linear(400, 1000), leak=leak)
        theirs = nn.init.kaiming_normal_(torch.empty(1000, 400), a=leak)
        assert ours.weight.std().item() == pytest.approx(theirs.std().item(), rel=0.01)
        assert ours.weight.std().item() == pytest.approx(math.sqrt(2 / (1 + leak**2) / 400), rel=0.01)
        assert abs(ours.weight.mean().item()) < 1e-3 and torch.equal(ours.bias, torch.zeros(1000))


def test_init_kaiming_uses_the_fan_in_of_a_convolution():
    torch.manual_seed(0)
    conv = init_kaiming_(nn.Sequential(nn.Conv2d(16, 64, 3)))[0]
    assert conv.weight.std().item() == pytest.approx(math.sqrt(2 / (16 * 9)), rel=0.03)


def test_general_relu():
    x = torch.tensor([-2., -0.5, 0., 1., 5.])
    torch.testing.assert_close(GeneralRelu(0.1, 0.4, 3.)(x), torch.tensor([-0.6, -0.45, -0.4, 0.6, 3.]))
    torch.testing.assert_close(GeneralRelu()(x), torch.relu(x))


@pytest.mark.parametrize('act', [nn.ReLU, partial(GeneralRelu, 0.1, 0.4)])
def test_lsuv_tolerances(dls, act):
    torch.manual_seed(0)
    xb = next(iter(dls.train))[0]
    model = lsuv_init(deep_mlp(act), xb)
    hidden = [m for m in model if isinstance(m, nn.Linear)][:-1]
    with Hooks(hidden, lambda h, m, i, o: setattr(h, 'o', o.detach())) as hooks: model(xb)
    for h in hooks:
        assert abs(h.o.mean().item()) < 1e-3 and abs(h.o.std(unbiased=False).item() - 1) < 1e-3
    assert no_hooks(model)


def test_lsuv_leaves_the_output_layer_alone(dls):
    torch.manual_seed(0)
    model = deep_mlp()
    last = model[-1].weight.clone()
    lsuv_init(model, next(iter(dls.train))[0])
    assert torch.equal(model[-1].weight, last)


def test_init_variants_train(dls):
    "Kaiming with GeneralRelu learns the digits; the default initialization of the deep network does not."
    def acc(model):
        metrics = MetricsCB()
        Learner(model, digits_dls(), lr=0.2, cbs=metrics).fit(3)
        return metrics.history[-1]['accuracy']
    torch.manual_seed(0)
    assert acc(deep_mlp()) < 0.3
    torch.manual_seed(0)
    assert acc(init_kaiming_(deep_mlp(partial(GeneralRelu, 0.1, 0.4)), leak=0.1)) > 0.85  # 0.87 with seed 0


# BatchNorm

def against_torch(forward, shape, dtype, steps=3):
    "Largest difference between a BatchNorm (through `forward`) and torch's module: outputs, gradients and running statistics over `steps` training steps, then the outputs in eval mode."
    torch.manual_seed(0)
    theirs = (nn.BatchNorm1d if len(shape) == 2 else nn.BatchNorm2d)(shape[1]).to(dtype)
    with torch.no_grad(): theirs.weight.normal_(); theirs.bias.normal_()
    ours = BatchNorm(shape[1]).to(dtype)
    ours.load_state_dict(theirs.state_dict())
    diffs = []
    for _ in range(steps):
        x, g = torch.randn(shape, dtype=dtype) * 3 + 2, torch.randn(shape, dtype=dtype)
        a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
        ya, yb = forward(ours, a), theirs(b)
        ya.backward(g); yb.backward(g)
        diffs += [ya - yb, a.grad - b.grad, ours.weight.grad - theirs.weight.grad, ours.bias.grad - theirs.bias.grad]
        ours.zero_grad(); theirs.zero_grad()
    diffs += [ours.running_mean - theirs.running_mean, ours.running_var - theirs.running_var]
    assert ours.num_batches_tracked.item() == theirs.num_batches_tracked.item() == steps
    ours.eval(); theirs.eval()
    x = torch.randn(shape, dtype=dtype)
    a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
    ya, yb = forward(ours, a), theirs(b)
    ya.backward(torch.ones_like(ya)); yb.backward(torch.ones_like(yb))
    diffs += [ya - yb, a.grad - b.grad]
    return max(d.abs().max().item() for d in diffs)


def call(bn, x): return bn(x)


@pytest.mark.parametrize('shape', [(32, 5), (8, 3, 4, 5), (2, 4, 1, 1)])
@pytest.mark.parametrize('dtype, tol', [(torch.float32, 1e-4), (torch.float64, 1e-12)])
def test_batchnorm_matches_torch(shape, dtype, tol):
    assert against_torch(call, shape, dtype) < tol


def test_batchnorm_running_statistics_are_the_batch_mean_and_unbiased_variance():
    "mom=1: the running statistics become the batch's own, the variance over n - 1 as in torch; only training batches count."
    torch.manual_seed(0)
    bn, x = BatchNorm(3, mom=1.), torch.randn(5, 3, 2, 2) * 2 + 1
    bn(x)
    bn.eval()(x)
    torch.testing.assert_close(bn.running_mean, x.mean((0, 2, 3)))
    torch.testing.assert_close(bn.running_var, x.var((0, 2, 3), correction=1))
    assert bn.num_batches_tracked.item() == 1


@pytest.mark.parametrize('mom', [0., 0.5, 1.])
def test_batchnorm_momentum_matches_torch(mom):
    torch.manual_seed(0)
    ours, theirs = BatchNorm(4, mom=mom), nn.BatchNorm1d(4, momentum=mom)
    for _ in range(3):
        x = torch.randn(16, 4) * 2 + 1
        ours(x); theirs(x)
    torch.testing.assert_close(ours.running_var, theirs.running_var)
    torch.testing.assert_close(ours.running_mean, theirs.running_mean)


@pytest.mark.parametrize('torch_bn', [nn.BatchNorm1d, nn.BatchNorm2d])
def test_batchnorm_state_dict_round_trips(torch_bn):
    torch.manual_seed(0)
    ours = BatchNorm(6)
    x = torch.randn(8, 6) if torch_bn is nn.BatchNorm1d else torch.randn(8, 6, 3, 3)
    for _ in range(2): ours(x * 2 + 1)
    theirs = torch_bn(6)
    theirs.load_state_dict(ours.state_dict())  # strict: same names, same shapes
    back = BatchNorm(6)
    back.load_state_dict(theirs.state_dict())
    for k, v in ours.state_dict().items():
        assert torch.equal(back.state_dict()[k], v) and torch.equal(theirs.state_dict()[k], v)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.eval(); theirs.eval()
    torch.testing.assert_close(ours(x), theirs(x))
    assert {k for k, _ in ours.named_parameters()} == {'weight', 'bias'}
    assert {k for k, _ in ours.named_buffers()} == {'running_mean', 'running_var', 'num_batches_tracked'}


def test_batchnorm_runs_on_meta_tensors():
    bn = BatchNorm(3).to('meta')
    for shape in ((4, 3), (4, 3, 2, 2)):
        x = torch.randn(shape, device='meta', requires_grad=True)
        y = bn(x)
        y.sum().backward()
        assert y.shape == shape and y.is_meta and x.grad.shape == shape
        assert bn.eval()(torch.randn(shape, device='meta')).shape == shape
        bn.train()


def lesson_fit(model):
    "The lesson's fit: eight epochs of SGD, lr 0.2 then 0.05 for the last three; the final validation accuracy."
    class LRDrop(Callback):
        def before_epoch(self, learn): learn.opt.param_groups[0]['lr'] = 0.2 if learn.epoch < 5 else 0.05
    metrics = MetricsCB()
    Learner(model, digits_dls(), cbs=[metrics, LRDrop()]).fit(8)
    return metrics.history[-1]['accuracy']


@pytest.mark.parametrize('threads', [1, 4])
def test_batchnorm_beats_the_default_on_every_seed(threads):
    "What lesson 07 states, over seeds 0 to 4 with 1 and 4 threads: BatchNorm >= 0.9 on every seed, >= 0.95 at the median, more than 0.5 above the default on every seed."
    n = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        accs = []
        for seed in range(5):
            torch.manual_seed(seed)
            default = lesson_fit(deep_mlp())
            torch.manual_seed(seed)
            accs.append((lesson_fit(deep_mlp(norm=BatchNorm)), default))
    finally: torch.set_num_threads(n)
    bn = sorted(a for a, _ in accs)
    assert bn[0] >= 0.9 and bn[2] >= 0.95, accs
    assert all(a > d + 0.5 for a, d in accs), accs


# bad input

def test_hook_refuses_a_non_module():
    with pytest.raises(TypeError, match='module must be a Module'): Hook(print, lambda *a: None)
    with pytest.raises(TypeError, match='fn'): Hook(nn.ReLU(), 'fn')
    with pytest.raises(TypeError, match=r'fn\(hook, module, inputs, output\)'): Hook(nn.ReLU(), lambda out: None)


def test_hooks_refuse_a_non_module_before_registering_anything():
    lin = nn.Linear(2, 2)
    with pytest.raises(TypeError, match=r'modules\[1\]'): Hooks([lin, 'relu'], lambda *a: None)
    assert lin._forward_hooks == {}
    with pytest.raises(TypeError, match='modules'): Hooks(3, lambda *a: None)


def test_hooks_callback_refuses_a_non_type():
    with pytest.raises(TypeError, match='layer_types'): ActivationStats('ReLU')
    with pytest.raises(TypeError, match='fn'): HooksCallback(3)


@pytest.mark.parametrize('kwargs, exc, word', [(dict(mom=1.5), ValueError, 'mom'), (dict(mom=-0.1), ValueError, 'mom'),
                                               (dict(eps=0), ValueError, 'eps'), (dict(eps=-1e-5), ValueError, 'eps'),
                                               (dict(nf=0), ValueError, 'nf'), (dict(nf=2.), TypeError, 'nf'),
                                               (dict(mom=True), TypeError, 'mom')])
def test_batchnorm_refuses_bad_arguments(kwargs, exc, word):
    with pytest.raises(exc, match=word): BatchNorm(**{'nf': 3, **kwargs})


def test_batchnorm_refuses_bad_input_before_any_state_changes():
    bn, f = BatchNorm(3), call
    with pytest.raises(ValueError, match=r'x must have shape .*for BatchNorm\(3\)'): f(bn, torch.randn(4, 5))
    with pytest.raises(ValueError, match='x.ndim'): f(bn, torch.randn(4, 3, 5))
    with pytest.raises(TypeError, match='x'): f(bn, torch.ones(4, 3, dtype=torch.long))
    with pytest.raises(TypeError, match='x'): f(bn, [[1., 2., 3.]])
    with pytest.raises(ValueError, match='values per channel|correction'): f(bn, torch.randn(1, 3))  # one value per channel: no unbiased variance
    assert bn.num_batches_tracked.item() == 0 and torch.equal(bn.running_var, torch.ones(3))


def test_lsuv_refuses_before_changing_anything(dls):
    xb = next(iter(dls.train))[0]
    with pytest.raises(ValueError, match='model has no Linear'): lsuv_init(nn.Sequential(nn.ReLU()), xb)
    with pytest.raises(ValueError, match='model has no Linear'): lsuv_init(nn.Linear(64, 10), xb)  # only an output layer
    with pytest.raises(TypeError, match='model'): lsuv_init('model', xb)
    model = deep_mlp()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError, match=r'len\(xb\)'): lsuv_init(model, xb[:1])
    with pytest.raises(TypeError, match='xb'): lsuv_init(model, xb.long())
    with pytest.raises(ValueError, match='tol'): lsuv_init(model, xb, tol=0)
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())


def test_init_kaiming_refuses_bad_input():
    with pytest.raises(ValueError, match='model has no Linear'): init_kaiming_(nn.ReLU())
    with pytest.raises(ValueError, match='leak'): init_kaiming_(nn.Linear(2, 2), leak=-1)
    with pytest.raises(TypeError, match='model'): init_kaiming_(3)


def test_general_relu_and_deep_mlp_refuse_bad_input():
    with pytest.raises(ValueError, match='leak'): GeneralRelu(-0.1)
    with pytest.raises(TypeError, match='sub'): GeneralRelu(sub='0.4')
    with pytest.raises(TypeError, match='act'): deep_mlp(act=3)
    with pytest.raises(ValueError, match='scale'): layer_stds(-1.)


def test_activation_stats_survive_exploding_activations(dls):
    "Activations that overflow to inf and nan are recorded (as inf or nan statistics; the histogram skips them), not a crash."
    torch.manual_seed(0)
    model = deep_mlp()
    with torch.no_grad():
        for m in model:
            if isinstance(m, nn.Linear): m.weight.normal_(0, 1e5)
    st = ActivationStats(nn.ReLU)
    Learner(model, few_batches(dls, 2), lr=1e-30, cbs=st).fit(1, valid=False)
    s = st.stats()
    assert s.shape == (8, 2, 42) and not torch.isfinite(s[-1, :, 1]).all() and (s[..., 2:] >= 0).all()


def test_hooks_callback_hooks_only_the_types_asked(dls):
    seen = set()
    def fn(hook, module, inputs, out): seen.add(type(module))
    Learner(deep_mlp(norm=BatchNorm), few_batches(dls, 1), cbs=HooksCallback(fn, BatchNorm)).fit(1)
    assert seen == {BatchNorm}


@pytest.mark.parametrize('offset', [0., 1e3, 1e5])
def test_fast_batchnorm_is_as_accurate_as_torch_far_from_zero(offset):
    "Data whose mean is far larger than its spread: the outputs and input gradients err about as much as torch's, against float64."
    torch.manual_seed(0)
    x, g = torch.randn(256, 8, 8, 8) + offset, torch.randn(256, 8, 8, 8)
    def run(bn, x):
        x = x.clone().requires_grad_(); y = bn(x); y.backward(g.to(x.dtype)); return y.double(), x.grad.double()
    ref = run(nn.BatchNorm2d(8).double(), x.double())
    errs = {k: [(a - b).abs().max().item() for a, b in zip(run(bn, x), ref)] for k, bn in (('torch', nn.BatchNorm2d(8)), ('fdl', BatchNorm(8)))}
    assert all(e <= 3 * t + 1e-6 for e, t in zip(errs['fdl'], errs['torch'])), errs


# edge cases of ActivationStats

def test_activation_stats_explain_what_is_missing(dls):
    with pytest.raises(ValueError, match='layer_types.*no training batch'): ActivationStats().stats()  # before any fit
    st = ActivationStats(nn.ReLU)
    Learner(deep_mlp(), few_batches(dls, 2), cbs=st).fit(1, train=False)
    with pytest.raises(ValueError, match=r'layer_types \(ReLU\).*no training batch'): st.stats()
    model = deep_mlp()
    with pytest.raises(ValueError, match=r'layer_types \(Tanh\)'): Learner(model, few_batches(dls, 2), cbs=ActivationStats(nn.Tanh)).fit(1)
    assert no_hooks(model)


# BatchNorm: half precision, torch.func, second derivatives

@pytest.mark.parametrize('dtype, tol', [(torch.float16, 1e-2), (torch.bfloat16, 0.1)])
def test_batchnorm_half_matches_torch(dtype, tol):
    "256 × 16 × 16 = 65,536 values per channel: a float16 sum of their squares would overflow."
    torch.manual_seed(0)
    x = torch.randn(256, 8, 16, 16) * 2 + 1
    for a, b in ((BatchNorm(8).to(dtype), nn.BatchNorm2d(8).to(dtype)), (BatchNorm(8), nn.BatchNorm2d(8))):  # half modules; float32 modules
        xa, xb = x.to(dtype).requires_grad_(), x.to(dtype).requires_grad_()
        ya, yb = a(xa), b(xb)
        assert ya.dtype == yb.dtype == dtype
        ya.float().square().sum().backward(); yb.float().square().sum().backward()
        torch.testing.assert_close(ya.float(), yb.float(), rtol=tol, atol=tol)
        torch.testing.assert_close(xa.grad.float(), xb.grad.float(), rtol=tol, atol=tol)
        torch.testing.assert_close(a.running_var.float(), b.running_var.float(), rtol=tol, atol=tol)
        torch.testing.assert_close(a.running_mean.float(), b.running_mean.float(), rtol=tol, atol=tol)
        a.eval(); b.eval()
        torch.testing.assert_close(a(x.to(dtype)).float(), b(x.to(dtype)).float(), rtol=tol, atol=tol)


def test_batchnorm_under_torch_func_grad():
    "Eval mode: the same gradients as the main path's and torch's. Train mode: the running statistics are updated in place, which torch.func refuses for fdl's main path and torch's module alike, with the same kind of error."
    from torch.func import functional_call, grad
    torch.manual_seed(0)
    x, ref = torch.randn(16, 4), nn.BatchNorm1d(4)
    with torch.no_grad(): ref.weight.normal_(); ref.running_var.uniform_(0.5, 2); ref.running_mean.normal_()
    ours = BatchNorm(4)
    ours.load_state_dict(ref.state_dict())
    for bn in (ours, ref): bn.eval()
    g = lambda bn: grad(lambda p: functional_call(bn, p, (x,)).pow(2).sum())(dict(bn.named_parameters()))
    ga, gb = g(ours), g(ref)
    for k in ga: torch.testing.assert_close(ga[k], gb[k])
    gx = grad(lambda x: ours(x).pow(2).sum())(x)
    torch.testing.assert_close(gx, grad(lambda x: ref(x).pow(2).sum())(x))
    ours.train()
    ref.train()
    for bn in (ours, ref):
        with pytest.raises(RuntimeError, match='in-place'): grad(lambda x: bn(x).pow(2).sum())(x)


@pytest.mark.parametrize('shape', [(16, 4), (6, 4, 3, 3)])
def test_batchnorm_forward_mode_ad_matches_torch(shape):
    "torch.func.jvp in eval mode (train mode updates buffers in place: refused, as torch refuses it), and the dual-number API in both modes."
    import torch.autograd.forward_ad as fwAD
    from torch.func import jvp
    torch.manual_seed(0)
    x, t = torch.randn(shape) * 2 + 1, torch.randn(shape)
    ref = (nn.BatchNorm1d if len(shape) == 2 else nn.BatchNorm2d)(4)
    with torch.no_grad(): ref.weight.normal_(); ref.running_var.uniform_(0.5, 2); ref.running_mean.normal_()
    ours = BatchNorm(4)
    ours.load_state_dict(ref.state_dict())
    for bn in (ours, ref): bn.eval()
    (ya, ta), (yb, tb) = jvp(ours, (x,), (t,)), jvp(ref, (x,), (t,))
    torch.testing.assert_close(ya, yb)
    torch.testing.assert_close(ta, tb)
    for bn in (ours, ref):
        bn.train()
        with pytest.raises(RuntimeError, match='in-place'): jvp(bn, (x,), (t,))
    for mode in (True, False):
        tangents = []
        for bn in (ours, ref):
            bn.train(mode)
            with fwAD.dual_level():
                tangents.append(fwAD.unpack_dual(bn(fwAD.make_dual(x, t))).tangent)
        torch.testing.assert_close(tangents[0], tangents[1], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize('shape', [(16, 4), (6, 4, 3, 3)])
def test_batchnorm_double_backward_matches_torch(shape):
    torch.manual_seed(0)
    x, w = torch.randn(shape) * 2 + 1, torch.randn(shape[1])
    def second(bn):
        with torch.no_grad(): bn.weight.copy_(w)
        a = x.clone().requires_grad_()
        g, = torch.autograd.grad(bn(a).pow(3).sum(), a, create_graph=True)
        g.pow(2).sum().backward()
        return a.grad, bn.weight.grad, g.detach()
    ref = second(nn.BatchNorm1d(4) if len(shape) == 2 else nn.BatchNorm2d(4))
    for r, o in zip(ref, second(BatchNorm(4))): torch.testing.assert_close(o, r, rtol=1e-4, atol=1e-4)


# LSUV: what it cannot do

def test_lsuv_refuses_a_batch_without_its_batch_dim(dls):
    xb = next(iter(dls.train))[0]
    model = deep_mlp(); state = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError, match='xb'): lsuv_init(model, xb[0])
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())


def test_lsuv_refuses_a_constant_layer_before_changing_anything(dls):
    xb = next(iter(dls.train))[0]
    torch.manual_seed(0); model = deep_mlp()
    with torch.no_grad(): model[6].weight.zero_(); model[6].bias.fill_(0.3)  # the fourth linear layer outputs 0.3 everywhere
    state = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError, match=r"'6' \(Linear\) outputs std 0"): lsuv_init(model, xb)
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())  # not even the layers before it


def test_lsuv_refuses_a_layer_never_called(dls):
    class Unused(nn.Module):
        def __init__(self): super().__init__(); self.a, self.unused, self.b = nn.Linear(64, 50), nn.Linear(3, 3), nn.Linear(50, 10)
        def forward(self, x): return self.b(self.a(x).relu())
    model = Unused(); w = model.a.weight.clone()
    with pytest.raises(ValueError, match=r"'unused' \(Linear\) is not called"): lsuv_init(model, next(iter(dls.train))[0])
    assert torch.equal(model.a.weight, w)


def test_lsuv_raises_when_max_iter_is_not_enough(dls):
    xb = next(iter(dls.train))[0]
    torch.manual_seed(0)
    drop = nn.Sequential(nn.Linear(64, 50), nn.Dropout(0.5), nn.ReLU(), nn.Linear(50, 50), nn.ReLU(), nn.Linear(50, 10))
    with pytest.raises(RuntimeError, match=r"'3' \(Linear\) reached mean .* std .* not within tol"): lsuv_init(drop, xb)  # every pass differs
    torch.manual_seed(0)
    with pytest.raises(RuntimeError, match='max_iter=1'): lsuv_init(deep_mlp(), xb, tol=1e-9, max_iter=1)


def test_lsuv_leaves_batchnorm_running_statistics_alone(dls):
    xb = next(iter(dls.train))[0]
    torch.manual_seed(0); model = deep_mlp(norm=BatchNorm)
    buffers = {k: v.clone() for k, v in model.named_buffers()}
    lsuv_init(model, xb)
    assert all(torch.equal(v, buffers[k]) for k, v in model.named_buffers())
    hidden = [m for m in model if isinstance(m, nn.Linear)][:-1]
    with Hooks(hidden, lambda h, m, i, o: setattr(h, 'o', o.detach())) as hooks: model(xb)
    assert all(abs(h.o.mean().item()) < 1e-3 and abs(h.o.std(unbiased=False).item() - 1) < 1e-3 for h in hooks)


def test_lsuv_refuses_an_all_zero_batch(dls):
    "Every item alike: the first layer outputs its bias for every item, and no scale gives that std 1 across the batch."
    xb = next(iter(dls.train))[0]
    torch.manual_seed(0); model = deep_mlp()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError, match=r"'0' \(Linear\) outputs std 0 across the items of xb"): lsuv_init(model, torch.zeros_like(xb))
    with pytest.raises(ValueError, match='items of xb'): lsuv_init(model, xb[:1].expand(8, -1).contiguous())
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())


def test_reprs_show_the_settings():
    assert repr(GeneralRelu(0.1, 0.4, 6.)) == 'GeneralRelu(leak=0.1, sub=0.4, maxv=6.0)'
    assert repr(BatchNorm(3, mom=0.2)) == 'BatchNorm(3, mom=0.2, eps=1e-05)'
    assert 'GeneralRelu(leak=0.1, sub=0.4, maxv=inf)' in repr(deep_mlp(partial(GeneralRelu, 0.1, 0.4)))


@pytest.mark.parametrize('layer, fan_in', [(nn.Conv1d(8, 16, 3), 24), (nn.Conv3d(2, 4, 3), 54),
                                           (nn.ConvTranspose2d(6, 64, 3), 64 * 9)])
def test_init_kaiming_covers_every_public_convolution(layer, fan_in):
    "The public conv classes, no private torch base class; a transposed convolution's fan-in as torch's kaiming_normal_ counts it."
    torch.manual_seed(0)
    w = init_kaiming_(nn.Sequential(layer))[0].weight
    assert w.std().item() == pytest.approx(math.sqrt(2 / fan_in), rel=0.1)
    assert nn.init._calculate_fan_in_and_fan_out(w)[0] == fan_in


def test_the_module_uses_no_private_torch_api():
    import inspect, fdl.activations
    src = inspect.getsource(fdl.activations)
    assert '_ConvNd' not in src and 'torch._C' not in src and '_orig_' not in src  # @patch only adds: test_style


def test_stats_names_a_hooked_layer_the_forward_never_uses():
    class Skips(nn.Module):
        def __init__(self):
            super().__init__()
            self.used, self.unused = nn.Linear(64, 10), nn.Linear(64, 10)
        def forward(self, x): return self.used(x)
    x, y = torch.randn(8, 64), torch.arange(8)
    st = ActivationStats(nn.Linear)
    with pytest.raises(ValueError, match=r"layer_types \(Linear\): the hooked layers ran \[1, 0\] times.*never uses"):
        Learner(Skips(), DataLoaders([(x, y)], [(x, y)]), cbs=st).fit(1)
    with pytest.raises(ValueError, match='no training batch recorded'): ActivationStats(nn.Linear).stats()


def test_a_module_called_twice_in_a_forward_is_refused_at_the_first_batch():
    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin, self.act = nn.Linear(64, 10), nn.ReLU()
        def forward(self, x): return self.act(self.lin(self.act(x)))
    x, y = torch.randn(8, 64), torch.arange(8)
    seen = []
    spy = Callback()
    spy.before_batch = lambda learn: seen.append(learn.iter)
    with pytest.raises(ValueError, match=r'ran \[2\] times in one training batch.*called twice'):
        Learner(Twice(), DataLoaders([(x, y)] * 3, [(x, y)]), cbs=[ActivationStats(nn.ReLU), spy]).fit(1)
    assert seen == [0]


@pytest.mark.parametrize('axs, exc, words', [(None, None, None), ('array', None, None), ('two', ValueError, 'axs must have length 4'),
                                             ('one', TypeError, 'axs must be a sequence')])
def test_plot_stats_takes_the_axes_as_plt_subplots_gives_them(axs, exc, words):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    x, y = torch.randn(8, 64), torch.arange(8)
    st = ActivationStats(nn.ReLU)
    Learner(nn.Sequential(nn.Linear(64, 10), nn.ReLU()), DataLoaders([(x, y)], [(x, y)]), cbs=st).fit(1)
    given = {None: None, 'array': plt.subplots(2, 2)[1], 'two': list(plt.subplots(1, 2)[1]), 'one': plt.subplots()[1]}[axs]
    if exc is None: plot_stats(st, given)
    else:
        with pytest.raises(exc, match=words): plot_stats(st, given)
    plt.close('all')
    with pytest.raises(TypeError, match='st must be'): plot_stats(None)
