"""fdl.callbacks: the lesson's callbacks with their printed lines and values, and the event dispatcher's contract."""
import copy, io, math, pickle, subprocess, sys
from functools import partial
from pathlib import Path

import pytest

from fdl.callbacks import (make_button, slow_calculation, show_progress, make_show_progress, ProgressShowingCallback,
                           PrintStepCallback, PrintStatusCallback, PrintAfterCallback, ModifyingCallback, SlowCalculator,
                           ProgressBarCallback, Callback, CancelStep, CancelPass, CancelRun, Dispatcher)

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
    with pytest.raises(TypeError, match='on_click must be callable'):
        make_button('hi')

@pytest.mark.parametrize('handler', [lambda: None, lambda button, extra: None, lambda *, button: None])
def test_button_refuses_a_handler_that_cannot_take_the_button_before_making_one(handler, monkeypatch):
    monkeypatch.setitem(sys.modules, 'ipywidgets', None)  # refused before ipywidgets is even imported
    with pytest.raises(TypeError, match=r'on_click'):
        make_button(handler)

def test_button_without_ipywidgets_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, 'ipywidgets', None)  # as if it were not installed
    with pytest.raises(ImportError, match='pip install ipywidgets') as info:
        make_button(print)
    assert isinstance(info.value.__cause__, ImportError)

@pytest.mark.parametrize('make', [make_show_progress, ProgressShowingCallback])
@pytest.mark.parametrize('exclamation', [3, None, b'Wow'])
def test_exclamation_must_be_a_str(make, exclamation):
    with pytest.raises(TypeError, match='exclamation'):
        make(exclamation)

@pytest.mark.parametrize('kwargs, name', [(dict(desc=3), 'desc'), (dict(desc=None), 'desc'), (dict(leave='yes'), 'leave'),
                                          (dict(leave=1), 'leave')])
def test_progress_bar_checks_its_arguments(kwargs, name):
    with pytest.raises(TypeError, match=name):
        ProgressBarCallback(**kwargs)


# --- slow_calculation ---

def test_slow_calculation_returns_30():
    assert slow_calculation(delay=0) == 30

@pytest.mark.parametrize('steps', [0, 1, 3, 7])
def test_slow_calculation_sums_squares(steps):
    assert slow_calculation(steps=steps, delay=0) == sum(i*i for i in range(steps))

def test_slow_calculation_sleeps_delay_per_step(monkeypatch):
    import fdl.callbacks as module
    slept = []
    monkeypatch.setattr(module.time, 'sleep', slept.append)
    slow_calculation(steps=3, delay=0.25)
    assert slept == [0.25]*3

@pytest.mark.parametrize('run', [slow_calculation, lambda **kw: SlowCalculator(**kw).calc()])
@pytest.mark.parametrize('steps', [2.0, '5', None, True])
def test_non_integer_steps_is_a_typeerror(run, steps):
    with pytest.raises(TypeError, match='steps.*integer'):
        run(steps=steps, delay=0)

@pytest.mark.parametrize('run', [slow_calculation, lambda **kw: SlowCalculator(**kw).calc()])
def test_negative_steps_is_a_valueerror(run):
    with pytest.raises(ValueError, match='steps.*>= 0'):
        run(steps=-1, delay=0)

@pytest.mark.parametrize('run', [slow_calculation, lambda **kw: SlowCalculator(**kw).calc()])
@pytest.mark.parametrize('delay', [-0.1, -1, math.nan, math.inf])
def test_bad_delay_is_a_valueerror(run, delay):
    with pytest.raises(ValueError, match='delay'):
        run(delay=delay)

@pytest.mark.parametrize('run', [slow_calculation, lambda **kw: SlowCalculator(**kw).calc()])
@pytest.mark.parametrize('delay', ['1', None, False])
def test_delay_of_the_wrong_type_is_a_typeerror(run, delay):
    with pytest.raises(TypeError, match='delay.*number'):
        run(delay=delay)

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
    with pytest.raises(TypeError, match=r"cb\(epoch\).*missing a required argument: 'epoch'"):
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
    with pytest.raises(TypeError, match='cb must be callable'):
        slow_calculation(42, delay=0)

def test_slow_calculation_checks_event_methods_before_any_work():
    calls = []
    class WrongAfter:
        def before_calc(self, epoch): calls.append(epoch)
        def after_calc(self, epoch): pass  # slow_calculation also passes val=
    with pytest.raises(TypeError, match=r"cb.after_calc\(epoch, val=res\).*unexpected keyword argument 'val'"):
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
    monkeypatch.setattr(module.time, 'sleep', slept.append)
    SlowCalculator(steps=2, delay=0.5).calc()
    assert slept == [0.5, 0.5]

@pytest.mark.parametrize('kwargs, exc, msg', [(dict(steps=5.0), TypeError, 'steps'), (dict(delay=-2), ValueError, 'delay'),
                                              (dict(steps=-3), ValueError, 'steps')])
def test_slow_calculator_bad_numbers(kwargs, exc, msg):
    with pytest.raises(exc, match=msg): SlowCalculator(**kwargs)

def test_a_plain_function_is_refused_pointing_to_callback():
    with pytest.raises(TypeError, match=r'show_progress is a plain function.*Callback subclass with before_run\(self, host\)'):
        SlowCalculator(show_progress)
    with pytest.raises(TypeError, match='plain function'):
        SlowCalculator(lambda calc: None)

