"fdl.source.locate: every exported symbol leads to its notebook cell and its module line, any other Python code to its file and line; `make tags` writes the tags an editor jumps with."
import functools, importlib, inspect, json, shutil, subprocess
from pathlib import Path
import sys
import pytest
import fdl
from fdl._modidx import d
from fdl.source import SourceLocation, locate

symbols = sorted(s for syms in d['syms'].values() for s in syms)

def test_index_is_not_empty():
    assert 'fdl.source.locate' in symbols

@pytest.mark.parametrize('name', symbols)
def test_every_exported_symbol_is_located(name):
    loc = locate(name)
    assert isinstance(loc, SourceLocation) and loc.symbol == name
    last = name.rsplit('.', 1)[-1]
    src_line = loc.module_file.read_text(encoding='utf-8').splitlines()[loc.line - 1].strip()
    assert src_line.startswith((f'def {last}', f'class {last}', f'async def {last}')), src_line
    cells = {c.get('id'): ''.join(c['source']) for c in json.loads(loc.notebook.read_text(encoding='utf-8'))['cells']}
    assert loc.cell_id in cells, f'{name}: no cell {loc.cell_id} in {loc.notebook}'
    assert '#| export' in cells[loc.cell_id]
    assert src_line.split('(')[0].split(':')[0] in cells[loc.cell_id]

modules = {s: mod for mod, syms in d['syms'].items() for s in syms}

@pytest.mark.parametrize('name', symbols)
def test_object_and_name_agree(name):
    obj = functools.reduce(getattr, name.removeprefix(modules[name] + '.').split('.'), importlib.import_module(modules[name]))
    assert locate(obj) == locate(name)

def test_short_name_and_str():
    loc = locate('locate')
    assert loc == locate(locate) == locate('fdl.source.locate')
    assert str(loc) == f'fdl.source.locate: 05_source.ipynb cell {loc.cell_id} -> source.py:{loc.line}'
    assert loc.notebook.name == '05_source.ipynb' and loc.module_file.name == 'source.py'

def test_methods_and_bound_methods():
    assert locate(SourceLocation.__str__).symbol == 'fdl.source.SourceLocation.__str__'
    assert locate(locate('locate').__str__).symbol == 'fdl.source.SourceLocation.__str__'

@pytest.mark.parametrize('name', ['fdl.source.no_such_thing', 'no_such_thing', 'json.dumps'])
def test_name_not_exported_is_lookup_error(name):
    with pytest.raises(LookupError, match=f"'{name}' is not a symbol exported by fdl"): locate(name)

def test_ambiguous_short_name(monkeypatch):
    import fdl.source
    fake = {'fdl.a.step': ('fdl.a', None), 'fdl.b.step': ('fdl.b', None)}
    monkeypatch.setattr(fdl.source, '_index', lambda: fake)
    with pytest.raises(LookupError, match="'step' is ambiguous: it could be fdl.a.step, fdl.b.step"):
        fdl.source.locate('step')

def test_short_name_prefers_the_module_level_symbol(monkeypatch):
    import fdl.source
    fake = {'fdl.stats.var': ('fdl.stats', None), 'fdl.stats.RunningStats.var': ('fdl.stats', None),
            'fdl.stats.RunningCov.update': ('fdl.stats', None), 'fdl.stats.RunningStats.update': ('fdl.stats', None)}
    monkeypatch.setattr(fdl.source, '_index', lambda: fake)
    assert fdl.source._qualified_name('var') == 'fdl.stats.var'
    assert fdl.source._qualified_name('RunningStats.var') == 'fdl.stats.RunningStats.var'
    with pytest.raises(LookupError, match="'update' is ambiguous: it could be fdl.stats.RunningCov.update, fdl.stats.RunningStats.update"):
        fdl.source._qualified_name('update')

def test_real_short_names():
    assert locate('var').symbol == 'fdl.stats.var'
    assert locate('cross_entropy').symbol == 'fdl.softmax.cross_entropy'

# --- any Python object: file and line, as inspect gives them

import torch
import torch.nn.functional as F

def _inspect_location(obj):
    return Path(inspect.getsourcefile(obj)), inspect.getsourcelines(obj)[1]

