"The package as a whole: packaging, a light `import fdl`, README in step with index.ipynb, the export/clean checks."
import ast, configparser, json, os, shutil, subprocess, sys
from pathlib import Path
import pytest

root = Path(__file__).resolve().parent.parent
bin_dir = Path(sys.executable).parent

def test_settings_hold_the_metadata():
    cfg = configparser.ConfigParser(delimiters=['=']); cfg.read(root/'settings.ini')
    s = cfg['DEFAULT']
    assert s['lib_name'] == 'fdl' and s['nbs_path'] == 'nbs' and s['update_pyproject'] == 'False'
    assert 'slow' in s['tst_flags'].split()
    assert any(r.startswith('torch') for r in s['requirements'].split())
    assert any(r.startswith('nbdev>=2.4,<3') for r in s['dev_requirements'].split())
    assert not (root/'pyproject.toml').exists()

def test_setup_py_reads_settings_and_avoids_pkg_resources():
    tree = ast.parse((root/'setup.py').read_text())
    imported = {a.name for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))
                for a in (n.names if isinstance(n, ast.Import) else [ast.alias(n.module or '')])}
    assert 'pkg_resources' not in imported and 'configparser' in imported
    from importlib.metadata import version
    cfg = configparser.ConfigParser(delimiters=['=']); cfg.read(root/'settings.ini')
    assert version('fdl') == cfg['DEFAULT']['version'] == __import__('fdl').__version__

def imported_after(stmt):
    code = f"import sys; {stmt}; print(' '.join(sorted(m for m in sys.modules)))"
    return set(subprocess.run([sys.executable, '-c', code], check=True, capture_output=True, text=True, cwd=root).stdout.split())

def test_import_fdl_is_light():
    mods = imported_after('import fdl')
    assert not mods & {'torch', 'matplotlib', 'ipywidgets', 'tqdm', 'nbdev'}

@pytest.mark.parametrize('module', sorted(p.stem for p in (root/'fdl').glob('[!_]*.py')))
def test_modules_do_not_draw_on_import(module):
    assert not imported_after(f'import fdl.{module}') & {'matplotlib', 'ipywidgets'}

def test_readme_matches_index_notebook():
    sys.path.insert(0, str(root/'tools'))
    try: import readme
    finally: sys.path.pop(0)
    text = readme.render()
    assert (root/'README.md').read_text(encoding='utf-8') == text
    for needed in ('make lesson', 'make test', 'jupyter lab nbs/', 'make bench', 'nbdev_export', 'nbdev_clean'):
        assert needed in text, needed

@pytest.fixture
def repo_copy(tmp_path):
    "A copy of the project's notebooks, package and tools, to break on purpose."
    for name in ('settings.ini', 'nbs', 'fdl', 'tools'):
        src = root/name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, tmp_path/name)
    return tmp_path

def check_sync(repo, ci=False):
    "Run tools/check_sync.py in `repo`; the git-status rule applies only under CI (the copies are not git checkouts)."
    env = {k: v for k, v in os.environ.items() if k != 'CI'} | ({'CI': 'true'} if ci else {})
    return subprocess.run([sys.executable, 'tools/check_sync.py'], cwd=repo, capture_output=True, text=True, env=env)

def edit_first_export_cell(nb_path):
    nb = json.loads(nb_path.read_text())
    cell = next(c for c in nb['cells'] if c['cell_type'] == 'code' and ''.join(c['source']).startswith('#| export'))
    cell['source'] = ''.join(cell['source']) + '\n\ndef added_without_export(): return 1'
    nb_path.write_text(json.dumps(nb, indent=1) + '\n')

def test_check_sync_passes_on_the_project(repo_copy):
    res = check_sync(repo_copy)
    assert res.returncode == 0, res.stderr
    assert 'in sync' in res.stdout

def test_editing_a_notebook_without_exporting_fails(repo_copy):
    edit_first_export_cell(repo_copy/'nbs'/'05_source.ipynb')
    res = check_sync(repo_copy)
    assert res.returncode == 1
    assert 'fdl/source.py' in res.stderr and 'run `nbdev_export`' in res.stderr

def test_unclean_notebook_fails(repo_copy):
    nb_path = repo_copy/'nbs'/'05_source.ipynb'
    nb = json.loads(nb_path.read_text())
    nb['cells'][1]['metadata']['collapsed'] = True
    nb['cells'][1]['execution_count'] = 7
    nb_path.write_text(json.dumps(nb, indent=1) + '\n')
    res = check_sync(repo_copy)
    assert res.returncode == 1
    assert 'nbs/05_source.ipynb' in res.stderr and 'run `nbdev_clean`' in res.stderr

def test_nbdev_test_names_the_broken_notebook_and_cell(repo_copy):
    nb = {'cells': [{'cell_type': 'code', 'id': 'aaaa0001', 'metadata': {}, 'outputs': [], 'execution_count': None, 'source': 'x = 1'},
                    {'cell_type': 'code', 'id': 'aaaa0002', 'metadata': {}, 'outputs': [], 'execution_count': None,
                     'source': "raise ValueError('broken on purpose')"}],
          'metadata': {}, 'nbformat': 4, 'nbformat_minor': 5}
    (repo_copy/'nbs'/'99_broken.ipynb').write_text(json.dumps(nb))
    res = subprocess.run([str(bin_dir/'nbdev_test'), '--path', 'nbs/99_broken.ipynb'], cwd=repo_copy, capture_output=True, text=True)
    out = res.stdout + res.stderr
    assert res.returncode != 0
    assert '99_broken.ipynb' in out and 'Cell #2' in out and 'broken on purpose' in out

def test_check_sync_under_ci_needs_git(repo_copy):
    res = check_sync(repo_copy, ci=True)
    assert res.returncode == 1 and '`git status` failed, so uncommitted files cannot be ruled out' in res.stderr

@pytest.mark.parametrize('module', ['checks', 'callbacks', 'dunder'])
def test_lessons_without_tensors_do_not_import_torch(module):
    "Callbacks and dunder methods need no torch, and neither do the shared argument checks they use."
    assert 'torch' not in imported_after(f'import fdl.{module}')