def test_slow_calculator_events_are_declared_once():
    assert SlowCalculator.events == ('before_run', 'after_run', 'cleanup_run', 'before_calc', 'after_calc', 'cleanup_calc')
    assert SlowCalculator(delay=0).cbs.events == SlowCalculator.events

def test_the_step_is_on_the_calculator():
    seen = []
    class Steps(Callback):
        def before_run(self, calc): seen.append(calc.epoch)
        def after_calc(self, calc): seen.append(calc.epoch)
    calculator = SlowCalculator(Steps(), steps=3, delay=0)
    assert calculator.epoch is None
    calculator.calc()
    assert seen == [None, 0, 1, 2]


# --- the dispatcher ---

class Recorder(Callback):
    "Logs every event it sees with the host's `res`."
    def __init__(self, name, log, order=None):
        self.name, self.log = name, log
        if order is not None: self.order = order
    def before_run(self, calc): self.log.append((self.name, 'before_run'))
    def before_calc(self, calc): self.log.append((self.name, 'before_calc', calc.epoch))
    def after_calc(self, calc): self.log.append((self.name, 'after_calc', calc.epoch, calc.res))
    def after_run(self, calc): self.log.append((self.name, 'after_run', calc.res))
    def cleanup_calc(self, calc): self.log.append((self.name, 'cleanup_calc', calc.epoch))
    def cleanup_run(self, calc): self.log.append((self.name, 'cleanup_run', calc.res))

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
                   + [(n, 'after_calc', 0, 0) for n in names] + [(n, 'cleanup_calc', 0) for n in names]
                   + [(n, 'after_run', 0) for n in names] + [(n, 'cleanup_run', 0) for n in names])

def test_order_is_kept_when_callbacks_are_added_later():
    log = []
    calculator = SlowCalculator(Recorder('late', log, order=10), steps=1, delay=0)
    calculator.cbs.add(Recorder('early', log, order=-10), Recorder('mid', log))
    assert [cb.name for cb in calculator.cbs] == ['early', 'mid', 'late']

def test_an_order_changed_after_add_takes_effect_when_the_next_level_starts():
    log = []
    class Jumper(Recorder):
        def after_calc(self, calc):
            super().after_calc(calc)
            self.order = -5  # from the next step on, Jumper runs first
    calculator = SlowCalculator([Recorder('a', log), Jumper('j', log, order=5)], steps=2, delay=0)
    calculator.calc()
    after = [entry[0] for entry in log if entry[1] == 'after_calc']
    assert after == ['a', 'j', 'j', 'a']
    assert [cb.name for cb in calculator.cbs] == ['j', 'a']
    with pytest.raises(ValueError, match=r'Jumper\.order'):  # a changed order is read again, and checked when added
        SlowCalculator(Jumper('bad', [], order=float('nan')))

def test_iteration_shows_a_changed_order_at_once():
    a, b = Recorder('a', [], order=1), Recorder('b', [], order=2)
    calculator = SlowCalculator([a, b], steps=1, delay=0)
    a.order = 3
    assert [cb.name for cb in calculator.cbs] == ['b', 'a']  # the order the next level runs them in


def test_handler_gets_the_host_and_can_change_it():
    class Double(Callback):
        def after_calc(self, calc): calc.res *= 2
    calculator = SlowCalculator(Double(), steps=3, delay=0)
    # 0 -> 0, 1 -> 2, 2+4=6 -> 12
    assert calculator.calc() == 12

def test_firing_a_misspelt_event_raises_at_once():
    calculator = SlowCalculator(delay=0)
    with pytest.raises(ValueError, match=r"event must be one of 'before_run'.*got str 'after_clac'"):
        calculator.cbs.fire('after_clac')

def test_events_fire_by_name_with_callbacks_added_later():
    log = []
    cbs = Dispatcher({'name': 'host'}, ('before_x', 'after_x', 'cleanup_x'))
    cbs.fire('after_x')  # no callbacks yet: nothing happens
    class Two(Callback):
        def __init__(self, tag): self.tag = tag
        def after_x(self, host): log.append((self.tag, host['name']))
    one = Two('one')
    cbs.add(one)
    cbs.fire('after_x')
    cbs.add(Two('two'))
    cbs.fire('after_x')
    cbs.remove(one)
    cbs.fire('after_x')
    assert log == [('one', 'host'), ('one', 'host'), ('two', 'host'), ('two', 'host')]
    with pytest.raises(AttributeError, match='size'):
        cbs.size

def test_a_misspelt_event_method_is_refused_when_added():
    class Misspelt:
        def after_clac(self, calc): pass
    with pytest.raises(ValueError, match=r"Misspelt has a method 'after_clac'.*did you mean 'after_calc'\?"):
        SlowCalculator(Misspelt())

def test_non_callable_event_attribute_is_refused():
    class Attr:
        after_calc = 3
    with pytest.raises(TypeError, match="Attr.after_calc is int 3.*'after_calc' is reserved"):
        SlowCalculator(Attr())

def test_data_stored_under_a_step_events_name_is_refused_naming_the_attribute():
    "A name without a before_/after_/cleanup_ prefix is a step the host fires: `step` is kept for its handler."
    events = ('before_batch', 'after_batch', 'cleanup_batch', 'predict', 'step')
    class Counts(Callback):
        def __init__(self): self.step = 0  # meant as a counter, but `step` is an event
        def after_batch(self, learn): self.step += 1
    with pytest.raises(TypeError, match="Counts.step is int 0.*'step' is reserved"):
        Dispatcher(object(), events, Counts())