@pytest.mark.parametrize('obj', [F.cross_entropy, F.softmax, torch.nn.Linear, torch.nn.Linear.forward, json.dumps,
                                 inspect.getsource, torch.optim.SGD.step])
def test_python_object_file_and_line(obj):
    loc = locate(obj)
    assert loc.notebook is None and loc.cell_id is None
    file, first = _inspect_location(inspect.unwrap(obj))
    assert loc.module_file == file
    decorators = [l for l in inspect.getsourcelines(inspect.unwrap(obj))[0][:loc.line - first] if l.lstrip().startswith('@')]
    assert loc.line == first + len(decorators)  # inspect starts at the first decorator, locate at the def/class
    assert loc.module_file.read_text(encoding='utf-8').splitlines()[loc.line - 1].lstrip().startswith(('def ', 'class ', 'async def '))
    shown = file.as_posix().split('/site-packages/')[-1]  # torch's files: from site-packages on
    assert str(loc) == f'{loc.symbol}: ' + ('site-packages/' if shown != file.as_posix() else '') + f'{shown}:{loc.line}'

def test_cross_entropy_is_torch_functional():
    loc = locate(F.cross_entropy)
    assert loc.symbol == 'torch.nn.functional.cross_entropy'
    assert loc.module_file == Path(torch.__file__).parent/'nn'/'functional.py'
    assert (loc.module_file, loc.line) == _inspect_location(F.cross_entropy)

def test_decorated_function_is_unwrapped_and_located_at_its_def():
    wrapped = torch.no_grad()(F.relu)  # functools.wraps: __wrapped__ is F.relu
    assert locate(wrapped) == locate(F.relu)
    step = locate(torch.optim.SGD.step)  # @_use_grad_for_differentiable def step(...)
    src_lines, first = inspect.getsourcelines(inspect.unwrap(torch.optim.SGD.step))
    assert src_lines[0].lstrip().startswith('@') and step.line > first

def test_bound_methods_properties_and_modules():
    assert locate(torch.nn.Linear(2, 1).forward) == locate(torch.nn.Linear.forward)
    mean = torch.distributions.Normal.mean  # a property: its getter
    assert isinstance(mean, property) and locate(mean) == locate(mean.fget)
    assert locate(mean).module_file.name == 'normal.py' and locate(mean).symbol == 'torch.distributions.normal.Normal.mean'
    mod = locate(F)
    assert (mod.symbol, mod.module_file, mod.line) == ('torch.nn.functional', Path(F.__file__), 1)

def test_fdl_objects_unchanged_and_decorated_helpers_found():
    import fdl.stats, fdl.source
    assert locate(fdl.stats.var) == locate('fdl.stats.var') and locate(fdl.stats.var).notebook.name == '03_stats.ipynb'
    cached = locate(fdl.source._index)  # @cache: the wrapper has the function's name and its notebook cell
    assert cached.symbol == 'fdl.source._index' and cached.notebook.name == '05_source.ipynb'

@pytest.mark.parametrize('obj, match', [
    (len, 'obj has no Python source: builtins.len is compiled code'),
    (torch.add, 'obj has no Python source: .*add is compiled code'),
    (torch.Tensor.add, 'add is compiled code'),
    (int, 'builtins.int is compiled code'),
    (42, 'int 42 is an instance of int.*type\\(obj\\)'),
    (torch.nn.Linear(2, 1), 'an instance of Linear.*type\\(obj\\)'),
    (torch.Tensor, 'torch.Tensor is a class that inspect cannot find in torch'),
    (eval('lambda: 1'), 'not defined in a file'),
])
def test_no_python_source_is_type_error(obj, match):
    with pytest.raises(TypeError, match=match): locate(obj)

# --- make tags: Universal Ctags over fdl/ and torch

ROOT = Path(fdl.__file__).resolve().parent.parent

def _universal_ctags() -> bool:
    if shutil.which('ctags') is None: return False
    return 'Universal Ctags' in subprocess.run(['ctags', '--version'], capture_output=True, text=True).stdout

