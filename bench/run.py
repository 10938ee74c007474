"""Run fdl's benchmarks: `python bench/run.py [module ...] [--quick] [--json FILE]`.

Every `bench/bench_*.py` defines `cases()`, yielding `harness.Case` rows; each row is timed
for fdl and for its reference in this one process, and the table reports fdl/ref time ratios.
"""
import argparse, datetime, importlib, platform, sys, time
from pathlib import Path

here = Path(__file__).resolve().parent
sys.path.insert(0, str(here))
from harness import measure, save, sweep_table, table

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('modules', nargs='*', help='benchmark modules to run, e.g. stats softmax (default: all)')
    p.add_argument('--quick', action='store_true', help='shorter timing runs (noisier ratios)')
    p.add_argument('--json', metavar='FILE', help='also write the results as JSON (the speed page draws them)')
    args = p.parse_args(argv)
    known = sorted(f.stem.removeprefix('bench_') for f in here.glob('bench_*.py'))
    unknown = [m for m in args.modules if m not in known]
    if unknown: p.error(f'no benchmark module {", ".join(unknown)}; choose from {", ".join(known)}')
    names = args.modules or known
    import torch
    print(f'torch {torch.__version__}, {torch.get_num_threads()} threads available', flush=True)
    results, by_module = [], {}
    for name in names:
        mod = importlib.import_module(f'bench_{name}')
        for case in mod.cases():
            t0 = time.perf_counter()
            print(f'  timing {name}: {case.name} ({case.threads} thread(s)) ...', end='', flush=True)
            results.append(measure(case, 0.1 if args.quick else None))
            by_module.setdefault(name, []).append(results[-1])
            print(f' {results[-1].ratio:.2f}x in {time.perf_counter()-t0:.1f}s', flush=True)
    print()
    print(table(results) if results else 'no benchmark cases found')
    if sweep_table(results): print('\nfdl/ref over the size sweep (! = over target):\n' + sweep_table(results))
    if args.json:
        save(by_module, args.json, dict(date=datetime.date.today().isoformat(), torch=torch.__version__,
                                      python=platform.python_version(), machine=_cpu(),
                                      quick=args.quick))
        print(f'results written to {args.json}')
    return 0

def _cpu() -> str:
    "The processor's name and core count, as the OS reports them."
    import os
    try: name = next(l.split(':', 1)[1].strip() for l in open('/proc/cpuinfo') if l.startswith('model name'))
    except (OSError, StopIteration): name = platform.processor() or platform.machine()
    return f'{name}, {os.cpu_count()} cores'

if __name__ == '__main__': sys.exit(main())