def test_data_attributes_named_like_events_are_not_handlers():
    class StopAfter(Callback):
        def __init__(self, after_steps): self.after_steps, self.before_anything = after_steps, 'data'
        def after_calc(self, calc): return calc.epoch + 1 >= self.after_steps
    calc = SlowCalculator(StopAfter(3), delay=0)
    assert calc.calc() == 5 and len(calc.cbs) == 1

def test_a_class_instead_of_an_instance_is_refused():
    with pytest.raises(TypeError, match=r'class PrintStatusCallback.*pass an instance'):
        SlowCalculator(PrintStatusCallback)
    with pytest.raises(TypeError, match='class ModifyingCallback.*pass an instance'):
        SlowCalculator([ModifyingCallback(), ModifyingCallback])

@pytest.mark.parametrize('cls', [ProgressShowingCallback, PrintStatusCallback, PrintAfterCallback])
def test_slow_calculation_refuses_a_class_before_any_step(cls, capsys):
    with pytest.raises(TypeError, match=f'cb is the class {cls.__name__}.*pass an instance'):
        slow_calculation(cls, delay=0)
    assert lines(capsys) == []

def test_callback_with_no_event_method_is_a_typeerror():
    with pytest.raises(TypeError, match='int has no method named like an event'):
        SlowCalculator(42)
    with pytest.raises(TypeError, match='Callback has no method named like an event'):
        SlowCalculator(Callback())

@pytest.mark.parametrize('order, exc', [('first', TypeError), (True, TypeError), (None, TypeError), (math.nan, ValueError),
                                        (math.inf, ValueError), (-math.inf, ValueError)])
def test_order_must_be_a_finite_number(order, exc):
    class Odd(Callback):
        def after_calc(self, calc): pass
    odd = Odd()
    odd.order = order
    with pytest.raises(exc, match=r'Odd\.order'):
        SlowCalculator(odd)
    calc = SlowCalculator(delay=0)
    with pytest.raises(exc, match='order'):
        calc.cbs.add(odd)
    assert len(calc.cbs) == 0

@pytest.mark.parametrize('order', [-2, 0, 1.5, 10**6])
def test_finite_orders_are_accepted(order):
    class Fine(Callback):
        def after_calc(self, calc): pass
    fine = Fine()
    fine.order = order
    assert list(SlowCalculator(fine, delay=0).cbs) == [fine]


# --- events: names the host declares ---

@pytest.mark.parametrize('events, exc, words', [
    ('before_run', TypeError, 'events must be a tuple or list or dict'), (42, TypeError, 'events must be'),
    (('before_x', 1), ValueError, 'events must be Python identifiers.*1'),
    (('before_x', 'after x'), ValueError, "events must be Python identifiers.*'after x'"),
    ((), ValueError, 'events must hold at least one name'),
    (SlowCalculator.events + ('calc',), ValueError, "events: 'calc' is a level"),
    (['run', 'before_run', 'after_run', 'cleanup_run'], ValueError, "events: 'run' is a level")])
def test_events_that_are_not_names_or_that_name_a_level_are_refused(events, exc, words):
    with pytest.raises(exc, match=words):
        Dispatcher(object(), events)

def test_events_may_be_a_tuple_a_list_or_the_keys_of_a_dict():
    for events in (('after_x', 'step'), ['after_x', 'step'], {'after_x': (), 'step': ()}):
        assert Dispatcher(object(), events).events == ('after_x', 'step')  # a step's after_ event: no level


# --- handlers are checked: each is called with the host alone ---

def test_a_slow_calculation_callback_is_refused_by_the_calculator_saying_why():
    with pytest.raises(TypeError, match=r"PrintAfterCallback\.after_calc\(self, epoch, val\) must take \(self, host\)"):
        SlowCalculator(PrintAfterCallback())

def test_a_handler_with_the_wrong_arguments_is_refused_naming_it():
    class NoHost(Callback):
        def before_calc(self): pass
    with pytest.raises(TypeError, match=r"NoHost\.before_calc\(self\) must take \(self, host\)"):
        SlowCalculator(NoHost())
    class TooMany(Callback):
        def after_run(self, calc, loss): pass
    with pytest.raises(TypeError, match=r"TooMany\.after_run\(self, calc, loss\) must take \(self, host\)"):
        SlowCalculator(TooMany())

def test_handlers_with_star_args_or_defaults_are_accepted():
    seen = []
    class Flexible(Callback):
        def before_calc(self, *args): seen.append(('before', len(args)))
        def after_calc(self, calc, extra=None, **kwargs): seen.append(('after', extra, kwargs))
    assert SlowCalculator(Flexible(), steps=1, delay=0).calc() == 0
    assert seen == [('before', 1), ('after', None, {})]

def test_a_refused_handler_adds_nothing():
    calc = SlowCalculator(ModifyingCallback(), delay=0)
    with pytest.raises(TypeError):
        calc.cbs.add(Recorder('ok', []), PrintAfterCallback())
    assert len(calc.cbs) == 1

def test_true_from_an_after_handler_stops_after_all_its_handlers_ran(capsys):
    log = []
    class StopAt1(Callback):
        def after_calc(self, calc): return calc.epoch == 1
    calculator = SlowCalculator([StopAt1(), Recorder('r', log)], delay=0)
    assert calculator.calc() == 1
    assert lines(capsys) == ['stopping early']
    assert ('r', 'after_calc', 1, 1) in log and log[-2:] == [('r', 'cleanup_calc', 1), ('r', 'cleanup_run', 1)]
    assert not any(entry[1:3] == ('before_calc', 2) for entry in log)

