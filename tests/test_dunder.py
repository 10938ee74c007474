"""fdl.dunder: each special method exercised through the syntax or built-in that triggers it."""
import copy, gc, pickle, subprocess, sys
from pathlib import Path

import pytest

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
    with pytest.raises(ValueError, match='same length, got 2 and 3'): Dataset([1, 2], 'abc')
    with pytest.raises(TypeError, match='x must be a sequence.*generator'): Dataset((i for i in range(2)), 'ab')
    with pytest.raises(TypeError, match='y must be a sequence.*int'): Dataset([1], 5)


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
    with pytest.raises(AttributeError, match="'Learner' object has no attribute 'n_param'.*'Model' target") as info:
        learn.n_param
    assert info.value.name == 'n_param' and info.value.obj is learn
    assert getattr(learn, 'n_param', 'default') == 'default'
    assert not hasattr(learn, 'n_param')

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
    with pytest.raises(AttributeError, match="'_target'"): f.anything

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
    with pytest.raises(TypeError, match=r'lr must be a real number, got'):
        hps.lr = bad
    assert hps.lr == 0.1 and hps.history == [('lr', 0.1)]
    with pytest.raises(TypeError, match='mom must be a real number'): HyperParams(mom=bad)

def test_hyperparams_history_cannot_be_assigned():
    hps = HyperParams(lr=0.1)
    with pytest.raises(AttributeError, match='history'): hps.history = 3
    assert hps.history == [('lr', 0.1)]

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
    with pytest.raises(TypeError, match='name must be a str, got int'): Symbol(3)

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
    with pytest.raises(TypeError, match='clock must be callable, got float'): Timer(1.0)

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
    assert hps.history[-2:] == [('lr', 0.1), ('mom', 0.9)]

def test_temporarily_failed_enter_rolls_back():
    hps = HyperParams(lr=0.1, mom=0.9)
    body_ran = []
    with pytest.raises(TypeError, match='mom must be a real number'):
        with Temporarily(hps, lr=0.5, mom='high'): body_ran.append(1)
    assert body_ran == [] and (hps.lr, hps.mom) == (0.1, 0.9)

def test_temporarily_missing_attribute_changes_nothing():
    hps = HyperParams(lr=0.1)
    with pytest.raises(AttributeError, match="'momentum'"):
        with Temporarily(hps, lr=0.5, momentum=0.1): pass
    assert hps.history == [('lr', 0.1)]


# --- __del__: Handle ---

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
    with pytest.raises(TypeError, match='log must be a list, got tuple'): Handle('x', ())
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
