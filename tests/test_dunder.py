"""fdl.dunder: each special method exercised through the syntax or built-in that triggers it."""
import copy, gc, pickle, subprocess, sys, time
from pathlib import Path

import pytest
import torch
from torch import nn

from fdl.dunder import SloppyAdder, Dataset, Forwarder, HyperParams, Symbol, Timer, Temporarily, Handle

ROOT = Path(__file__).resolve().parent.parent


def fake_clock(*times):
    ticks = iter(times)
    return lambda: next(ticks)


# --- __add__ / __radd__ / __repr__: SloppyAdder ---

def test_sloppy_add_displays_3_01():
    assert repr(SloppyAdder(1) + SloppyAdder(2)) == '3.01'
    assert (SloppyAdder(1) + SloppyAdder(2)).o == pytest.approx(3.01)

@pytest.mark.parametrize('other', [1, 2.5, 'x', None, [1]])
def test_sloppy_add_foreign_types_raise_python_typeerror(other):
    with pytest.raises(TypeError, match=r"unsupported operand type\(s\) for \+: 'SloppyAdder'"):
        SloppyAdder(1) + other
    with pytest.raises(TypeError, match='SloppyAdder'):  # str and list word their own TypeError
        other + SloppyAdder(1)

def test_sloppy_zero_plus_adder_is_nothing_added_yet():
    a = SloppyAdder(1)
    z = 0 + a
    assert isinstance(z, SloppyAdder) and z.o == 1 and z is not a

def test_sloppy_sum_slips_once_per_add():
    assert repr(sum([SloppyAdder(1), SloppyAdder(2)])) == '3.01'
    assert sum([SloppyAdder(1), SloppyAdder(2), SloppyAdder(3)]).o == pytest.approx(6.02)
    assert sum([SloppyAdder(5)]).o == 5
    assert sum([]) == 0
    assert sum([SloppyAdder(1), SloppyAdder(2)], SloppyAdder(0)).o == pytest.approx(3.02)

def test_sloppy_sum_starts_only_from_the_int_zero():
    with pytest.raises(TypeError, match="'float' and 'SloppyAdder'"): sum([SloppyAdder(1), SloppyAdder(2)], 0.0)
    with pytest.raises(TypeError, match="'int' and 'SloppyAdder'"): 5 + SloppyAdder(1)

def test_sloppy_notimplemented_lets_other_type_answer():
    class Tally:
        def __radd__(self, other): return ('tally', other.o)
    assert SloppyAdder(7) + Tally() == ('tally', 7)

def test_sloppy_str_falls_back_to_repr(capsys):
    print(SloppyAdder(1) + SloppyAdder(2))
    assert capsys.readouterr().out == '3.01\n'


# --- __getitem__ / __len__: Dataset ---

def test_dataset_len_index_slice():
    ds = Dataset(range(10, 15), 'abcde')
    assert len(ds) == 5
    assert ds[0] == (10, 'a') and ds[-1] == (14, 'e')
    assert ds[1:3] == (range(11, 13), 'bc')

def test_dataset_index_out_of_range_is_indexerror():
    ds = Dataset([1, 2], [3, 4])
    with pytest.raises(IndexError): ds[2]
    with pytest.raises(IndexError): ds[-3]
    with pytest.raises(TypeError): ds['a']

def test_dataset_iteration_stops_at_indexerror():
    ds = Dataset([1, 2, 3], 'abc')
    seen = []
    for x, y in ds: seen.append((x, y))
    assert seen == [(1, 'a'), (2, 'b'), (3, 'c')]
    assert list(ds) == seen
    assert (2, 'b') in ds and (2, 'c') not in ds
    first, *rest = ds
    assert first == (1, 'a') and len(rest) == 2

def test_dataset_truthiness_from_len():
    assert Dataset([1], [2])
    assert not Dataset([], [])
    assert bool(Dataset('', '')) is False