@pytest.fixture(scope='module')
def tags(tmp_path_factory):
    "The lines of the tags file `make tags` writes (once per test session, into a temporary folder)."
    if not _universal_ctags(): pytest.skip('universal-ctags not installed: apt-get install universal-ctags')
    out = tmp_path_factory.mktemp('tags')/'tags'
    subprocess.run(['make', '-s', 'tags', f'TAGS_FILE={out}', f'PY={sys.executable}'], cwd=ROOT, check=True, capture_output=True)
    return out.read_text(encoding='utf-8').splitlines()

def _entries(tags, name):
    "(file, line, kind) of each tag named `name`; relative files are relative to the repository root, where make runs."
    rows = [t.split('\t') for t in tags if t.startswith(name + '\t')]
    return [(ROOT/r[1], int(next(f for f in r[3:] if f.startswith('line:'))[5:]), r[3]) for r in rows]

@pytest.mark.parametrize('obj', [importlib.import_module('fdl.stats').var, F.cross_entropy, torch.nn.Linear, torch.nn.Linear.forward])
def test_tags_point_at_the_definition(tags, obj):
    file, line = _inspect_location(obj)
    found = [(f, l) for f, l, _ in _entries(tags, obj.__name__) if f.samefile(file)]
    assert (file.resolve(), line) in [(f.resolve(), l) for f, l in found]

def test_tags_for_var_and_cross_entropy(tags):
    var = [e for e in _entries(tags, 'var') if e[0] == ROOT/'fdl'/'stats.py']
    assert (ROOT/'fdl'/'stats.py', locate('fdl.stats.var').line, 'f') in var  # fdl's function, relative to the root
    assert any(k == 'm' for _, _, k in var)                                 # and RunningStats.var, a method
    ce = [e for e in _entries(tags, 'cross_entropy') if e[0].is_absolute()]
    assert (Path(inspect.getsourcefile(F.cross_entropy)), locate(F.cross_entropy).line, 'f') in ce
    qualified = _entries(tags, 'RunningStats.var')  # --extras=+q: Class.method tags
    assert [(f.name, k) for f, _, k in qualified] == [('stats.py', 'm')]

def test_tags_are_python_only_and_sorted(tags):
    assert '!_TAG_FILE_SORTED\t1' in '\n'.join(tags[:20])
    files = {t.split('\t')[1] for t in tags if not t.startswith('!_TAG')}
    assert files and all(f.endswith('.py') for f in files)
    assert not [t for t in tags if not t.startswith('!') and t.split('\t')[3] in ('i', 'I', 'x')]  # no import tags

@pytest.mark.parametrize('ctags', ['no-such-ctags', 'true'])  # missing, or a ctags that is not Universal Ctags
def test_make_tags_without_universal_ctags_says_how_to_install(tmp_path, ctags):
    run = subprocess.run(['make', '-s', 'tags', f'CTAGS={ctags}', f'TAGS_FILE={tmp_path/"tags"}'], cwd=ROOT,
                         capture_output=True, text=True)
    assert run.returncode != 0 and 'apt-get install universal-ctags' in run.stderr and not (tmp_path/'tags').exists()

def test_check_python_source_returns_what_holds_the_source():
    from fdl.checks import check_python_source
    mean = torch.distributions.Normal.mean
    assert check_python_source(mean, 'obj') is mean.fget
    assert check_python_source(torch.nn.Linear(2, 1).forward, 'obj') is torch.nn.Linear.forward
    wrapped = torch.no_grad()(F.relu)
    assert check_python_source(wrapped, 'obj') is wrapped  # decorators are followed to check, but the object is kept
    with pytest.raises(TypeError, match='source.*len'): check_python_source(len, 'source')

def test_tags_put_fdl_before_torch_for_a_shared_name(tags):
    files = [f for f, _, _ in _entries(tags, 'cross_entropy')]
    assert files[0] == ROOT/'fdl'/'softmax.py' and files[1] == Path(inspect.getsourcefile(F.cross_entropy))
    assert [t.split('\t')[1] for t in tags if t.startswith('cross_entropy\t')][0] == './fdl/softmax.py'  # relative to the root


def test_a_file_in_site_packages_is_shown_from_site_packages_on():
    import torch.nn.functional as F
    text = str(locate(F.cross_entropy))
    assert text.startswith('torch.nn.functional.cross_entropy: site-packages/torch/nn/functional.py:')
    assert str(Path(F.__file__).parents[2]) not in text  # no folder of this machine
