"""fdl.softmax against torch over a sweep of shapes: every public numeric function, forward and forward+backward.

Logits of shape (2, 5), (64, 10), (256, 100), (1000, 1000), (4096, 1000) and (1000, 10000), float32, classes
along dim 1; `nll` reads log-probabilities of the same shapes, the binary loss one target per logit. Backward
is that of the output's sum (of the loss itself for the scalar losses). One thread. Targets: <= 4x at
<= 1e3 logits (the per-call cost), <= 1.5x from 1e5 logits, <= 1.0x there for logsumexp and cross_entropy
forward+backward.
"""
import torch
import torch.nn.functional as F
from harness import Case
from fdl.softmax import logsumexp, log_softmax, softmax, nll, cross_entropy, binary_cross_entropy_with_logits

SHAPES = [(2, 5), (64, 10), (256, 100), (1000, 1000), (4096, 1000), (1000, 10000)]
BELOW_TORCH = {'logsumexp fwd+bwd', 'cross_entropy fwd+bwd'}   # families that stay at or under 1.0x

def _pairs(t, b):
    "(name, fdl function, torch function) of one logits tensor; `t` class indices, `b` binary targets."
    return [('logsumexp', lambda x: logsumexp(x, 1), lambda x: torch.logsumexp(x, 1)),
            ('log_softmax', lambda x: log_softmax(x, 1), lambda x: F.log_softmax(x, 1)),
            ('softmax', lambda x: softmax(x, 1), lambda x: F.softmax(x, 1)),
            ('nll', lambda x: nll(x, t), lambda x: F.nll_loss(x, t)),
            ('cross_entropy', lambda x: cross_entropy(x, t), lambda x: F.cross_entropy(x, t)),
            ('binary_cross_entropy_with_logits', lambda x: binary_cross_entropy_with_logits(x, b),
             lambda x: F.binary_cross_entropy_with_logits(x, b))]

def _fwd_bwd(f, x):
    def run():
        x.grad = None
        f(x).sum().backward()
    return run

def _target(family, size):
    if size <= 1000: return 4.0
    if size >= 10**5: return 1.0 if family in BELOW_TORCH else 1.5
    return None

def cases():
    g = torch.Generator().manual_seed(0)
    for shape in SHAPES:
        logits = torch.randn(*shape, generator=g) * 3
        t = torch.randint(0, shape[1], shape[:1], generator=g)
        b = torch.rand(*shape, generator=g)
        log_probs = F.log_softmax(logits, 1)
        size = logits.numel()
        for name, ours, theirs in _pairs(t, b):
            x = log_probs if name == 'nll' else logits
            xr = x.clone().requires_grad_()
            for kind, fdl, ref in [('fwd', lambda f=ours, x=x: f(x), lambda f=theirs, x=x: f(x)),
                                   ('fwd+bwd', _fwd_bwd(ours, xr), _fwd_bwd(theirs, xr))]:
                family = f'{name} {kind}'
                yield Case(f'{family} {shape}', fdl, ref, threads=1, family=family, size=size,
                           target=_target(family, size))