def test_dataset_bad_input():
    with pytest.raises(ValueError, match=r'\by\b.*length'): Dataset([1, 2], 'abc')
    with pytest.raises(TypeError, match=r'\bx\b.*sequence'): Dataset((i for i in range(2)), 'ab')
    with pytest.raises(TypeError, match=r'\by\b.*sequence'): Dataset([1], 5)
    with pytest.raises(TypeError, match=r'\bx\b.*sequence'): Dataset({0: 'a'}, 'a')  # a dict is not indexed by position
    with pytest.raises(TypeError, match=r'\bx\b.*sequence'): Dataset(torch.tensor(1.), 'a')  # 0-d: no length

def test_dataset_of_tensors():
    ds = Dataset(torch.arange(4.), torch.tensor([0, 1, 0, 1]))
    x, y = ds[1:3]
    assert len(ds) == 4 and x.tolist() == [1., 2.] and y.tolist() == [1, 0]


# --- __getattr__: Forwarder ---

class Model:
    def __init__(self): self.training, self.n_params, self._private = True, 1234, 'hidden'
    def train(self, mode=True): self.training = mode

class Learner(Forwarder):
    def __init__(self, model, lr): super().__init__(model); self.lr = lr

class CountingForwarder(Forwarder):
    calls = []
    def __getattr__(self, name):
        CountingForwarder.calls.append(name)
        return super().__getattr__(name)

class NaiveForwarder:
    def __init__(self, target): self.target = target
    def __getattr__(self, name): return getattr(self.target, name)

@pytest.mark.parametrize('change', ['shrink x', 'grow y', 'append to x'])
def test_dataset_whose_data_changed_length_is_refused_by_len_index_and_iteration(change):
    ds = Dataset(torch.arange(5), torch.arange(5) * 10) if change != 'append to x' else Dataset([1, 2, 3], 'abc')
    if change == 'shrink x': ds.x = ds.x[:3]
    elif change == 'grow y': ds.y = torch.arange(7)
    else: ds.x.append(4)
    for use in (len, lambda d: d[0], list, lambda d: d[1:2]):
        with pytest.raises(ValueError, match=r'\by must have length \d+ like x'): use(ds)

def test_dataset_whose_data_changed_together_still_works():
    ds = Dataset([1, 2, 3], 'abc')
    ds.x, ds.y = ds.x[:2], ds.y[:2]
    assert (len(ds), list(ds)) == (2, [(1, 'a'), (2, 'b')])

def test_forwarder_forwards_public_attributes():
    learn = Learner(Model(), lr=0.1)
    learn.train(False)
    assert (learn.lr, learn.n_params, learn.training) == (0.1, 1234, False)
    assert Forwarder([1, 2, 2]).count(2) == 2

def test_getattr_only_called_when_normal_lookup_fails():
    CountingForwarder.calls.clear()
    f = CountingForwarder(Model())
    f.own = 'mine'
    assert f.own == 'mine'
    assert CountingForwarder.calls == []
    assert f.n_params == 1234
    assert CountingForwarder.calls == ['n_params']

def test_forwarder_missing_attribute_names_it():
    learn = Learner(Model(), lr=0.1)
    with pytest.raises(AttributeError, match="'Learner' object has no attribute 'n_param'") as info:
        learn.n_param
    assert info.value.name == 'n_param' and info.value.obj is learn
    assert getattr(learn, 'n_param', 'default') == 'default'
    assert not hasattr(learn, 'n_param')

