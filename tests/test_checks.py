"fdl.checks: each check accepts what it should, normalizes it, and refuses the rest naming the argument."
import math
import numpy as np
import pytest
import torch
from fdl.checks import (check_handlers, check_writable, check_bool, check_broadcasts, check_call, check_callable, check_choice, check_class_indices,
                        check_class_target, check_dim, check_dims, check_int, check_names, check_number,
                        check_probabilities, check_reduction, check_sequence, check_shape, check_tensor, check_type,
                        has_values)


def test_bool():
    assert check_bool(False, 'keepdim') is False
    for bad in (0, 1, 'no', None, np.bool_(True)):
        with pytest.raises(TypeError, match='keepdim'): check_bool(bad, 'keepdim')


def test_int_accepts_integers_and_refuses_bools_floats_and_ranges():
    assert check_int(np.int64(3), 'steps') == 3 and type(check_int(np.int64(3), 'steps')) is int
    assert check_int(torch.tensor(4), 'steps') == 4
    for bad in (True, 2.0, '3', None, torch.tensor(2.0)):
        with pytest.raises(TypeError, match='steps'): check_int(bad, 'steps')
    with pytest.raises(ValueError, match=r'steps.*>= 0'): check_int(-1, 'steps', lo=0)
    with pytest.raises(ValueError, match=r'steps.*\[0, 5\]'): check_int(6, 'steps', lo=0, hi=5)


@pytest.mark.parametrize('bad, error, word', [
    (float('nan'), ValueError, 'nan'), (math.inf, ValueError, 'finite'), (-math.inf, ValueError, 'finite'),
    (True, TypeError, 'number'), ('1', TypeError, 'number'), (None, TypeError, 'number'), (1j, TypeError, 'number'),
    (-0.5, ValueError, '>= 0')])
def test_number_refuses_nan_inf_bools_and_out_of_range(bad, error, word):
    with pytest.raises(error, match=rf'correction.*{word}|{word}.*correction'): check_number(bad, 'correction', lo=0)


def test_number_ranges_open_and_closed():
    assert check_number(0, 'eps', lo=0) == 0
    with pytest.raises(ValueError, match=r'eps must be > 0'): check_number(0, 'eps', lo=0, lo_open=True)
    with pytest.raises(ValueError, match=r'mom must be in \[0, 1\]'): check_number(1.5, 'mom', lo=0, hi=1)
    assert check_number(math.inf, 'patience', finite=False) == math.inf
    with pytest.raises(ValueError, match='nan'): check_number(float('nan'), 'patience', finite=False)


def test_choice_and_type():
    assert check_choice('sum', 'reduction', ('none', 'mean', 'sum')) == 'sum'
    with pytest.raises(ValueError, match=r"reduction must be one of 'none', 'mean', 'sum'"): check_choice('avg', 'reduction', ('none', 'mean', 'sum'))
    assert check_choice(None, 'default_event', (None, 'after_calc')) is None
    with pytest.raises(TypeError, match='name must be a str'): check_type(3, 'name', str)


def test_callables():
    assert check_callable(len, 'cb') is len
    with pytest.raises(TypeError, match='on_click must be callable'): check_callable(42, 'on_click')
    with pytest.raises(TypeError, match=r'cb\.after_calc\(epoch, val=res\)'):
        check_call(lambda epoch: None, 'cb.after_calc(epoch, val=res)', 0, val=0)
    assert check_call(lambda epoch, val: None, 'cb.after_calc(epoch, val=res)', 0, val=0) is not None


