"""fdl.callbacks: what firing events through `Dispatcher` costs, per callback and event, and in a whole loop."""
import timeit
from harness import Case
from fdl.callbacks import Callback, SlowCalculator

class NoOp(Callback):
    "A callback whose handlers do nothing, so only the dispatch is timed."
    def before_calc(self, calc, epoch): pass
    def after_calc(self, calc, epoch): pass

CALLBACK_EVENTS = 20_000  # callbacks x events in each dispatch row

def _us_per_callback_event(fn, n):
    "Best of a few quick runs of `fn`, as µs per callback-event (a cross-check written into the note)."
    return min(timeit.repeat(fn, number=3, repeat=5))/3/n*1e6

def cases():
    for n_cbs in (1, 5, 20):
        calc = SlowCalculator([NoOp() for _ in range(n_cbs)], delay=0)
        fire, n_events = calc.cbs.fire, CALLBACK_EVENTS//n_cbs
        methods = [cb.after_calc for cb in calc.cbs]
        def dispatched(fire=fire, n_events=n_events):
            for i in range(n_events): fire('after_calc', i)
        def direct(methods=methods, n_events=n_events, calc=calc):
            for i in range(n_events):
                for m in methods: m(calc, i)
        us, us_direct = (_us_per_callback_event(fn, CALLBACK_EVENTS) for fn in (dispatched, direct))
        yield Case(f'dispatch, {n_cbs} no-op callback(s) x {n_events:,} events', dispatched, direct, ref_name='direct calls',
                   note=f'{us:.3f} µs per callback-event (target < 0.25 µs; a direct call: {us_direct:.3f} µs), '
                        f'measured beforehand; also = fdl time / {CALLBACK_EVENTS:,}')

    steps, n_cbs = 10_000, 10
    calc = SlowCalculator([NoOp() for _ in range(n_cbs)], steps=steps, delay=0)
    def bare():
        res = 0
        for i in range(steps): res += i*i
        return res
    assert calc.calc() == bare()
    us = _us_per_callback_event(calc.calc, steps*2*n_cbs)
    yield Case(f'{steps:,}-step SlowCalculator, {n_cbs} no-op callbacks', calc.calc, bare, ref_name='bare loop',
               note=f'{2*n_cbs} callback-events per step (before_calc, after_calc): '
                    f'{us:.3f} µs per callback-event, dispatch and loop included')