def test_forwarder_attributeerror_inside_a_property_is_raised_not_forwarded():
    "Python's rule: an AttributeError from a property makes it try __getattr__; Forwarder shows the property's error."
    class Buggy(Forwarder):
        @property
        def loss(self): return self.los_fn()  # typo
        @property
        def fine(self): return 'own'
    from types import SimpleNamespace
    model = SimpleNamespace(loss='MODEL', loss_fn=lambda: 0.5, fine='MODEL')
    with pytest.raises(RuntimeError, match='loss raised AttributeError') as info: Buggy(model).loss
    assert isinstance(info.value.__cause__, AttributeError) and 'los_fn' in str(info.value.__cause__)
    with pytest.raises(RuntimeError, match='loss'): getattr(Buggy(model), 'loss', 'a default')  # not hidden either
    assert Buggy(model).fine == 'own' and Buggy(model).loss_fn() == 0.5  # the rest forwards as before

def test_forwarder_property_that_fails_only_once_gives_its_second_answer():
    "The property is run again to raise its error where it happens; a property that works the second time answers."
    class Flaky(Forwarder):
        calls = 0
        @property
        def value(self):
            type(self).calls += 1
            if type(self).calls == 1: raise AttributeError('first time')
            return 'second'
    assert Flaky(object()).value == 'second'

def test_forwarder_does_not_forward_underscore_names():
    learn = Learner(Model(), lr=0.1)
    with pytest.raises(AttributeError, match="'_private'"): learn._private
    with pytest.raises(AttributeError, match="'__setstate__'"): learn.__setstate__
    with pytest.raises(TypeError, match='has no len'): len(Forwarder([1, 2]))

def test_forwarder_setting_is_not_forwarded():
    model = Model()
    learn = Learner(model, lr=0.1)
    learn.training = False
    assert learn.training is False and model.training is True

def test_forwarder_half_built_does_not_recurse():
    f = Forwarder.__new__(Forwarder)  # what copy and pickle make before restoring state
    with pytest.raises(AttributeError, match="'anything'"): f.anything  # no RecursionError
    with pytest.raises(AttributeError, match="'_target'"): f._target

def test_forwarder_copy_and_pickle_round_trip():
    learn = Learner(Model(), lr=0.1)
    learn.train(False)
    c = copy.copy(learn)
    assert c is not learn and c._target is learn._target and c.lr == 0.1
    d = copy.deepcopy(learn)
    assert d._target is not learn._target and (d.lr, d.training, d.n_params) == (0.1, False, 1234)
    p = pickle.loads(pickle.dumps(learn))
    assert type(p) is Learner and (p.lr, p.training, p.n_params) == (0.1, False, 1234)

def test_naive_forwarder_recurses_under_copy_and_pickle():
    naive = NaiveForwarder(Model())
    assert naive.n_params == 1234
    with pytest.raises(RecursionError): copy.copy(naive)
    with pytest.raises(RecursionError): pickle.loads(pickle.dumps(naive))


# --- __setattr__: HyperParams ---

def test_hyperparams_records_every_assignment():
    hps = HyperParams(lr=0.1, mom=0.9)
    hps.lr = 0.01
    hps.lr *= 2
    hps.wd = 0
    assert (hps.lr, hps.mom, hps.wd) == (0.02, 0.9, 0)
    assert hps.history == [('lr', 0.1), ('mom', 0.9), ('lr', 0.01), ('lr', 0.02), ('wd', 0)]
    assert repr(hps) == 'HyperParams(lr=0.02, mom=0.9, wd=0)'

@pytest.mark.parametrize('bad', ['fast', None, True, [0.1], 1j])
def test_hyperparams_refuses_non_reals_before_changing(bad):
    hps = HyperParams(lr=0.1)
    with pytest.raises(TypeError, match=r'\blr\b.*number'):
        hps.lr = bad
    assert hps.lr == 0.1 and hps.history == [('lr', 0.1)]
    with pytest.raises(TypeError, match=r'\bmom\b.*number'): HyperParams(mom=bad)

@pytest.mark.parametrize('bad, words', [(float('nan'), r'\blr\b.*nan'), (float('inf'), r'\blr\b must be finite'),
                                         (float('-inf'), r'\blr\b must be finite')])