@pytest.mark.parametrize('value, stops', [(True, True), (1, True), ('yes', True), (None, False), (False, False), (0, False), ('', False)])
def test_dispatcher_stop_rule_is_truthiness_of_an_after_return(value, stops, capsys):
    class Answer(Callback):
        def after_calc(self, calc): return value if calc.epoch == 1 else None
    assert SlowCalculator(Answer(), delay=0).calc() == (1 if stops else 30)
    assert lines(capsys) == (['stopping early'] if stops else [])

def test_true_from_a_before_handler_does_not_stop(capsys):
    class TrueBefore(Callback):
        def before_calc(self, calc): return True
    assert SlowCalculator(TrueBefore(), delay=0).calc() == 30
    assert lines(capsys) == []

def test_true_from_the_closing_event_stops_nothing_the_run_is_done(capsys):
    class TrueAfterRun(Callback):
        def after_run(self, calc): return True
    calculator = SlowCalculator(TrueAfterRun(), delay=0)
    assert calculator.calc() == 30  # the result is complete
    assert lines(capsys) == []
    assert calculator.cbs.run(lambda: None) is False

@pytest.mark.parametrize('exc, level', [(CancelRun, 'run'), (CancelStep, 'calc')])
def test_a_cancel_from_a_levels_own_after_event_reports_not_cancelled(exc, level):
    log = []
    class CancelAfter(Callback):
        order = -1
        def after_run(self, calc):
            if level == 'run': raise exc()
        def after_calc(self, calc):
            if level == 'calc' and calc.epoch == 2: raise exc()
    calculator = SlowCalculator([CancelAfter(), Recorder('r', log)], delay=0)
    assert calculator.cbs.run(calculator._steps) is False and calculator.res == 30
    assert ('r', f'cleanup_{level}', *((2,) if level == 'calc' else (30,))) in log

def test_true_from_a_cleanup_handler_does_not_stop():
    class TrueCleanup(Callback):
        def cleanup_calc(self, calc): return True
    assert SlowCalculator(TrueCleanup(), delay=0).calc() == 30

def test_cancel_run_stops_at_once_skips_after_run_and_cleans_up(capsys):
    log = []
    class Cancel(Callback):
        order = -1
        def after_calc(self, calc):
            if calc.epoch == 2: raise CancelRun()
    calculator = SlowCalculator([Cancel(), Recorder('r', log)], delay=0)
    assert calculator.calc() == 5
    assert lines(capsys) == ['stopping early']
    assert ('r', 'after_calc', 2, 5) not in log  # CancelRun skips the rest of that event
    assert log[-3:] == [('r', 'before_calc', 2), ('r', 'cleanup_calc', 2), ('r', 'cleanup_run', 5)]
    assert not any(entry[1] == 'after_run' for entry in log)  # the run never finished

def test_cancel_in_before_run_skips_every_step():
    log = []
    class CancelFirst(Callback):
        def before_run(self, calc): raise CancelRun
    calculator = SlowCalculator([CancelFirst(), Recorder('r', log)], delay=0)
    assert calculator.calc() == 0
    assert log == [('r', 'cleanup_run', 0)]

def test_cancel_step_skips_one_step_and_its_after_event():
    log = []
    class SkipTwo(Callback):
        order = -1
        def before_calc(self, calc):
            if calc.epoch == 2: raise CancelStep()
    assert SlowCalculator([SkipTwo(), Recorder('r', log)], delay=0).calc() == 30 - 4
    step2 = [entry for entry in log if entry[1].endswith('calc') and entry[2] == 2]
    assert step2 == [('r', 'cleanup_calc', 2)]
    assert ('r', 'after_run', 26) in log and log[-1] == ('r', 'cleanup_run', 26)

def test_run_returns_whether_it_was_cancelled():
    class Stop(Callback):
        def after_step(self, host): return True
    cbs = Dispatcher({}, ('before_run', 'after_step', 'after_run', 'cleanup_run'), Stop())
    assert cbs.run(lambda: None) is False
    assert cbs.run(lambda: cbs.fire('after_step')) is True

def test_run_calls_the_body_with_no_arguments_between_its_events():
    seen = []
    class Args(Callback):
        def before_x(self, host): seen.append('before')
        def after_x(self, host): seen.append('after')
        def cleanup_x(self, host): seen.append('cleanup')
    cbs = Dispatcher({}, ('before_x', 'after_x', 'cleanup_x'), Args())
    assert cbs.run(lambda: seen.append('body'), 'x', CancelStep) is False
    assert seen == ['before', 'body', 'after', 'cleanup']

def test_run_with_an_undeclared_name_raises_before_the_body():
    ran = []
    cbs = Dispatcher({}, ('before_run', 'after_run', 'cleanup_run'))
    with pytest.raises(ValueError, match="events lacks 'before_fit': 'fit' needs all"):
        cbs.run(lambda: ran.append(1), name='fit')
    assert ran == []

def test_errors_propagate_with_callback_event_and_levels_noted():
    class Exploding(Callback):
        def after_calc(self, calc):
            if calc.epoch == 2: raise KeyError('boom')
    log = []
    with pytest.raises(KeyError, match='boom') as info:
        SlowCalculator([Exploding(), Recorder('r', log)], delay=0).calc()
    assert info.value.__notes__ == ["raised in callback Exploding, event 'after_calc', in ['run', 'calc']"]
    assert log[-2:] == [('r', 'cleanup_calc', 2), ('r', 'cleanup_run', 5)]  # every level cleaned up
    assert not any(entry[1] == 'after_run' for entry in log)

