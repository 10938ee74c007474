"""fdl.callbacks: the lesson's callbacks with their printed lines and values, and the event dispatcher's contract."""
import io, math, subprocess, sys
from functools import partial
from pathlib import Path

import pytest

from fdl.callbacks import (make_button, slow_calculation, show_progress, make_show_progress, ProgressShowingCallback,
                           PrintStepCallback, PrintStatusCallback, PrintAfterCallback, ModifyingCallback, SlowCalculator,
                           ProgressBarCallback, Callback, CancelRun, Dispatcher)

ROOT = Path(__file__).resolve().parent.parent


def lines(capsys): return capsys.readouterr().out.splitlines()

def awesome(exclamation, steps=5): return [f"{exclamation}! We've finished epoch {i}!" for i in range(steps)]


# --- import stays light ---

def test_import_loads_no_torch_matplotlib_ipywidgets_or_tqdm():
    code = ("import sys, fdl.callbacks; "
            "print(' '.join(m for m in ('torch', 'matplotlib', 'ipywidgets', 'tqdm') if m in sys.modules))")
    out = subprocess.run([sys.executable, '-c', code], check=True, capture_output=True, text=True, cwd=ROOT).stdout
    assert out.strip() == ''

def test_button_and_progress_bar_import_their_libraries_when_used():
    code = ("import sys, fdl.callbacks as c; c.make_button(print); print('ipywidgets' in sys.modules, 'tqdm' in sys.modules); "
            "c.SlowCalculator(c.ProgressBarCallback(file=sys.stderr), delay=0).calc(); print('tqdm' in sys.modules)")
    out = subprocess.run([sys.executable, '-c', code], check=True, capture_output=True, text=True, cwd=ROOT).stdout
    assert out.split() == ['True', 'False', 'True']


# --- the button ---

def test_button_click_runs_the_handler():
    seen = []
    def handler(button):
        seen.append(button)
        button.description = f'Clicked {len(seen)}'
    button = make_button(handler, description='Press')
    assert button.description == 'Press' and seen == []
    button.click(); button.click()
    assert seen == [button, button]
    assert button.description == 'Clicked 2'

def test_button_refuses_a_handler_that_is_not_callable():
    with pytest.raises(TypeError, match='on_click must be callable, got str'):
        make_button('hi')


# --- slow_calculation ---

def test_slow_calculation_returns_30():
    assert slow_calculation(delay=0) == 30

@pytest.mark.parametrize('steps', [0, 1, 3, 7])
def test_slow_calculation_sums_squares(steps):
    assert slow_calculation(steps=steps, delay=0) == sum(i*i for i in range(steps))

def test_slow_calculation_sleeps_delay_per_step(monkeypatch):
    import fdl.callbacks as module
    slept = []
    monkeypatch.setattr(module, 'sleep', slept.append)
    slow_calculation(steps=3, delay=0.25)
    assert slept == [0.25]*3

@pytest.mark.parametrize('steps', [2.0, '5', None, True])
def test_non_integer_steps_is_a_typeerror(steps):
    with pytest.raises(TypeError, match='steps must be an integer'):
        slow_calculation(steps=steps, delay=0)

def test_negative_steps_is_a_valueerror():
    with pytest.raises(ValueError, match='steps must be >= 0, got -1'):
        slow_calculation(steps=-1, delay=0)

@pytest.mark.parametrize('delay', [-0.1, -1, math.nan, math.inf])
def test_bad_delay_is_a_valueerror(delay):
    with pytest.raises(ValueError, match='delay must be a finite number of seconds >= 0'):
        slow_calculation(delay=delay)

@pytest.mark.parametrize('delay', ['1', None, False])
def test_delay_of_the_wrong_type_is_a_typeerror(delay):
    with pytest.raises(TypeError, match='delay must be a number of seconds'):
        slow_calculation(delay=delay)

def test_bad_input_is_refused_before_any_step():
    calls = []
    for bad in (dict(steps=2.5), dict(delay=-1)):
        with pytest.raises((TypeError, ValueError)):
            slow_calculation(calls.append, **bad)
    assert calls == []

def test_show_progress_as_callback(capsys):
    assert slow_calculation(show_progress, delay=0) == 30
    assert lines(capsys) == awesome('Awesome')

