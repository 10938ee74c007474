"""fdl.activations against torch: BatchNorm against nn.BatchNorm1d/2d over a sweep of shapes, and fits on the
digits with ActivationStats against the same fits without it.

BatchNorm: (64, 32), (64, 64, 8, 8), (256, 64, 16, 16), (32, 128, 32, 32) float32, in training and evaluation
mode, forward and forward+backward (the backward of a fixed upstream gradient), one thread; target <= 1.5x.
BatchNorm checks its input and calls F.batch_norm, as nn.BatchNorm1d/2d do: the rows measure its checks, which
show only at (64, 32), where the per-call cost is the whole cost.
ActivationStats: one epoch (a training and a validation pass) of lesson 06's digits MLP (64-100-10, every
leaf layer recorded) and of lesson 07's deep MLP (8 ReLUs recorded), against the same fit without it; one
thread; target <= 1.3x. Its mean and std are fdl.stats calls, so this row moves with fdl.stats' per-call cost.
"""
import torch
from torch import nn
from harness import Case
from fdl.activations import ActivationStats, BatchNorm, deep_mlp
from fdl.learner import Learner, MetricsCB, digits_dls, digits_mlp

SHAPES = [(64, 32), (64, 64, 8, 8), (256, 64, 16, 16), (32, 128, 32, 32)]


def _bn_cases(shape, mode):
    "Forward and forward+backward rows of BatchNorm against torch's module on a `shape` batch in `mode`."
    torch.manual_seed(0)
    x, g = torch.randn(shape) * 3 + 2, torch.randn(shape)
    xg = x.clone().requires_grad_()
    ours = BatchNorm(shape[1]).train(mode == 'train')
    theirs = (nn.BatchNorm1d if len(shape) == 2 else nn.BatchNorm2d)(shape[1]).train(mode == 'train')
    with torch.no_grad(): err = (ours(x) - theirs(x)).abs().max().item()
    def fwd_bwd(bn):
        def run():
            xg.grad = None
            bn(xg).backward(g)
        return run
    size, ref = x.numel(), type(theirs).__name__
    yield Case(f'BatchNorm {mode} fwd, {shape}', lambda: ours(x), lambda: theirs(x), ref_name=f'nn.{ref}',
               family=f'BatchNorm {mode} fwd', size=size, threads=1, target=1.5,
               note=f'max |diff| {err:.1e}')
    yield Case(f'BatchNorm {mode} fwd+bwd, {shape}', fwd_bwd(ours), fwd_bwd(theirs), ref_name=f'nn.{ref}',
               family=f'BatchNorm {mode} fwd+bwd', size=size, threads=1, target=1.5)


def _fit_case(name, model, types, dls):
    "One epoch with ActivationStats(*types) against one without, on the same model and batches."
    watched = Learner(model, dls, cbs=[MetricsCB(), ActivationStats(*types)])
    plain = Learner(model, dls, cbs=[MetricsCB()])
    n = sum(1 for m in model.modules() if isinstance(m, types) or (not types and not m._modules))
    return Case(f'fit 1 epoch with ActivationStats, {name}', lambda: watched.fit(1), lambda: plain.fit(1),
                ref_name='same fit without it', family='ActivationStats fit', size=sum(p.numel() for p in
                model.parameters()), threads=1, target=1.3, min_run_time=1.0,
                note=f'{len(dls.train)} training batches, {n} layers recorded')


def cases():
    for shape in SHAPES:
        for mode in ('train', 'eval'): yield from _bn_cases(shape, mode)
    dls = digits_dls()
    torch.manual_seed(0)
    yield _fit_case('digits MLP (64-100-10)', digits_mlp(), (), dls)
    torch.manual_seed(0)
    yield _fit_case('deep MLP (8 ReLUs)', deep_mlp(), (nn.ReLU,), dls)
