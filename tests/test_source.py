"fdl.source.locate: every exported symbol leads to its notebook cell and its module line."
import functools, importlib, json
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

@pytest.mark.parametrize('obj, message', [
    (print, 'builtins.print is not a symbol exported by fdl'),
    (json.dumps, 'json.dumps is not a symbol exported by fdl'),
    ('fdl.source.no_such_thing', "'fdl.source.no_such_thing' is not a symbol exported by fdl"),
    ('no_such_thing', "'no_such_thing' is not a symbol exported by fdl"),
    (42, '42 has no module and qualified name to look up; to find its class, pass type\\(obj\\), here int'),
])
def test_not_exported_is_lookup_error(obj, message):
    with pytest.raises(LookupError, match=message): locate(obj)

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