def test_lambda_as_callback(capsys):
    assert slow_calculation(lambda epoch: print(f'step {epoch}'), steps=3, delay=0) == 5
    assert lines(capsys) == ['step 0', 'step 1', 'step 2']

def test_two_argument_function_is_refused_before_any_work():
    calls = []
    def two_args(exclamation, epoch): calls.append((exclamation, epoch))
    with pytest.raises(TypeError, match=r"cb\(step\): missing a required argument: 'epoch'"):
        slow_calculation(two_args, delay=0)
    assert calls == []

def test_partial_and_lambda_fix_a_two_argument_function(capsys):
    def show(exclamation, epoch): print(f"{exclamation}! We've finished epoch {epoch}!")
    assert slow_calculation(partial(show, 'OK I guess'), delay=0) == 30
    assert slow_calculation(lambda epoch: show('OK I guess', epoch), delay=0) == 30
    assert lines(capsys) == awesome('OK I guess')*2

def test_make_show_progress_is_a_closure(capsys):
    terrific = make_show_progress('Terrific')
    assert terrific.__closure__[0].cell_contents == 'Terrific'
    assert slow_calculation(terrific, delay=0) == 30
    assert slow_calculation(make_show_progress('Nice!'), steps=2, delay=0) == 1
    assert lines(capsys) == awesome('Terrific') + awesome('Nice!', 2)

def test_progress_showing_callback(capsys):
    cb = ProgressShowingCallback('Just super')
    cb('hi')
    assert slow_calculation(cb, delay=0) == 30
    assert slow_calculation(ProgressShowingCallback(), steps=1, delay=0) == 0
    assert lines(capsys) == ["Just super! We've finished epoch hi!"] + awesome('Just super') + awesome('Awesome', 1)

def test_print_step_callback(capsys):
    assert slow_calculation(PrintStepCallback(), delay=0) == 30
    assert lines(capsys) == ['About to start', 'Done step']*5

def test_kwargs_silently_swallow_a_misspelt_keyword(capsys):
    PrintStepCallback().after_calc(3, vla=14)  # the typo is taken without a word
    assert lines(capsys) == ['Done step']
    with pytest.raises(TypeError, match="missing 1 required positional argument: 'val'"):
        PrintStatusCallback().after_calc(3, vla=14)  # `val` is named, so its typo is caught

def test_print_status_callback_lines(capsys):
    assert slow_calculation(PrintStatusCallback(), delay=0) == 30
    assert lines(capsys) == ['About to start: 0', 'After 0: 0', 'About to start: 1', 'After 1: 1', 'About to start: 2',
                             'After 2: 5', 'About to start: 3', 'After 3: 14', 'About to start: 4', 'After 4: 30']

def test_print_after_callback_stops_early_at_14(capsys):
    assert slow_calculation(PrintAfterCallback(), delay=0) == 14
    assert lines(capsys) == ['After 0: 0', 'After 1: 1', 'After 2: 5', 'After 3: 14', 'stopping early']

def test_a_plain_function_returning_true_stops_too(capsys):
    assert slow_calculation(lambda epoch: epoch == 1, delay=0) == 1
    assert lines(capsys) == ['stopping early']

def test_only_true_like_returns_stop(capsys):
    assert slow_calculation(lambda epoch: 0, delay=0) == 30
    assert lines(capsys) == []

def test_any_true_value_stops_as_in_an_if(capsys):
    assert slow_calculation(lambda epoch: 1 if epoch == 2 else None, delay=0) == 5
    assert lines(capsys) == ['stopping early']

def test_slow_calculation_refuses_a_callback_with_nothing_to_call():
    with pytest.raises(TypeError, match='cb must be callable or have a before_calc or after_calc method, got int'):
        slow_calculation(42, delay=0)

def test_slow_calculation_checks_event_methods_before_any_work():
    calls = []
    class WrongAfter:
        def before_calc(self, epoch): calls.append(epoch)
        def after_calc(self, epoch): pass  # slow_calculation also passes val=
    with pytest.raises(TypeError, match=r"cb.after_calc\(step, val=total\).*unexpected keyword argument 'val'"):
        slow_calculation(WrongAfter(), delay=0)
    assert calls == []


# --- SlowCalculator and ModifyingCallback ---

