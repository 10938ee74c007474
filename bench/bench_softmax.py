"""Benchmarks for `fdl.softmax` against torch: cross-entropy forward+backward, log-softmax forward, peak memory."""
import torch
import torch.nn.functional as F
from harness import Case
from fdl.softmax import cross_entropy, log_softmax, logsumexp

SHAPE = (4096, 1000)

def _inputs():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(*SHAPE, generator=g).requires_grad_()
    target = torch.randint(0, SHAPE[1], SHAPE[:1], generator=g)
    return logits, target

def _forward_backward(loss_fn, logits, target):
    def run():
        logits.grad = None
        loss_fn(logits, target).backward()
    return run

def peak_extra_bytes(run) -> int:
    "Peak bytes held by torch's CPU allocator during `run()`, above what was held before it."
    from torch.profiler import profile, ProfilerActivity
    run()                                           # warm up outside the measurement
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof: run()
    live = peak = 0
    events = [e for e in prof.profiler.kineto_results.events() if e.name() == '[memory]']
    for ev in sorted(events, key=lambda e: e.start_ns()):
        live += ev.nbytes()                         # signed: + for an allocation, - for a free
        peak = max(peak, live)
    return peak

def memory_note():
    logits, target = _inputs()
    mb = lambda f: peak_extra_bytes(_forward_backward(f, logits, target)) / 2**20
    ours, theirs = mb(cross_entropy), mb(F.cross_entropy)
    return f'peak extra memory fwd+bwd: fdl {ours:.1f} MB, torch {theirs:.1f} MB (logits {logits.numel()*4/2**20:.1f} MB)'

def cases():
    logits, target = _inputs()
    x = logits.detach()
    note = memory_note()
    err = (log_softmax(x) - F.log_softmax(x, -1)).abs().max().item()
    lse_err = (logsumexp(x) - torch.logsumexp(x, -1)).abs().max().item()
    x3, dims = x.view(64, 64, SHAPE[1]), (0, 1)                   # the same numbers, reduced over two dimensions
    lse3_err = (logsumexp(x3, dims) - torch.logsumexp(x3, dims)).abs().max().item()
    for threads in sorted({1, torch.get_num_threads()}):
        yield Case(f'cross_entropy fwd+bwd {SHAPE} float32', _forward_backward(cross_entropy, logits, target),
                   _forward_backward(F.cross_entropy, logits, target), threads=threads, target=1.0, note=note)
        yield Case(f'log_softmax fwd {SHAPE} float32', lambda: log_softmax(x), lambda: F.log_softmax(x, -1),
                   threads=threads, target=2.0, note=f'max abs diff {err:.1e}')
        yield Case(f'logsumexp fwd {SHAPE} float32', lambda: logsumexp(x), lambda: torch.logsumexp(x, -1),
                   threads=threads, note=f'max abs diff {lse_err:.1e}')
        yield Case(f'logsumexp fwd {tuple(x3.shape)} dim={dims} float32', lambda: logsumexp(x3, dims),
                   lambda: torch.logsumexp(x3, dims), threads=threads, note=f'max abs diff {lse3_err:.1e}')
