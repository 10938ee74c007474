"""fdl.learner against a hand-written torch loop: one epoch on the digits (a training and a validation pass), same work."""
import time
import torch
from torch.utils.benchmark.utils.common import set_torch_threads
from harness import Case
from fdl.learner import DataLoaders, Learner, MetricsCB, ProgressCB, digits_dls, digits_mlp
from fdl.softmax import cross_entropy


def hand_loop(model, opt, dls):
    "The same epoch as `Learner.fit(1)` with `MetricsCB`, written plainly: it sums the loss and the correct predictions itself."
    for training, dl in ((True, dls.train), (False, dls.valid)):
        model.train(training)
        loss_sum, correct, n = torch.zeros(()), torch.zeros(()), 0
        with torch.set_grad_enabled(training):
            for xb, yb in dl:
                preds = model(xb)
                loss = cross_entropy(preds, yb)
                if training:
                    loss.backward(); opt.step(); opt.zero_grad()
                loss_sum += loss.detach() * len(yb); correct += (preds.detach().argmax(1) == yb).sum(); n += len(yb)
        (loss_sum / n).item(), (correct / n).item()
    model.train()


def overhead_per_batch(n=500, rounds=7) -> float:
    "Seconds the Learner adds per batch: a tiny model on `n` one-item batches, fit against the hand loop; fastest of `rounds`."
    torch.manual_seed(0)
    x, y = torch.randn(n, 4), torch.randint(0, 2, (n,))
    batches = list(zip(x.split(1), y.split(1)))
    dls = DataLoaders(batches, batches[:1])
    model, twin = torch.nn.Linear(4, 2), torch.nn.Linear(4, 2)
    learn, opt = Learner(model, dls, cbs=[MetricsCB(), ProgressCB(silent=True)]), torch.optim.SGD(twin.parameters(), lr=0.1)
    best = {'fdl': float('inf'), 'ref': float('inf')}
    with set_torch_threads(1):
        for _ in range(rounds):  # the two sides alternate, so a busy moment slows both
            for side, fn in (('fdl', lambda: learn.fit(1)), ('ref', lambda: hand_loop(twin, opt, dls))):
                t = time.perf_counter(); fn(); best[side] = min(best[side], time.perf_counter() - t)
    return (best['fdl'] - best['ref']) / (n + 1)


def cases():
    dls = digits_dls()
    torch.manual_seed(0)
    model = digits_mlp()
    twin = digits_mlp(); twin.load_state_dict(model.state_dict())
    learn = Learner(model, dls, cbs=[MetricsCB(), ProgressCB(silent=True)])
    opt = torch.optim.SGD(twin.parameters(), lr=0.1)
    batches = len(dls.train) + len(dls.valid)

    def fdl(): learn.fit(1)
    def ref(): hand_loop(twin, opt, dls)

    note = (f'{batches} batches per epoch; callbacks and dispatcher add about {overhead_per_batch() * 1e6:.0f} µs per batch '
            '(fastest of 7 alternating fits of a tiny model on 500 one-item batches)')
    yield Case('fit 1 epoch, digits MLP, MetricsCB + silent ProgressCB', fdl, ref, ref_name='hand-written loop',
               threads=1, target=1.15, note=note, per=batches, min_run_time=1.0)