def test_modifying_callback_leaves_15(capsys):
    calculator = SlowCalculator(ModifyingCallback(), delay=0)
    assert calculator.calc() == 15
    assert calculator.res == 15
    assert lines(capsys) == ['After 0: 0', 'After 1: 1', 'After 2: 6', 'After 3: 15', 'stopping early']

def test_calc_starts_from_zero_each_time(capsys):
    calculator = SlowCalculator(ModifyingCallback(), delay=0)
    assert calculator.calc() == 15 and calculator.calc() == 15
    assert SlowCalculator(delay=0).calc() == 30

def test_slow_calculator_sleeps_delay_per_step(monkeypatch):
    import fdl.callbacks as module
    slept = []
    monkeypatch.setattr(module, 'sleep', slept.append)
    SlowCalculator(steps=2, delay=0.5).calc()
    assert slept == [0.5, 0.5]

@pytest.mark.parametrize('kwargs, exc, msg', [(dict(steps=5.0), TypeError, 'steps must be an integer'),
                                              (dict(delay=-2), ValueError, 'delay must be'),
                                              (dict(steps=-3), ValueError, 'steps must be >= 0')])
def test_slow_calculator_bad_numbers(kwargs, exc, msg):
    with pytest.raises(exc, match=msg): SlowCalculator(**kwargs)

def test_slow_calculator_plain_callable_handles_after_calc():
    seen = []
    calculator = SlowCalculator(lambda calc, epoch: seen.append((calc, epoch, calc.res)), steps=3, delay=0)
    assert calculator.calc() == 5
    assert seen == [(calculator, 0, 0), (calculator, 1, 1), (calculator, 2, 5)]

def test_slow_calculator_events_are_declared_once():
    assert SlowCalculator.events == ('before_run', 'before_calc', 'after_calc', 'after_run')
    assert SlowCalculator(delay=0).cbs.events == SlowCalculator.events


# --- the dispatcher ---

class Recorder(Callback):
    "Logs every event it sees with the host's `res`."
    def __init__(self, name, log, order=None):
        self.name, self.log = name, log
        if order is not None: self.order = order
    def before_run(self, calc): self.log.append((self.name, 'before_run'))
    def before_calc(self, calc, epoch): self.log.append((self.name, 'before_calc', epoch))
    def after_calc(self, calc, epoch): self.log.append((self.name, 'after_calc', epoch, calc.res))
    def after_run(self, calc): self.log.append((self.name, 'after_run', calc.res))

def test_callback_default_order_is_zero():
    assert Callback.order == 0 and Callback().order == 0

def test_callbacks_run_in_ascending_order_ties_as_given():
    log = []
    cbs = [Recorder('c', log, order=2), Recorder('a', log), Recorder('d', log, order=2), Recorder('minus', log, order=-1.5),
           Recorder('b', log)]
    calculator = SlowCalculator(cbs, steps=1, delay=0)
    assert [cb.name for cb in calculator.cbs] == ['minus', 'a', 'b', 'c', 'd']
    calculator.calc()
    names = ['minus', 'a', 'b', 'c', 'd']
    assert log == ([(n, 'before_run') for n in names] + [(n, 'before_calc', 0) for n in names]
                   + [(n, 'after_calc', 0, 0) for n in names] + [(n, 'after_run', 0) for n in names])

def test_order_is_kept_when_callbacks_are_added_later():
    log = []
    calculator = SlowCalculator(Recorder('late', log, order=10), steps=1, delay=0)
    calculator.cbs.add(Recorder('early', log, order=-10), Recorder('mid', log))
    assert [cb.name for cb in calculator.cbs] == ['early', 'mid', 'late']

def test_handler_gets_the_host_and_can_change_it():
    class Double(Callback):
        def after_calc(self, calc, epoch): calc.res *= 2
    calculator = SlowCalculator(Double(), steps=3, delay=0)
    # 0 -> 0, 1 -> 2, 2+4=6 -> 12
    assert calculator.calc() == 12

def test_firing_a_misspelt_event_raises_at_once():
    calculator = SlowCalculator(delay=0)
    with pytest.raises(ValueError, match=r"'after_clac' is not an event of SlowCalculator. Did you mean 'after_calc'\?"):
        calculator.cbs.fire('after_clac', 0)
    with pytest.raises(AttributeError, match=r"'after_clac' is not an event of SlowCalculator. Did you mean 'after_calc'\?"):
        calculator.cbs.after_clac(0)
    with pytest.raises(ValueError, match='Its events are: before_run, before_calc, after_calc, after_run'):
        calculator.cbs.fire('zzz')