def test_errors_from_a_function_stored_on_a_callback_name_the_callback():
    cb = Callback()
    def broken(calc): raise RuntimeError('nope')
    cb.after_calc = broken
    with pytest.raises(RuntimeError, match='nope') as info:
        SlowCalculator(cb, delay=0).calc()
    assert info.value.__notes__ == ["raised in callback Callback, event 'after_calc', in ['run', 'calc']"]

def test_an_error_in_a_cleanup_handler_propagates_with_its_note():
    class BadCleanup(Callback):
        def cleanup_run(self, calc): raise RuntimeError('cleanup failed')
    with pytest.raises(RuntimeError, match='cleanup failed') as info:
        SlowCalculator(BadCleanup(), delay=0).calc()
    assert info.value.__notes__ == ["raised in callback BadCleanup, event 'cleanup_run', in []"]

def test_add_and_remove():
    log = []
    calculator = SlowCalculator(steps=2, delay=0)
    rec = Recorder('r', log)
    calculator.cbs.add(rec)
    assert rec in calculator.cbs and len(calculator.cbs) == 1
    calculator.calc()
    assert len(log) == 9  # before_run, 3 events for each of the 2 steps, after_run, cleanup_run
    calculator.cbs.remove(rec)
    assert rec not in calculator.cbs and len(calculator.cbs) == 0
    calculator.calc()
    assert len(log) == 9

def test_add_refuses_duplicates_and_bad_callbacks_without_half_adding():
    log = []
    calculator = SlowCalculator(delay=0)
    rec = Recorder('r', log)
    with pytest.raises(TypeError, match='int has no method named like an event'):
        calculator.cbs.add(rec, 42)
    assert len(calculator.cbs) == 0
    with pytest.raises(ValueError, match='Recorder is added twice'):
        calculator.cbs.add(rec, rec)
    calculator.cbs.add(rec)
    with pytest.raises(ValueError, match='Recorder is added twice'):
        calculator.cbs.add(rec)
    assert len(calculator.cbs) == 1

def test_remove_a_missing_callback_removes_nothing():
    log = []
    a, b = Recorder('a', log), Recorder('b', log)
    calculator = SlowCalculator(a, delay=0)
    with pytest.raises(ValueError, match='not added'):
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
        with calculator.cbs.added(ModifyingCallback()):
            1/0
    assert len(calculator.cbs) == 0

def test_a_callback_may_remove_itself_while_running():
    class Once(Callback):
        def __init__(self): self.calls = 0
        def after_calc(self, calc):
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


# --- a level does not start inside itself ---

def test_calc_called_again_from_its_own_callback_is_refused_and_the_outer_run_is_intact():
    class Again(Callback):
        err = None
        def after_calc(self, calc):
            if calc.epoch != 2: return
            try: calc.calc()
            except RuntimeError as e: self.err = e
    again = Again()
    calculator = SlowCalculator([again, Recorder('r', [])], delay=0)
    assert calculator.calc() == 30  # the inner calc() was refused before it reset `res`
    assert "'run' is running" in str(again.err) and calculator.cbs.levels == []
    class Loud(Callback):
        def after_calc(self, calc): calc.calc()
    with pytest.raises(RuntimeError, match="'run' is running") as info:
        SlowCalculator(Loud(), delay=0).calc()
    assert "raised in callback Loud, event 'after_calc'" in info.value.__notes__[0]

def test_a_level_may_run_again_after_it_ended():
    cbs = Dispatcher({}, ('before_x', 'after_x', 'cleanup_x'))
    assert [cbs.run(lambda: None, 'x', CancelStep) for _ in range(3)] == [False] * 3
    assert cbs.levels == []


# --- the progress bar ---

def test_progress_bar_counts_the_steps():
    out = io.StringIO()
    bar = ProgressBarCallback(desc='sum', file=out)
    assert SlowCalculator(bar, delay=0).calc() == 30
    assert (bar.bar.n, bar.bar.total) == (5, 5)
    assert bar.bar.disable  # closed by cleanup_run
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
        def after_calc(self, calc): raise ValueError('bad step')
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
        def after_calc(self, calc): log.append(self.tag)
    calculator = SlowCalculator([Tagged(i, o) for i, o in enumerate(orders)], steps=1, delay=0)
    calculator.calc()
    assert log == sorted(range(len(orders)), key=lambda i: orders[i])
    assert [cb.tag for cb in calculator.cbs] == log


# --- nested levels: skip a step, end a pass, stop the run ---

LEVEL_EVENTS = tuple(f'{when}_{level}' for level in ('run', 'pass', 'step') for when in ('before', 'after', 'cleanup'))

class Loop:
    "A host with three levels: a run of 2 passes of 3 steps; `done` lists the steps whose body ran."
    def __init__(self, cbs=None): self.cbs, self.done, self.p, self.s = Dispatcher(self, LEVEL_EVENTS, cbs), [], None, None
    def go(self): return self.cbs.run(self.passes)
    def passes(self):
        for self.p in range(2): self.cbs.run(self.steps, 'pass', CancelPass)
    def steps(self):
        for self.s in range(3): self.cbs.run(self.step, 'step', CancelStep)
    def step(self): self.done.append((self.p, self.s))