def test_hyperparams_refuses_nan_and_inf_before_changing(bad, words):
    hps = HyperParams(lr=0.1)
    with pytest.raises(ValueError, match=words): hps.lr = bad
    assert hps.lr == 0.1 and hps.history == [('lr', 0.1)]
    with pytest.raises(ValueError, match='patience must be finite'): HyperParams(patience=float('inf'))

def test_hyperparams_history_cannot_be_assigned():
    hps = HyperParams(lr=0.1)
    with pytest.raises(AttributeError, match='history'): hps.history = 3
    assert hps.history == [('lr', 0.1)]

def test_hyperparams_history_cannot_be_deleted_and_assignments_still_record():
    hps = HyperParams(lr=0.1)
    with pytest.raises(AttributeError, match='history'): del hps.history
    hps.lr = 0.2  # before the fix, `del hps.history` made this set lr, then fail to record it
    assert hps.lr == 0.2 and hps.history == [('lr', 0.1), ('lr', 0.2)]
    del hps.lr  # other names may go
    assert not hasattr(hps, 'lr') and hps.history == [('lr', 0.1), ('lr', 0.2)]

def test_hyperparams_missing_is_attributeerror():
    with pytest.raises(AttributeError, match="'lr'"): HyperParams().lr


# --- __new__ / __init__: Symbol ---

def test_symbol_interned_by_new():
    assert Symbol('lr') is Symbol('lr')
    assert Symbol('lr') is not Symbol('mom')
    assert Symbol('lr').name == 'lr' and repr(Symbol('lr')) == "Symbol('lr')"

def test_symbol_subclass_has_its_own_instances():
    class Event(Symbol): pass
    assert Event('lr') is Event('lr') and Event('lr') is not Symbol('lr')
    assert type(Event('lr')) is Event and repr(Event('lr')) == "Event('lr')"

def test_symbol_copy_and_pickle_keep_identity():
    s = Symbol('mom')
    assert copy.copy(s) is s and copy.deepcopy(s) is s
    assert pickle.loads(pickle.dumps(s)) is s

def test_symbol_name_read_only_and_bad_input():
    s = Symbol('lr')
    with pytest.raises(AttributeError): s.name = 'mom'
    assert Symbol('lr').name == 'lr'
    with pytest.raises(TypeError, match=r'\bname\b.*str'): Symbol(3)

def test_symbol_has_slots_so_nothing_can_be_added():
    s = Symbol('slotted')
    assert not hasattr(s, '__dict__')
    with pytest.raises(AttributeError, match='extra'): s.extra = 1
    assert copy.copy(s) is s and pickle.loads(pickle.dumps(s)) is s

def test_init_runs_after_new_even_on_a_cached_instance():
    order = []
    class Cached:
        _one = None
        def __new__(cls):
            order.append('new')
            if cls._one is None: cls._one = super().__new__(cls)
            return cls._one
        def __init__(self): order.append('init')
    assert Cached() is Cached()
    assert order == ['new', 'init', 'new', 'init']


# --- __enter__ / __exit__: Timer and Temporarily ---

def test_timer_measures_with_block():
    with Timer(fake_clock(10.0, 10.25)) as t:
        assert t.elapsed is None and str(t) == 'not timed yet'
    assert t.elapsed == 0.25

def test_timer_real_clock_is_nonnegative():
    with Timer() as t: sum(range(1000))
    assert t.elapsed >= 0

def test_timer_body_raises_time_recorded_exception_not_swallowed():
    t = Timer(fake_clock(1.0, 3.5))
    with pytest.raises(KeyError, match='lost'):
        with t: raise KeyError('lost')
    assert t.elapsed == 2.5

def test_timer_bad_clock():
    with pytest.raises(TypeError, match=r'\bclock\b.*callable'): Timer(1.0)