def test_events_fire_as_attributes_and_by_name_with_callbacks_added_later():
    log = []
    cbs = Dispatcher({'name': 'host'}, ['before_x', 'after_x'])
    cbs.after_x(0)  # no callbacks yet: nothing happens
    class Two(Callback):
        def __init__(self, tag): self.tag = tag
        def after_x(self, host, i): log.append((self.tag, host['name'], i))
    one = Two('one')
    cbs.add(one)
    cbs.after_x(1)
    cbs.add(Two('two'))
    cbs.fire('after_x', 2)
    cbs.after_x(3)
    cbs.remove(one)
    cbs.after_x(4)
    assert log == [('one', 'host', 1), ('one', 'host', 2), ('two', 'host', 2), ('one', 'host', 3), ('two', 'host', 3),
                   ('two', 'host', 4)]
    with pytest.raises(AttributeError, match="'Dispatcher' object has no attribute 'size'"):
        cbs.size
    assert not hasattr(cbs, 'after_y')

def test_a_misspelt_event_method_is_refused_when_added():
    class Misspelt:
        def after_clac(self, calc, epoch): pass
    with pytest.raises(ValueError, match=r"Misspelt has a method 'after_clac', but that is not an event of SlowCalculator. "
                                         r"Did you mean 'after_calc'\?"):
        SlowCalculator(Misspelt())

def test_non_callable_event_attribute_is_refused():
    class Attr:
        after_calc = 3
    with pytest.raises(TypeError, match='Attr.after_calc must be a method, got int'):
        SlowCalculator(Attr())

def test_data_attributes_named_like_events_are_not_handlers():
    class StopAfter(Callback):
        def __init__(self, after_steps): self.after_steps, self.before_anything = after_steps, 'data'
        def after_calc(self, calc, epoch): return epoch + 1 >= self.after_steps
    calc = SlowCalculator(StopAfter(3), delay=0)
    assert calc.calc() == 5 and len(calc.cbs) == 1

def test_a_class_instead_of_an_instance_is_refused():
    with pytest.raises(TypeError, match=r'PrintStatusCallback is a class: pass an instance, PrintStatusCallback\(\)'):
        SlowCalculator(PrintStatusCallback)
    with pytest.raises(TypeError, match='is a class'):
        SlowCalculator([ModifyingCallback(), ModifyingCallback])

def test_callback_with_no_event_method_and_not_callable_is_a_typeerror():
    with pytest.raises(TypeError, match='int is neither callable nor has a method for any event of SlowCalculator'):
        SlowCalculator(42)
    with pytest.raises(TypeError, match='Callback is neither callable nor has a method'):
        SlowCalculator(Callback())

def test_without_default_event_plain_functions_are_refused():
    with pytest.raises(TypeError, match='show_progress has no method for any event of dict: before_x, after_x'):
        Dispatcher({}, ['before_x', 'after_x'], show_progress)

def test_bad_order_is_a_typeerror():
    class Odd(Callback):
        order = 'first'
        def after_calc(self, calc, epoch): pass
    with pytest.raises(TypeError, match="Odd.order must be a number, got 'first'"):
        SlowCalculator(Odd())

def test_event_names_and_default_event_are_checked():
    with pytest.raises(ValueError, match="must start with 'before_' or 'after_', got \\['on_step'\\]"):
        Dispatcher({}, ['before_run', 'on_step'])
    with pytest.raises(ValueError, match="default_event 'after_step' is not one of the events"):
        Dispatcher({}, ['before_run', 'after_run'], default_event='after_step')

def test_true_from_an_after_handler_stops_after_all_its_handlers_ran(capsys):
    log = []
    class StopAt1(Callback):
        def after_calc(self, calc, epoch): return epoch == 1
    calculator = SlowCalculator([StopAt1(), Recorder('r', log)], delay=0)
    assert calculator.calc() == 1
    assert lines(capsys) == ['stopping early']
    assert ('r', 'after_calc', 1, 1) in log and log[-1] == ('r', 'after_run', 1)
    assert not any(entry[1:3] == ('before_calc', 2) for entry in log)

