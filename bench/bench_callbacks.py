"""fdl.callbacks: what firing events through `Dispatcher` costs, per callback and event, and in a whole nested run."""
from harness import Case
from fdl.callbacks import Callback, CancelStep, SlowCalculator

class NoOp(Callback):
    "A callback whose handlers do nothing, so only the dispatch is timed."
    def before_calc(self, calc): pass
    def after_calc(self, calc): pass

CALLBACK_EVENTS = 20_000  # callbacks x events in each dispatch row
TARGET = 0.5e-6           # seconds per callback-event

def direct_calls(calc, n_events):
    "The reference: each callback's `after_calc` called by hand, no dispatcher."
    methods = [cb.after_calc for cb in calc.cbs]
    def direct():
        for i in range(n_events):
            for m in methods: m(calc)
    return direct

def cases():
    for n_cbs in (1, 5, 20):
        calc = SlowCalculator([NoOp() for _ in range(n_cbs)], delay=0)
        fire, n_events = calc.cbs.fire, CALLBACK_EVENTS//n_cbs
        def events(fire=fire, n_events=n_events):
            for i in range(n_events): fire('after_calc')
        def dispatched(run=calc.cbs.run, events=events):
            run(events, 'calc', CancelStep)  # inside a level, as a host fires its events
        yield Case(f'fire, {n_cbs} no-op callback(s) x {n_events:,} events', dispatched, direct_calls(calc, n_events),
                   ref_name='direct calls', per=CALLBACK_EVENTS, per_target=TARGET,
                   note="per op = one handler called for one event, loop included")

    steps, n_cbs = 10_000, 10
    calc = SlowCalculator([NoOp() for _ in range(n_cbs)], steps=steps, delay=0)
    def bare():
        res = 0
        for i in range(steps): res += i*i
        return res
    assert calc.calc() == bare()
    yield Case(f'{steps:,}-step SlowCalculator, {n_cbs} no-op callbacks', calc.calc, bare, ref_name='bare loop',
               per=steps*2*n_cbs, note=f'per op = one of the {2*n_cbs} callback-events of a step, each step a nested level')