def test_timer_nested_in_itself():
    t = Timer(fake_clock(0.0, 1.0, 2.0, 10.0))
    with t:
        with t: pass
        assert t.elapsed == 1.0
    assert t.elapsed == 10.0
    with pytest.raises(KeyError):  # an exception in the inner block still pops its own start
        with Timer(fake_clock(0.0, 1.0, 3.0, 7.0)) as t2:
            with t2: raise KeyError('x')
    assert t2.elapsed == 7.0 and t2._starts == []

def test_timer_exit_without_enter_is_a_clear_error():
    with pytest.raises(RuntimeError, match='without __enter__'): Timer().__exit__(None, None, None)
    t = Timer(fake_clock(0.0, 1.0))
    with t: pass
    with pytest.raises(RuntimeError, match='without __enter__'): t.__exit__(None, None, None)
    assert t.elapsed == 1.0

def test_timer_print_vs_repr(capsys):
    with Timer(fake_clock(0.0, 0.0123)) as t: pass
    print(t)
    print(repr(t))
    print([t])
    print(f'{t} {t!r}')
    assert capsys.readouterr().out.splitlines() == [
        '12.30 ms', 'Timer(elapsed=0.0123)', '[Timer(elapsed=0.0123)]', '12.30 ms Timer(elapsed=0.0123)']
    with Timer(fake_clock(0.0, 2.5)) as t2: pass
    assert str(t2) == '2.50 s'
    assert repr(Timer()) == 'Timer(elapsed=None)'

def test_temporarily_restores_after_normal_exit():
    hps = HyperParams(lr=0.1, mom=0.9)
    with Temporarily(hps, lr=0.001) as obj:
        assert obj is hps and hps.lr == 0.001
    assert (hps.lr, hps.mom) == (0.1, 0.9)

def test_temporarily_restores_when_body_raises():
    hps = HyperParams(lr=0.1, mom=0.9)
    with pytest.raises(ValueError, match='nan'):
        with Temporarily(hps, lr=0.001, mom=0.5):
            raise ValueError('loss is nan')
    assert (hps.lr, hps.mom) == (0.1, 0.9)
    assert hps.history[-2:] == [('mom', 0.9), ('lr', 0.1)]  # put back last set first

def test_temporarily_failed_enter_rolls_back():
    hps = HyperParams(lr=0.1, mom=0.9)
    body_ran = []
    with pytest.raises(TypeError, match=r'\bmom\b.*number'):
        with Temporarily(hps, lr=0.5, mom='high'): body_ran.append(1)
    assert body_ran == [] and (hps.lr, hps.mom) == (0.1, 0.9)

def test_temporarily_missing_attribute_is_removed_again():
    hps = HyperParams(lr=0.1)
    with Temporarily(hps, lr=0.5, momentum=0.1):
        assert (hps.lr, hps.momentum) == (0.5, 0.1)
    assert hps.lr == 0.1 and not hasattr(hps, 'momentum') and 'momentum' not in repr(hps)

def test_temporarily_is_defined_once_with_its_full_methods():
    "The lesson's main path shows an unexported draft; the exported class has the full methods, none replaced."
    for name in ('__enter__', '__exit__', '_set', '_put_back'):
        assert name in vars(Temporarily) and not hasattr(Temporarily, f'_orig_{name}')
    for cls in (HyperParams, Timer, Temporarily, Handle):
        assert '__getstate__' in vars(cls)

def test_del_runs_when_last_reference_goes():
    log = []
    h = Handle('a', log)
    alias = h
    del h
    assert log == []
    del alias
    assert log == ['a']

def test_del_waits_for_gc_in_a_cycle():
    log = []
    gc.disable()
    try:
        h = Handle('cycle', log)
        h.me = h
        del h
        assert log == []
        gc.collect()
        assert log == ['cycle']
    finally:
        gc.enable()

def test_with_closes_handle_even_when_body_raises():
    log = []
    with pytest.raises(OSError, match='disk full'):
        with Handle('w', log) as h:
            assert h.closed is False
            raise OSError('disk full')
    assert log == ['w'] and h.closed
    del h
    assert log == ['w']  # closing twice logs once

