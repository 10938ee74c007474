"The benchmark harness: side-by-side timing and the ratio table."
import subprocess, sys
from pathlib import Path
import pytest

root = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(root/'bench'))
from harness import Case, Result, fmt_time, measure, save, sweep_table, table

def test_measure_times_both_sides():
    slow, fast = (lambda: sum(range(200_000))), (lambda: sum(range(5_000)))  # 40x the work
    r = measure(Case('sum', fdl=slow, ref=fast, target=1.0), min_run_time=0.05)
    assert r.fdl_s > r.ref_s > 0
    assert r.ratio > 4 and r.status == 'OVER'

def test_table_reports_ratio_and_target():
    rows = [Result(Case('var, 10M', fdl=None, ref=None, target=1.0, note='rel err 1e-8'), 2e-3, 4e-3),
            Result(Case('loop', fdl=None, ref=None, ref_name='bare loop'), 3e-6, 1e-6)]
    lines = table(rows).splitlines()
    assert lines[0].split()[:7] == ['case', 'threads', 'fdl', 'reference', 'fdl/ref', 'fdl', 'per']
    assert 'var, 10M' in lines[2] and '0.50x' in lines[2] and '<= 1.00x' in lines[2] and 'ok' in lines[2] and 'rel err 1e-8' in lines[2]
    assert '3.00x' in lines[3] and '(bare loop)' in lines[3]

@pytest.mark.parametrize('s, text', [(2.5, '2.5 s'), (1.5e-3, '1.5 ms'), (2.5e-7, '250 ns'), (4e-6, '4 µs')])
def test_fmt_time(s, text): assert fmt_time(s) == text

def test_runner_help_exits_zero():
    res = subprocess.run([sys.executable, str(root/'bench'/'run.py'), '--help'], capture_output=True, text=True)
    assert res.returncode == 0 and '--quick' in res.stdout

def test_per_operation_target():
    fast = Result(Case('dispatch', fdl=None, ref=None, per=1000, per_target=0.25e-6), 2e-4, 1e-4)
    slow = Result(Case('dispatch', fdl=None, ref=None, per=1000, per_target=0.25e-6), 3e-4, 1e-4)
    assert fast.per_op == pytest.approx(2e-7) and fast.status == 'ok' and slow.status == 'OVER'
    line = table([fast]).splitlines()[2]
    assert '200 ns' in line and '< 250 ns/op' in line and 'ok' in line

def test_runner_rejects_an_unknown_module():
    res = subprocess.run([sys.executable, str(root/'bench'/'run.py'), 'stat'], capture_output=True, text=True)
    assert res.returncode == 2 and 'no benchmark module stat; choose from' in res.stderr and 'stats' in res.stderr

def test_sweep_table_is_a_grid_of_ratios_by_family_and_size():
    rows = [Result(Case('var 10', None, None, family='var fwd', size=10, target=4), 3e-6, 1e-6),
            Result(Case('var 1e5', None, None, family='var fwd', size=100_000, target=1.5), 2e-3, 1e-3),
            Result(Case('mean 10', None, None, family='mean fwd', size=10), 1e-6, 1e-6),
            Result(Case('other', None, None), 1e-6, 1e-6)]          # no family: not in the grid
    lines = sweep_table(rows).splitlines()
    assert lines[0].split() == ['family', '\\', 'elements', '10', '1e5']
    assert lines[2].split() == ['var', 'fwd', '3.00', '2.00!'] and lines[3].split() == ['mean', 'fwd', '1.00']


def test_measure_restores_the_thread_count():
    import torch
    n = torch.get_num_threads()
    measure(Case('t', fdl=lambda: torch.get_num_threads(), ref=lambda: None, threads=1), min_run_time=0.01)
    assert torch.get_num_threads() == n


def test_save_keeps_the_modules_not_measured_again(tmp_path):
    import json
    p = tmp_path / 'r.json'
    row = lambda name: Result(Case(name, None, None, family='f', size=10), 2e-6, 1e-6)
    save({'stats': [row('a')], 'softmax': [row('b')]}, p, {'date': 'd1'})
    save({'stats': [row('c')]}, p, {'date': 'd2'})
    runs = json.loads(p.read_text())['runs']
    assert [r['name'] for r in runs['stats']['results']] == ['c'] and runs['stats']['meta']['date'] == 'd2'
    assert [r['name'] for r in runs['softmax']['results']] == ['b'] and runs['softmax']['results'][0]['ratio'] == 2