class Tracer(Callback):
    "Record every event as 'event p.s'; at step `at`, raise `exc` from event `when`, or return `answer` from it."
    def __init__(self, exc=None, at=(0, 1), when='before_step', answer=None):
        self.exc, self.at, self.when, self.answer, self.log = exc, at, when, answer, []
    def record(self, event, loop):
        level = event.split('_')[1]
        self.log.append(event + (f' {loop.p}.{loop.s}' if level == 'step' else f' {loop.p}' if level == 'pass' else ''))
        if event == self.when and level == 'step' and (loop.p, loop.s) == self.at:
            if self.exc is not None: raise self.exc()
            return self.answer
for _event in LEVEL_EVENTS: setattr(Tracer, _event, lambda self, loop, _event=_event: Tracer.record(self, _event, loop))

def step_events(p, s, finished=True):
    return [f'before_step {p}.{s}'] + ([f'after_step {p}.{s}'] if finished else []) + [f'cleanup_step {p}.{s}']

def pass_events(p, steps=(0, 1, 2), finished=True):
    return ([f'before_pass {p}'] + [e for s in steps for e in step_events(p, s)]
            + ([f'after_pass {p}'] if finished else []) + [f'cleanup_pass {p}'])

def test_an_uncancelled_nested_run_fires_every_event_in_order():
    tracer = Tracer()
    loop = Loop(tracer)
    assert loop.go() is False
    assert tracer.log == ['before_run'] + pass_events(0) + pass_events(1) + ['after_run', 'cleanup_run']
    assert loop.done == [(p, s) for p in range(2) for s in range(3)]

def test_cancel_step_skips_only_that_step():
    tracer = Tracer(CancelStep)
    loop = Loop(tracer)
    assert loop.go() is False
    assert loop.done == [(0, 0), (0, 2), (1, 0), (1, 1), (1, 2)]
    assert tracer.log == (['before_run', 'before_pass 0'] + step_events(0, 0) + step_events(0, 1, finished=False)
                          + step_events(0, 2) + ['after_pass 0', 'cleanup_pass 0'] + pass_events(1)
                          + ['after_run', 'cleanup_run'])

def test_cancel_pass_ends_the_pass_and_the_next_pass_runs():
    tracer = Tracer(CancelPass)
    loop = Loop(tracer)
    assert loop.go() is False
    assert loop.done == [(0, 0), (1, 0), (1, 1), (1, 2)]
    assert tracer.log == (['before_run', 'before_pass 0'] + step_events(0, 0) + step_events(0, 1, finished=False)
                          + ['cleanup_pass 0'] + pass_events(1) + ['after_run', 'cleanup_run'])

def test_cancel_run_stops_everything_and_every_open_level_cleans_up_innermost_first():
    tracer = Tracer(CancelRun)
    loop = Loop(tracer)
    assert loop.go() is True
    assert loop.done == [(0, 0)]
    assert tracer.log == (['before_run', 'before_pass 0'] + step_events(0, 0)
                          + ['before_step 0.1', 'cleanup_step 0.1', 'cleanup_pass 0', 'cleanup_run'])

def test_cancel_from_an_after_step_handler_keeps_the_step_body():
    tracer = Tracer(CancelPass, when='after_step')
    loop = Loop(tracer)
    loop.go()
    assert loop.done == [(0, 0), (0, 1), (1, 0), (1, 1), (1, 2)]
    assert tracer.log[:9] == (['before_run', 'before_pass 0'] + step_events(0, 0)
                               + ['before_step 0.1', 'after_step 0.1', 'cleanup_step 0.1', 'cleanup_pass 0'])

def test_true_from_after_step_stops_the_whole_run_after_that_steps_handlers():
    tracer, later = Tracer(when='after_step', answer=True), Tracer()
    later.order = 1
    loop = Loop([tracer, later])
    assert loop.go() is True
    assert loop.done == [(0, 0), (0, 1)]
    assert later.log[-4:] == ['after_step 0.1', 'cleanup_step 0.1', 'cleanup_pass 0', 'cleanup_run']

@pytest.mark.parametrize('answer', [None, False, 0, ''])
def test_false_answers_go_on(answer):
    loop = Loop(Tracer(when='after_step', answer=answer))
    assert loop.go() is False and len(loop.done) == 6

def test_an_exception_passes_every_level_which_all_clean_up_and_it_propagates():
    tracer = Tracer(KeyError)
    loop = Loop(tracer)
    with pytest.raises(KeyError) as info:
        loop.go()
    assert info.value.__notes__ == ["raised in callback Tracer, event 'before_step', in ['run', 'pass', 'step']"]
    assert tracer.log[-4:] == ['before_step 0.1', 'cleanup_step 0.1', 'cleanup_pass 0', 'cleanup_run']
    assert loop.done == [(0, 0)]

def test_an_exception_in_the_body_cleans_up_and_propagates():
    tracer = Tracer()
    loop = Loop(tracer)
    def boom(): raise OSError('disk full')
    loop.step = boom
    with pytest.raises(OSError, match='disk full'):
        loop.go()
    assert tracer.log == ['before_run', 'before_pass 0', 'before_step 0.0', 'cleanup_step 0.0', 'cleanup_pass 0',
                          'cleanup_run']

@pytest.mark.parametrize('exc', [CancelStep, CancelPass, CancelRun])
@pytest.mark.parametrize('event', ['cleanup_step', 'cleanup_pass', 'cleanup_run'])
def test_a_cleanup_handler_cannot_cancel(exc, event):
    class CancelInCleanup(Callback): pass
    setattr(CancelInCleanup, event, lambda self, loop: (_ for _ in ()).throw(exc()))
    loop = Loop(CancelInCleanup())
    with pytest.raises(RuntimeError, match=f"cannot cancel: raised in callback CancelInCleanup, event '{event}'") as info:
        loop.go()
    assert type(info.value.__cause__) is exc
    assert loop.done == [(0, 0)] if event == 'cleanup_step' else len(loop.done) == (3 if event == 'cleanup_pass' else 6)