def test_handle_bad_input_and_half_built_del(monkeypatch):
    ignored = []  # errors raised inside __del__ are not propagated; Python hands them to this hook
    monkeypatch.setattr(sys, 'unraisablehook', ignored.append)
    with pytest.raises(TypeError, match=r'\blog\b.*list'): Handle('x', ())
    with pytest.raises(TypeError, match=r'\bname\b.*str'): Handle(3, [])
    with pytest.raises(TypeError): Handle('x')
    gc.collect()
    assert ignored == []


# --- module weight ---

def test_import_needs_no_torch():
    code = 'import sys, fdl.dunder; print("torch" in sys.modules)'
    out = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == 'False'

def test_temporarily_uncovers_a_class_attribute_again():
    class Config:
        verbose, level = False, 1
    config = Config()
    config.level = 2  # an instance attribute of its own
    with Temporarily(config, verbose=True, level=3):
        assert (config.verbose, config.level) == (True, 3)
    assert vars(config) == {'level': 2} and config.verbose is False
    Config.verbose = 'changed on the class'
    assert config.verbose == 'changed on the class'  # nothing left behind to shadow it


# --- Temporarily: every kind of attribute, nested, with an exception in the block ---

class Plain:
    shared = 'class value'
    def __init__(self): self.own = 'instance value'

class WithProperty:
    def __init__(self): self._k = 1
    @property
    def k(self): return self._k
    @k.setter
    def k(self, v): self._k = v

class Slotted:
    __slots__ = ('size', 'unset')
    def __init__(self): self.size = 3

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.head = nn.Linear(2, 2)
        self.register_buffer('scale', torch.ones(2))

def _instance():
    o = Plain(); return o, 'own', lambda: o.own == 'instance value' and vars(o) == {'own': 'instance value'}
def _class_attr():
    o = Plain(); return o, 'shared', lambda: o.shared == 'class value' and 'shared' not in vars(o)
def _missing():
    o = Plain(); return o, 'extra', lambda: not hasattr(o, 'extra') and 'extra' not in vars(o)
def _property():
    o = WithProperty(); return o, 'k', lambda: o.k == 1 and vars(o) == {'_k': 1}
def _slot():
    o = Slotted(); return o, 'size', lambda: o.size == 3
def _unset_slot():
    o = Slotted(); return o, 'unset', lambda: not hasattr(o, 'unset')
def _parameter():
    o = nn.Linear(2, 2); w = o.weight
    return o, 'weight', lambda: o.weight is w and o._parameters['weight'] is w and 'weight' not in vars(o)
def _submodule():
    o = Net(); h = o.head
    return o, 'head', lambda: o.head is h and o._modules['head'] is h and 'head' not in vars(o)
def _buffer():
    o = Net(); b = o.scale
    return o, 'scale', lambda: o.scale is b and o._buffers['scale'] is b and 'scale' not in vars(o)
def _requires_grad():
    o = torch.ones(2, requires_grad=True)
    return o, 'requires_grad', lambda: o.requires_grad is True and 'requires_grad' not in vars(o)
def _class_object():
    class Sub(Plain): pass
    return Sub, 'shared', lambda: Sub.shared == 'class value' and 'shared' not in vars(Sub)
def _forwarded():
    o = Learner(Model(), lr=0.1)
    return o, 'training', lambda: o.training is True and 'training' not in vars(o)