@pytest.mark.parametrize('value, stops', [(True, True), (1, True), ('yes', True), (None, False), (False, False), (0, False), ('', False)])
def test_dispatcher_stop_rule_is_truthiness_of_an_after_return(value, stops, capsys):
    class Answer(Callback):
        def after_calc(self, calc, epoch): return value if epoch == 1 else None
    assert SlowCalculator(Answer(), delay=0).calc() == (1 if stops else 30)
    assert lines(capsys) == (['stopping early'] if stops else [])

def test_true_from_a_before_handler_does_not_stop(capsys):
    class TrueBefore(Callback):
        def before_calc(self, calc, epoch): return True
    assert SlowCalculator(TrueBefore(), delay=0).calc() == 30
    assert lines(capsys) == []

def test_true_from_the_closing_event_is_harmless(capsys):
    class TrueAfterRun(Callback):
        def after_run(self, calc): return True
    assert SlowCalculator(TrueAfterRun(), delay=0).calc() == 30
    assert lines(capsys) == []

def test_cancel_run_stops_at_once_and_after_run_still_fires(capsys):
    log = []
    class Cancel(Callback):
        order = -1
        def after_calc(self, calc, epoch):
            if epoch == 2: raise CancelRun()
    calculator = SlowCalculator([Cancel(), Recorder('r', log)], delay=0)
    assert calculator.calc() == 5
    assert lines(capsys) == ['stopping early']
    assert ('r', 'after_calc', 2, 5) not in log  # CancelRun skips the rest of that event
    assert log[-1] == ('r', 'after_run', 5)

def test_cancel_in_before_run_skips_every_step():
    log = []
    class CancelFirst(Callback):
        def before_run(self, calc): raise CancelRun
    calculator = SlowCalculator([CancelFirst(), Recorder('r', log)], delay=0)
    assert calculator.calc() == 0
    assert log == [('r', 'after_run', 0)]

def test_run_returns_whether_it_was_stopped():
    cbs = Dispatcher({}, ['before_run', 'after_step', 'after_run'], lambda host: True, default_event='after_step')
    assert cbs.run(lambda: None) is False
    assert cbs.run(lambda: cbs.fire('after_step')) is True

def test_run_with_an_undeclared_name_raises_before_the_body():
    ran = []
    cbs = Dispatcher({}, ['before_run', 'after_run'])
    with pytest.raises(ValueError, match="'before_fit' is not an event of dict"):
        cbs.run(lambda: ran.append(1), name='fit')
    assert ran == []

def test_errors_propagate_with_callback_and_event_noted():
    class Exploding(Callback):
        def after_calc(self, calc, epoch):
            if epoch == 2: raise KeyError('boom')
    log = []
    with pytest.raises(KeyError, match='boom') as info:
        SlowCalculator([Exploding(), Recorder('r', log)], delay=0).calc()
    assert info.value.__notes__ == ["raised in callback Exploding, event 'after_calc'"]
    assert log[-1] == ('r', 'after_run', 5)  # cleanup still ran

def test_errors_from_plain_functions_name_the_function():
    def broken(calc, epoch): raise RuntimeError('nope')
    with pytest.raises(RuntimeError, match='nope') as info:
        SlowCalculator(broken, delay=0).calc()
    assert info.value.__notes__ == ["raised in callback test_errors_from_plain_functions_name_the_function.<locals>.broken, "
                                    "event 'after_calc'"]

def test_wrong_handler_signature_is_noted():
    with pytest.raises(TypeError, match='takes 1 positional argument but 2 were given') as info:
        SlowCalculator(show_progress, delay=0).calc()
    assert info.value.__notes__ == ["raised in callback show_progress, event 'after_calc'"]

def test_add_and_remove():
    log = []
    calculator = SlowCalculator(steps=2, delay=0)
    rec = Recorder('r', log)
    assert calculator.cbs.add(rec) is calculator.cbs
    assert rec in calculator.cbs and len(calculator.cbs) == 1
    calculator.calc()
    assert len(log) == 6
    calculator.cbs.remove(rec)
    assert rec not in calculator.cbs and len(calculator.cbs) == 0
    calculator.calc()
    assert len(log) == 6

