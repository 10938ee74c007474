"""The code a lesson shows is the code that runs: in fdl/, each function, class and method is defined
once (`@patch` adds a method, never replaces one, and nothing calls `_orig_`), lines are at most 100
characters and no statements are joined with `;`."""
import ast, importlib, inspect, io, re, tokenize
from pathlib import Path
import pytest

FDL = Path(__file__).resolve().parent.parent / 'fdl'
MAX_LINE = 100
MODULES = sorted(p.stem for p in FDL.glob('*.py') if not p.stem.startswith('_'))


def _source(mod: str) -> str: return (FDL / f'{mod}.py').read_text()


def _generated_lines(src: str) -> set:
    "Numbers of the lines nbdev writes itself: the module docstring and the `__all__` list."
    tree = ast.parse(src)
    lines = set()
    for node in tree.body:
        is_doc = isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and node is tree.body[0]
        is_all = isinstance(node, ast.Assign) and any(getattr(t, 'id', None) == '__all__' for t in node.targets)
        if is_doc or is_all: lines |= set(range(node.lineno, node.end_lineno + 1))
    return lines


def long_lines(src: str) -> list:
    "(line number, length) of each line over `MAX_LINE` characters that nbdev did not write itself."
    skip = _generated_lines(src)
    return [(i, len(l)) for i, l in enumerate(src.splitlines(), 1) if len(l) > MAX_LINE and i not in skip]


def semicolons(src: str) -> list:
    "Line numbers of `;` joining statements (tokens: a `;` inside a string or comment does not count)."
    toks = tokenize.generate_tokens(io.StringIO(src).readline)
    return [t.start[0] for t in toks if t.type == tokenize.OP and t.string == ';']


def _is_patch(node) -> bool:
    return any((getattr(d, 'id', None) or getattr(d, 'attr', None)) == 'patch' for d in node.decorator_list)


def _patched_class(node) -> str | None:
    "The class a `@patch` function is added to: the annotation of its first argument."
    args = node.args.posonlyargs + node.args.args
    ann = args[0].annotation if args else None
    return ast.unparse(ann) if ann is not None else None


def defined_twice(src: str) -> list:
    "Names bound twice by `def`/`class` at the top level, or twice in one class (its body or `@patch`)."
    tree = ast.parse(src)
    seen, twice, methods = set(), [], {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            methods[node.name] = {n.name for n in node.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
            body = [n.name for n in node.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
            twice += [f'{node.name}.{n}' for n in sorted({n for n in body if body.count(n) > 1})]
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and _is_patch(node):
            cls = _patched_class(node)
            if node.name in methods.setdefault(cls, set()): twice.append(f'{cls}.{node.name} (@patch)')
            methods[cls].add(node.name)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            if node.name in seen: twice.append(node.name)
            seen.add(node.name)
    return twice


def replaced_by_patch(module) -> list:
    "Methods of the module's classes that a `@patch` replaced: fastcore keeps the old one as `_orig_<name>`."
    out = []
    for cls in vars(module).values():
        if not (inspect.isclass(cls) and cls.__module__ == module.__name__): continue
        for k, old in vars(cls).items():
            fn = getattr(old, '__func__', getattr(old, 'fget', old))
            if k.startswith('_orig_') and getattr(fn, '__qualname__', '').startswith(cls.__qualname__ + '.'):
                out.append(f'{cls.__qualname__}.{k[len("_orig_"):]}')
    return out


@pytest.mark.parametrize('mod', MODULES)
def test_no_line_over_100_characters(mod):
    assert long_lines(_source(mod)) == []


@pytest.mark.parametrize('mod', MODULES)
def test_no_statements_joined_with_semicolons(mod):
    assert semicolons(_source(mod)) == []


@pytest.mark.parametrize('mod', MODULES)
def test_each_name_is_defined_once(mod):
    assert defined_twice(_source(mod)) == []


@pytest.mark.parametrize('mod', MODULES)
def test_patch_adds_never_replaces(mod):
    assert replaced_by_patch(importlib.import_module(f'fdl.{mod}')) == []
    assert not re.search(r'\b_orig_\w+', _source(mod)), 'calls a replaced method through _orig_'


# The rules themselves, on small sources.
def test_long_lines_skip_what_nbdev_writes():
    names = ', '.join(["'name'"] * 20)
    src = '"""' + 'd' * 120 + '"""\n' + f'__all__ = [{names}]\n' + 'x = ' + '1 + ' * 40 + '1\n'
    assert long_lines(src) == [(3, len(src.splitlines()[2]))]


def test_semicolons_in_strings_and_comments_do_not_count():
    assert semicolons("a = 1; b = ';'  # ;\nc = 2\n") == [1]


def test_defined_twice_finds_functions_methods_and_patches():
    src = '''
def f(): pass
def f(): pass
class A:
    def m(self): pass
    def m(self): pass
    def n(self): pass
@patch
def n(self:A): pass
@patch
def new(self:A): pass
'''
    assert sorted(defined_twice(src)) == ['A.m', 'A.n (@patch)', 'f']


def test_replaced_by_patch_finds_a_replaced_method_not_an_added_one():
    import types
    from fastcore.basics import patch
    mod = types.ModuleType('fake_mod')
    class Base:
        def inherited(self): pass
    class A(Base):
        def m(self): return 1
    Base.__module__ = A.__module__ = 'fake_mod'
    mod.A, mod.Base = A, Base
    @patch
    def m(self:A): return 2
    @patch
    def inherited(self:A): return 3   # overrides the base's: adds a method A did not have
    @patch
    def added(self:A): return 4
    assert [r.split('.<locals>.')[-1] for r in replaced_by_patch(mod)] == ['A.m']