KINDS = {'instance': (_instance, 'a', 'b'), 'class': (_class_attr, 'a', 'b'), 'missing': (_missing, 'a', 'b'),
         'property': (_property, 5, 6), 'slot': (_slot, 4, 5), 'unset slot': (_unset_slot, 4, 5),
         'parameter': (_parameter, nn.Parameter(torch.zeros(2, 2)), nn.Parameter(torch.full((2, 2), 2.))),
         'submodule': (_submodule, nn.Identity(), nn.Tanh()), 'buffer': (_buffer, torch.zeros(2), torch.full((2,), 2.)),
         'requires_grad': (_requires_grad, False, True), 'class object': (_class_object, 'a', 'b'),
         'forwarded': (_forwarded, False, 'x')}

@pytest.mark.parametrize('kind', KINDS)
def test_temporarily_restores_each_kind(kind):
    make, v1, _ = KINDS[kind]
    obj, name, is_original = make()
    assert is_original()
    with Temporarily(obj, **{name: v1}) as got:
        assert got is obj and getattr(obj, name) is v1
    assert is_original()

@pytest.mark.parametrize('kind', KINDS)
def test_temporarily_restores_each_kind_when_block_raises(kind):
    make, v1, _ = KINDS[kind]
    obj, name, is_original = make()
    with pytest.raises(KeyError, match='boom'):
        with Temporarily(obj, **{name: v1}): raise KeyError('boom')
    assert is_original()

@pytest.mark.parametrize('kind', KINDS)
def test_temporarily_nested_on_the_same_attribute(kind):
    make, v1, v2 = KINDS[kind]
    obj, name, is_original = make()
    with Temporarily(obj, **{name: v1}):
        with pytest.raises(RuntimeError):
            with Temporarily(obj, **{name: v2}):
                assert getattr(obj, name) is v2
                raise RuntimeError('inner block fails')
        assert getattr(obj, name) is v1  # the inner one exits first and puts back the outer value
    assert is_original()

def test_temporarily_same_instance_nested_in_itself():
    o = Plain()
    t = Temporarily(o, shared=1, own=2)
    with t:
        with t: assert (o.shared, o.own) == (1, 2)
        assert (o.shared, o.own) == (1, 2)
    assert vars(o) == {'own': 'instance value'} and o.shared == 'class value'

def test_temporarily_block_may_delete_the_attribute():
    o = Plain()
    with Temporarily(o, shared=1, extra=2):
        del o.shared, o.extra
    assert vars(o) == {'own': 'instance value'} and o.shared == 'class value'

def test_temporarily_failed_enter_restores_every_kind_set_before():
    net, slotted, w = Net(), Slotted(), torch.ones(1, requires_grad=True)
    head, bias = net.head, net.head.bias
    with pytest.raises(TypeError, match='weight'):  # nn.Module refuses a plain tensor as a parameter
        with Temporarily(net.head, bias=None, weight=torch.zeros(2, 2)): pass
    assert net.head is head and net.head.bias is bias
    with pytest.raises(TypeError, match='mom'):
        with Temporarily(HyperParams(mom=0.9), lr=0.1, mom='high'): pass
    t = torch.ones(2, requires_grad=True) * 2  # not a leaf: its requires_grad cannot be turned off
    p = WithProperty()
    body = []
    with pytest.raises(RuntimeError):
        with Temporarily(p, k=9), Temporarily(t, requires_grad=False): body.append(1)
    assert body == [] and p.k == 1 and t.requires_grad

def test_temporarily_bad_input():
    with pytest.raises(ValueError, match=r'\battrs\b.*at least one'): Temporarily(Plain())
    with pytest.raises(ValueError, match=r'\battrs\b.*identifier'): Temporarily(Plain(), **{'not a name': 1})
    with pytest.raises(ValueError, match=r'\battrs\b.*identifier'): Temporarily(Plain(), **{'': 1})


# --- copy, deepcopy and pickle of every stateful class ---

def round_trips(obj):
    return copy.copy(obj), copy.deepcopy(obj), pickle.loads(pickle.dumps(obj))

def test_copies_of_sloppy_adder():
    a = SloppyAdder(1)
    for c in round_trips(a):
        assert type(c) is SloppyAdder and c is not a and c.o == 1
        c.o = 5
        assert a.o == 1