def test_add_refuses_duplicates_and_bad_callbacks_without_half_adding():
    log = []
    calculator = SlowCalculator(delay=0)
    rec = Recorder('r', log)
    with pytest.raises(TypeError, match='int is neither callable'):
        calculator.cbs.add(rec, 42)
    assert len(calculator.cbs) == 0
    with pytest.raises(ValueError, match='Recorder is already added'):
        calculator.cbs.add(rec, rec)
    calculator.cbs.add(rec)
    with pytest.raises(ValueError, match='Recorder is already added'):
        calculator.cbs.add(rec)
    assert len(calculator.cbs) == 1

def test_remove_a_missing_callback_removes_nothing():
    log = []
    a, b = Recorder('a', log), Recorder('b', log)
    calculator = SlowCalculator(a, delay=0)
    with pytest.raises(ValueError, match='not among the callbacks: Recorder'):
        calculator.cbs.remove(a, b)
    assert list(calculator.cbs) == [a]

def test_added_for_a_with_block(capsys):
    calculator = SlowCalculator(delay=0)
    with calculator.cbs.added(ModifyingCallback()) as cbs:
        assert cbs is calculator.cbs and len(cbs) == 1
        assert calculator.calc() == 15
    assert len(calculator.cbs) == 0
    assert calculator.calc() == 30

def test_added_removes_even_when_the_block_fails():
    calculator = SlowCalculator(delay=0)
    with pytest.raises(ZeroDivisionError):
        with calculator.cbs.added(PrintAfterCallback()):
            1/0
    assert len(calculator.cbs) == 0

def test_a_callback_may_remove_itself_while_running():
    class Once(Callback):
        def __init__(self): self.calls = 0
        def after_calc(self, calc, epoch):
            self.calls += 1
            calc.cbs.remove(self)
    once = Once()
    calculator = SlowCalculator(delay=0)
    with calculator.cbs.added(once):
        assert calculator.calc() == 30
    assert once.calls == 1 and len(calculator.cbs) == 0

def test_repr_lists_callbacks_in_order():
    log = []
    calculator = SlowCalculator([Recorder('x', log, order=1), ModifyingCallback()], delay=0)
    assert repr(calculator.cbs) == 'Dispatcher(SlowCalculator: ModifyingCallback, Recorder)'


# --- the progress bar ---

def test_progress_bar_counts_the_steps():
    out = io.StringIO()
    bar = ProgressBarCallback(desc='sum', file=out)
    assert SlowCalculator(bar, delay=0).calc() == 30
    assert (bar.bar.n, bar.bar.total) == (5, 5)
    assert bar.bar.disable  # closed by after_run
    text = out.getvalue()
    assert 'sum' in text and '5/5' in text and 'res=30' in text

def test_progress_bar_stops_where_the_run_stopped(capsys):
    out = io.StringIO()
    bar = ProgressBarCallback(file=out)
    assert SlowCalculator([ModifyingCallback(), bar], delay=0).calc() == 15
    assert (bar.bar.n, bar.bar.total) == (4, 5) and bar.bar.disable
    assert '4/5' in out.getvalue()

def test_progress_bar_cancelled_before_it_started_stops_cleanly(capsys):
    class CancelFirst(Callback):
        order = -1
        def before_run(self, calc): raise CancelRun
    bar = ProgressBarCallback(file=io.StringIO())
    assert SlowCalculator([CancelFirst(), bar], delay=0).calc() == 0
    assert bar.bar is None and lines(capsys) == ['stopping early']

def test_progress_bar_closes_when_a_callback_fails():
    class Fail(Callback):
        def after_calc(self, calc, epoch): raise ValueError('bad step')
    bar = ProgressBarCallback(file=io.StringIO())
    with pytest.raises(ValueError, match='bad step'):
        SlowCalculator([bar, Fail()], delay=0).calc()
    assert bar.bar.n == 1 and bar.bar.disable


# --- order, for any orders ---

from hypothesis import given, settings, strategies as st

@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(-3, 3), max_size=8))
def test_run_order_is_a_stable_sort_by_order(orders):
    log = []
    class Tagged(Callback):
        def __init__(self, tag, order): self.tag, self.order = tag, order
        def after_calc(self, calc, epoch): log.append(self.tag)
    calculator = SlowCalculator([Tagged(i, o) for i, o in enumerate(orders)], steps=1, delay=0)
    calculator.calc()
    assert log == sorted(range(len(orders)), key=lambda i: orders[i])
    assert [cb.tag for cb in calculator.cbs] == log