def test_tensors_and_shapes():
    x = torch.zeros(2, 3)
    assert check_tensor(x, 'x', floating=True, ndim=2) is x
    with pytest.raises(TypeError, match='x must be a torch.Tensor'): check_tensor([1.], 'x')
    with pytest.raises(TypeError, match='logits.*floating'): check_tensor(torch.arange(3), 'logits', floating=True)
    with pytest.raises(TypeError, match='x.*real'): check_tensor(torch.zeros(2, dtype=torch.complex64), 'x')
    with pytest.raises(ValueError, match='log_probs.*at least 1'): check_tensor(torch.tensor(1.), 'log_probs', ndim=1)
    with pytest.raises(ValueError, match=r'y must have shape \(2, 3\)'): check_shape(torch.zeros(3), 'y', (2, 3))
    assert check_broadcasts(torch.zeros(3), 'pos_weight', (2, 3)) is not None
    with pytest.raises(ValueError, match='weight.*does not broadcast'): check_broadcasts(torch.zeros(4), 'weight', (2, 3))
    with pytest.raises(ValueError, match='weight.*does not broadcast'): check_broadcasts(torch.zeros(2, 2, 3), 'weight', (2, 3))


def test_dims_follow_torch():
    assert check_dim(-1, (2, 3)) == 1 and check_dim(0, ()) == 0 and check_dim(-1, ()) == 0
    assert check_dims(None, (2, 3, 4)) == (0, 1, 2) and check_dims([2, -3], (2, 3, 4)) == (0, 2)
    with pytest.raises(IndexError, match='dim=2 is out of range'): check_dim(2, (2, 3))
    with pytest.raises(TypeError, match='dim'): check_dim(1.0, (2, 3))
    with pytest.raises(TypeError, match='dim'): check_dim((0,), (2, 3))
    with pytest.raises(ValueError, match='twice'): check_dims((0, -2), (2, 3))
    with pytest.raises(ValueError, match='names no dimension'): check_dims((), (2, 3))


def test_has_values_is_false_on_meta_and_under_torch_func():
    seen = []
    def f(x):
        seen.append(has_values(x))
        return x.sum()
    assert has_values(torch.ones(2)) and not has_values(torch.ones(2, device='meta'))
    torch.func.grad(f)(torch.ones(3)); torch.func.vmap(f)(torch.ones(2, 3))
    assert seen == [False, False]


def test_class_indices_read_values_only_when_they_exist():
    t = torch.tensor([0, 2, -100])
    assert check_class_indices(t, 'target', 3, (3,), ignore_index=-100) is t
    with pytest.raises(ValueError, match=r'target holds class index 3'): check_class_indices(torch.tensor([3]), 'target', 3)
    with pytest.raises(TypeError, match='target.*integer'): check_class_indices(torch.tensor([0.]), 'target', 3)
    with pytest.raises(ValueError, match='target must have shape'): check_class_indices(t, 'target', 3, (2,))
    meta = torch.full((3,), 7, dtype=torch.long, device='meta')  # out of range, but there are no values to read
    assert check_class_indices(meta, 'target', 3) is meta


def test_probabilities():
    p = torch.tensor([[0.25, 0.75], [1., 0.]])
    assert check_probabilities(p, 'target', dim=1) is p
    with pytest.raises(ValueError, match='target.*negative'): check_probabilities(torch.tensor([1.5, -0.5]), 'target')
    with pytest.raises(ValueError, match='target.*nan'): check_probabilities(torch.tensor([float('nan'), 1.]), 'target')
    with pytest.raises(ValueError, match='target.*sum'): check_probabilities(torch.tensor([0.5, 0.4]), 'target')
    assert check_probabilities(torch.tensor([0.5, 0.4], device='meta'), 'target') is not None


def test_class_target_checks_ignore_index_and_weight_with_it():
    with pytest.raises(ValueError, match='ignore_index'):
        check_class_target(torch.tensor([[0.5, 0.5]]), 'target', (1, 2), ignore_index=1)
    with pytest.raises(ValueError, match=r'weight must have shape \(2,\)'):
        check_class_target(torch.tensor([1]), 'target', (1, 2), weight=torch.ones(3))
    with pytest.raises(TypeError, match='ignore_index'): check_class_target(torch.tensor([1]), 'target', (1, 2), ignore_index=0.5)


def test_sequences_and_names():
    assert check_sequence([1, 2], 'x', 2) == [1, 2]
    for bad in ({1: 2}, {1, 2}, iter([1]), 3, torch.tensor(1.)):
        with pytest.raises(TypeError, match='x must be a sequence'): check_sequence(bad, 'x')
    with pytest.raises(ValueError, match='y must have length 2'): check_sequence([1], 'y', 2)
    with pytest.raises(ValueError, match='attrs'): check_names({}, 'attrs')
    with pytest.raises(ValueError, match='attrs.*identifiers'): check_names(['a b'], 'attrs')