def test_a_cancel_in_cleanup_does_not_hide_the_error_that_was_passing():
    class CancelInCleanup(Callback):
        def cleanup_step(self, loop): raise CancelPass()
    loop = Loop(CancelInCleanup())
    def boom(): raise OSError('disk full')
    loop.step = boom
    with pytest.raises(RuntimeError, match='cleanup_step') as info:
        loop.go()
    assert isinstance(info.value.__cause__.__context__, OSError)

@pytest.mark.parametrize('raise_in', ['before_calc', 'after_calc', 'before_run'])
def test_a_cancel_for_a_level_that_is_not_running_is_a_runtime_error_from_it(raise_in):
    class PassInCalc(Callback): pass
    setattr(PassInCalc, raise_in, lambda self, calc: (_ for _ in ()).throw(CancelPass()))
    calculator = SlowCalculator(PassInCalc(), delay=0)
    with pytest.raises(RuntimeError, match='CancelPass cancels a level that is not running') as info:
        calculator.calc()
    cause = info.value.__cause__
    levels = ['run'] if raise_in == 'before_run' else ['run', 'calc']  # no 'pass' among them
    assert type(cause) is CancelPass
    assert cause.__notes__ == [f"raised in callback PassInCalc, event '{raise_in}', in {levels}"]
    assert calculator.cbs.levels == []  # every level that started has ended
    with pytest.raises(RuntimeError) as info:
        calculator.calc()
    assert len(info.value.__cause__.__notes__) == 1  # a new cancel gets its own note, once


# --- copies and pickles fire at the copy ---

def test_copies_and_pickles_of_a_calculator_are_independent_and_fire_at_themselves(capsys):
    calc = SlowCalculator([ModifyingCallback(), Recorder('r', [])], delay=0)
    for twin in (copy.copy(calc), copy.deepcopy(calc), pickle.loads(pickle.dumps(calc))):
        assert twin.cbs is not calc.cbs and twin.cbs.host is twin
        assert [type(cb) for cb in twin.cbs] == [ModifyingCallback, Recorder]
        assert twin.calc() == 15 and calc.res == 0
        twin.cbs.add(Recorder('extra', []))
        assert len(calc.cbs) == 2 and len(twin.cbs) == 3
        twin.steps = 2
        assert calc.steps == 5

def test_a_shallow_copy_shares_the_callbacks_a_deep_copy_does_not():
    rec = Recorder('r', [])
    calc = SlowCalculator(rec, delay=0)
    assert list(copy.copy(calc).cbs)[0] is rec
    deep = list(copy.deepcopy(calc).cbs)[0]
    assert deep is not rec and deep.log is not rec.log
    copy.deepcopy(calc).calc()
    assert rec.log == []

class Log(Callback):
    def after_x(self, host): host['log'].append(len(host['log']) + 1)

def test_copies_and_pickles_of_a_dispatcher():
    host = {'log': []}
    events = ('after_x',)
    cbs = Dispatcher(host, events, Log())
    for twin in (copy.copy(cbs), copy.deepcopy(cbs), pickle.loads(pickle.dumps(cbs))):
        assert twin is not cbs and twin.events == events and len(twin) == 1
        twin.add(Log())
        assert len(cbs) == 1
    shallow = copy.copy(cbs)
    shallow.fire('after_x')
    assert host['log'] == [1]  # a shallow copy fires at the same host
    deep = copy.deepcopy(cbs)
    deep.fire('after_x')
    assert host['log'] == [1] and deep.host['log'] == [1, 2]  # a deep copy fires at its own copy of the host

def test_pickle_needs_picklable_callbacks():
    cb = Callback()
    cb.after_calc = lambda calc: None
    calc = SlowCalculator(cb, delay=0)
    with pytest.raises((pickle.PicklingError, AttributeError, TypeError)):
        pickle.dumps(calc)

def test_progress_bar_copies_and_pickles_leave_the_bar_behind():
    bar = ProgressBarCallback(desc='sum', file=io.StringIO())
    assert SlowCalculator(bar, delay=0).calc() == 30
    for twin in (copy.copy(bar), copy.deepcopy(bar)):
        assert twin.bar is None and twin.desc == 'sum' and bar.bar is not None
        assert SlowCalculator(twin, delay=0).calc() == 30 and twin.bar.n == 5
    plain = ProgressBarCallback(desc='p')
    twin = pickle.loads(pickle.dumps(plain))
    assert (twin.desc, twin.bar, twin.leave) == ('p', None, True)

def test_other_stateful_classes_copy():
    cb = ProgressShowingCallback('Yay')
    twin = copy.deepcopy(cb)
    twin.exclamation = 'Nay'
    assert cb.exclamation == 'Yay' and pickle.loads(pickle.dumps(cb)).exclamation == 'Yay'

def test_a_callable_object_without_event_methods_is_refused():
    class Counter:
        def __call__(self, calc): pass
    with pytest.raises(TypeError, match='Counter has no method named like an event'):
        SlowCalculator(Counter(), delay=0)

