"""fdl.activations against torch: BatchNorm forward+backward against nn.BatchNorm2d; a digits fit with ActivationStats against the same fit without."""
import torch
from torch import nn
from harness import Case
from fdl.activations import ActivationStats, BatchNorm, deep_mlp
from fdl.learner import Learner, MetricsCB, digits_dls


def cases():
    torch.manual_seed(0)
    x, g = torch.randn(256, 64, 16, 16, requires_grad=True), torch.randn(256, 64, 16, 16)
    ours, theirs = BatchNorm(64), nn.BatchNorm2d(64)
    def fdl_bn(): ours(x).backward(g)
    def ref_bn(): theirs(x).backward(g)
    with torch.no_grad(): err = (ours(x) - theirs(x)).abs().max().item()
    yield Case('BatchNorm fwd+bwd, (256, 64, 16, 16) float32, train', fdl_bn, ref_bn, ref_name='nn.BatchNorm2d',
               threads=1, target=1.5, note=f'max |diff| of outputs {err:.1e}', min_run_time=1.0)

    dls = digits_dls()
    model = deep_mlp()
    watched = Learner(model, dls, cbs=[MetricsCB(), ActivationStats(nn.ReLU)])
    plain = Learner(model, dls, cbs=[MetricsCB()])
    yield Case('fit 1 epoch, deep digits MLP (8x50), with ActivationStats(nn.ReLU)', lambda: watched.fit(1), lambda: plain.fit(1),
               ref_name='same fit without it', threads=1, target=1.3,
               note=f'{len(dls.train)} training batches, 8 layers recorded', min_run_time=1.0)