def test_reduction():
    x = torch.zeros(2, 3)
    assert check_reduction(x, 'x', 1, False, 1) == ((1,), 3)
    assert check_reduction(torch.tensor(2.), 'x') == ((), 1)
    with pytest.raises(ValueError, match='correction.*nan|nan.*correction'): check_reduction(x, 'x', correction=float('nan'))
    with pytest.raises(ValueError, match='correction=3.*n=3'): check_reduction(x, 'x', 1, correction=3)
    with pytest.raises(ValueError, match='x has no values'): check_reduction(torch.zeros(0, 3), 'x', 0)
    with pytest.raises(TypeError, match='keepdim'): check_reduction(x, 'x', keepdim='no')


def test_exceptions():
    from fdl.checks import check_exceptions
    assert check_exceptions(KeyError, 'cancel') is KeyError and check_exceptions((KeyError, OSError), 'cancel') == (KeyError, OSError)
    for bad in (5, (), 'KeyError', (KeyError, int), KeyError()):
        with pytest.raises(TypeError, match='cancel must be an exception class'): check_exceptions(bad, 'cancel')


def test_check_handlers_refuses_what_a_loop_could_not_call():
    from fdl.checks import check_handlers
    events = ('before_fit', 'after_batch', 'step')
    class Stores:
        def __init__(self): self.step = 0
        def after_batch(self, learn): pass
    with pytest.raises(TypeError, match="'step' is reserved"): check_handlers(Stores(), 'cbs[1]', events)
    class Bare:
        def after_batch(self): pass
    with pytest.raises(TypeError, match=r'cbs\[0\]\.after_batch.*must take \(self, learn\)'):
        check_handlers(Bare(), 'cbs[0]', events)
    with pytest.raises(TypeError, match='plain function'): check_handlers(lambda learn: None, 'cbs[0]', events)
    class Misspelt:
        def befor_fit(self, learn): pass
        def before_fti(self, learn): pass
    with pytest.raises(ValueError, match="did you mean 'before_fit'"): check_handlers(Misspelt(), 'cb', events)


def test_check_writable_and_importable(tmp_path):
    import sys
    from fdl.checks import check_importable, check_writable
    (tmp_path / 'keep.pt').write_text('x')
    assert check_writable(tmp_path / 'keep.pt', 'out') == tmp_path / 'keep.pt'
    assert (tmp_path / 'keep.pt').read_text() == 'x'          # an existing file is left as it was
    with pytest.raises(ValueError, match='out.*directory'): check_writable(tmp_path, 'out')
    with pytest.raises(ValueError, match='out.*cannot be written'): check_writable(tmp_path / 'a' / 'b.pt', 'out')
    assert check_importable('json', 'saving') is None
    sys.modules['fdl_hidden_pkg'] = None
    try:
        with pytest.raises(ModuleNotFoundError, match='progress bars needs fdl_hidden_pkg'):
            check_importable('fdl_hidden_pkg', 'progress bars')
    finally: del sys.modules['fdl_hidden_pkg']


def test_check_names_refuses_a_name_given_twice():
    with pytest.raises(ValueError, match="events holds 'before_x' twice"):
        check_names(('before_x', 'after_x', 'before_x'), 'events')


@pytest.mark.parametrize('cb', [None, 42, object()])
def test_check_handlers_refuses_an_object_that_handles_no_event(cb):
    with pytest.raises(TypeError, match=r'cb has no method named like an event.*before_fit\(self, learn\)'):
        check_handlers(cb, 'cb', ('before_fit', 'after_fit', 'step'))


def test_check_writable_refuses_a_path_ending_in_a_slash_even_if_it_does_not_exist(tmp_path):
    with pytest.raises(ValueError, match="out=.*new/' is a directory"):
        check_writable(str(tmp_path / 'new') + '/', 'out')
    assert not (tmp_path / 'new').exists()