def test_progress_bar_copies_share_the_stream():
    out = io.StringIO()
    bar = ProgressBarCallback(file=out)
    for twin in (copy.copy(bar), copy.deepcopy(bar)):
        assert twin.file is out and twin is not bar
    for twin in (copy.copy(ProgressBarCallback(file=sys.stderr)), copy.deepcopy(ProgressBarCallback(file=sys.stderr))):
        assert twin.file is sys.stderr


def test_a_partial_keeps_its_bound_arguments_as_a_handler():
    "functools.partial objects are handlers like any callable: the arguments they bind stay bound."
    seen = []
    def note(tag, calc): seen.append((tag, calc.epoch))
    class Cb:
        after_calc = partial(note, 'tagged')
    SlowCalculator(Cb(), steps=2, delay=0).calc()
    assert seen == [('tagged', 0), ('tagged', 1)]


def test_run_refuses_a_cancel_that_is_not_an_exception_class():
    "`run(body, 'calc', 5)` means 5 as the cancel exception: refused before the level starts, naming `cancel`."
    calc, fired = SlowCalculator(steps=1, delay=0), []
    with pytest.raises(TypeError, match='cancel must be an exception class'):
        calc.cbs.run(lambda: fired.append(1), 'calc', 5)
    assert fired == []


def test_run_refuses_a_body_that_cannot_be_called_before_any_event():
    fired = []
    class Spy(Callback):
        def before_calc(self, calc): fired.append('before')
        def cleanup_calc(self, calc): fired.append('cleanup')
    calc = SlowCalculator(Spy(), delay=0)
    with pytest.raises(TypeError, match='body must be callable'):
        calc.cbs.run('not a function', 'calc', CancelStep)
    assert fired == [] and calc.cbs.levels == []


# --- what a change to the callbacks does to events already under way ---

def test_a_callback_removed_by_an_earlier_handler_gets_no_more_calls_even_of_that_event():
    log = []
    class Remover(Callback):
        order = -1
        def before_calc(self, calc):
            if victim in calc.cbs: calc.cbs.remove(victim)
    victim = Recorder('v', log)
    calc = SlowCalculator([Remover(), victim], steps=2, delay=0)
    calc.calc()
    assert [e for e in log if e[1] != 'before_run'] == []  # removed in the first before_calc, before its turn
    assert log == [('v', 'before_run')]


def test_fire_outside_a_run_reads_order_as_it_is_now():
    log = []
    a, b = Recorder('a', log), Recorder('b', log, order=1)
    calc = SlowCalculator([a, b], delay=0)
    b.order = -1
    calc.cbs.fire('before_run')
    assert log == [('b', 'before_run'), ('a', 'before_run')]
    assert list(calc.cbs) == [b, a]


@pytest.mark.parametrize('cbs', [[None], None, [], ()])
def test_none_is_no_callback_but_none_for_the_whole_list_is_no_callbacks(cbs):
    if cbs == [None]:
        with pytest.raises(TypeError, match='NoneType has no method named like an event'):
            SlowCalculator(cbs)
    else:
        assert len(SlowCalculator(cbs).cbs) == 0


def test_events_named_twice_are_refused():
    with pytest.raises(ValueError, match="events holds 'before_x' twice"):
        Dispatcher(object(), ('before_x', 'after_x', 'before_x'))


@pytest.mark.parametrize('exc, event', [(CancelPass, 'after_run'), (CancelStep, 'before_run'),
                                        (CancelStep, 'after_run'), (CancelPass, 'cleanup_calc')])
def test_every_cancel_that_no_running_level_takes_is_a_runtime_error(exc, event):
    class Wrong(Callback): pass
    setattr(Wrong, event, lambda self, calc: (_ for _ in ()).throw(exc()))
    with pytest.raises(RuntimeError, match=f'{exc.__name__}|cannot cancel') as info:
        SlowCalculator(Wrong(), delay=0).calc()
    assert isinstance(info.value.__cause__, exc)


@pytest.mark.parametrize('events, missing', [(('before_step', 'after_step'), 'cleanup_step'),
                                             (('before_run', 'cleanup_run', 'after_x'), 'after_run')])
def test_a_level_without_all_three_events_is_refused_as_it_starts_before_its_work(events, missing):
    dispatcher, work = Dispatcher(object(), events), []
    with pytest.raises(ValueError, match=f"events lacks '{missing}'"):
        dispatcher.run(lambda: work.append(1), missing.split('_', 1)[1])
    assert work == [] and dispatcher.levels == []


@pytest.mark.parametrize('bad, exc, words', [(float('nan'), ValueError, 'B.order must be a number, got nan'),
                                             ('1', TypeError, "B.order must be a number, got str '1'"),
                                             (float('inf'), ValueError, 'B.order must be finite')])
def test_an_order_changed_to_a_non_number_after_add_is_refused_naming_it(bad, exc, words):
    class B(Callback):
        def before_run(self, calc): pass
    b = B()
    calc = SlowCalculator([B(), b], delay=0)
    b.order = bad
    with pytest.raises(exc, match=words): calc.cbs.fire('before_run')
    with pytest.raises(exc, match=words): calc.calc()
    assert calc.cbs.levels == []


def test_a_copy_keeps_what_handlers_are_called_with():
    d = Dispatcher(object(), ('before_x', 'after_x', 'cleanup_x'), call='learn')
    assert copy.deepcopy(d).call == 'learn' and pickle.loads(pickle.dumps(d)).call == 'learn'


def test_data_at_class_level_named_like_an_event_prefix_is_not_a_misspelt_method():
    class Stop(Callback):
        after_steps = 3
        def before_run(self, calc): pass
    assert len(SlowCalculator(Stop()).cbs) == 1