def test_copies_of_dataset():
    ds = Dataset([1, 2, 3], ['a', 'b', 'c'])
    c, d, p = round_trips(ds)
    assert c.x is ds.x  # a shallow copy shares the data, which Dataset never changes
    for other in (d, p):
        assert other.x is not ds.x and list(other) == list(ds)
        other.x.append(4); other.y.append('d')
        assert len(other) == 4 and len(ds) == 3
    c.x = [9]; assert ds.x == [1, 2, 3]

def test_copies_of_forwarder():
    learn = Learner(Model(), lr=0.1)
    c, d, p = round_trips(learn)
    assert c._target is learn._target and d._target is not learn._target and p._target is not learn._target
    for other in (c, d, p):
        assert type(other) is Learner and (other.lr, other.n_params) == (0.1, 1234)
        other.lr = 1.0
    d.train(False)
    assert learn.lr == 0.1 and learn.training is True

def test_copies_of_hyperparams_have_their_own_history():
    hps = HyperParams(lr=0.1)
    for c in round_trips(hps):
        assert c is not hps and c.history == hps.history and c.history is not hps.history
        c.lr = 0.5
        assert c.history[-1] == ('lr', 0.5) and hps.history == [('lr', 0.1)] and hps.lr == 0.1
        with pytest.raises(TypeError, match=r'\blr\b'): c.lr = 'x'  # the copy still checks

def test_copies_of_symbol_keep_identity():
    s = Symbol('copy me')
    assert all(c is s for c in round_trips(s))

def test_copies_of_timer():
    t = Timer()
    with t: pass
    for c in round_trips(t):
        assert c is not t and c.elapsed == t.elapsed and c.clock is time.perf_counter
        with c: pass
    t2 = Timer(fake_clock(0.0, 1.0))
    with t2: pass
    c = copy.deepcopy(t2)
    c.elapsed = 9
    assert t2.elapsed == 1.0
    with pytest.raises((pickle.PicklingError, AttributeError)): pickle.dumps(t2)  # a lambda clock cannot be pickled
    t3 = Timer(fake_clock(0.0, 5.0))
    with t3:
        inside = copy.copy(t3)  # a copy made inside the block is not timing anything
        assert inside._starts == [] and t3._starts == [0.0]
    assert t3.elapsed == 5.0
    with pytest.raises(RuntimeError, match='without __enter__'): inside.__exit__(None, None, None)

def test_copies_of_temporarily_are_independent():
    hps = HyperParams(lr=0.1)
    t = Temporarily(hps, lr=0.5)
    c, d, p = round_trips(t)
    assert c.obj is hps and d.obj is not hps and p.obj is not hps
    with t:
        inside = copy.copy(t)  # a copy made inside the block is not inside it
        assert inside._undos == [] and t._undos != []
        with inside: assert hps.lr == 0.5
        assert hps.lr == 0.5
    assert hps.lr == 0.1
    with d: assert d.obj.lr == 0.5 and hps.lr == 0.1  # a deep copy changes its own copy of obj
    assert d.obj.lr == 0.1
    with p: assert p.obj.lr == 0.5
    assert p.obj.lr == 0.1 and hps.lr == 0.1

def test_copies_of_handle_refused_while_open():
    log = []
    h = Handle('file', log)
    with pytest.raises(TypeError, match='open'): copy.copy(h)
    with pytest.raises(TypeError, match='open'): copy.deepcopy(h)
    with pytest.raises(TypeError, match='open'): pickle.dumps(h)
    gc.collect()
    assert log == [] and not h.closed  # the refused copies left nothing behind to close
    h.close()
    c, d, p = round_trips(h)
    for other in (c, d, p):
        assert other.closed and other.name == 'file'
        other.close(); del other
    del c, d, p
    gc.collect()
    assert log == ['file']  # closed once, by the original
