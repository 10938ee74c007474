# The lesson book: Sphinx + myst-nb + sphinx-book-theme. Build it with `make lesson`.
# Run from the checkout's root (`sphinx-build -c docs . _lesson`): the lessons are nbs/*.ipynb,
# executed by myst-nb with jupyter-cache; one page per fdl module is written into docs/api/ at each
# build; docs/fdl_book.py holds what is fdl's own.
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path[:0] = [str(ROOT), str(DOCS)]

project = 'fdl'
author = 'fdl contributors'
copyright = '2026 onwards, fdl contributors'
extensions = ['myst_nb', 'sphinx.ext.autodoc', 'sphinx.ext.viewcode', 'sphinx_codeautolink', 'fdl_book']
root_doc = 'docs/index'
include_patterns = ['docs/index.md', 'docs/api/*.md', 'nbs/*.ipynb']
exclude_patterns = ['.*', '_*', 'fdl', 'tests', 'tools', 'bench', 'build', 'dist', '*.egg-info']
templates_path = ['templates']
html_static_path = ['static']
suppress_warnings = ['mystnb.unknown_mime_type', 'codeautolink']

# Notebooks run at build time; a notebook whose code did not change is read from the cache.
nb_execution_mode = 'cache'
nb_execution_cache_path = str(ROOT / '.cache' / 'jupyter_cache')
nb_execution_timeout = 300
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_ipywidgets_js = {}  # widgets are drawn as still pictures by fdl_book, not by scripts from a CDN
nb_merge_streams = True
myst_enable_extensions = ['dollarmath', 'amsmath']
myst_heading_anchors = 3
myst_dmath_double_inline = True  # $$...$$ inside a paragraph, as Jupyter shows it
myst_update_mathjax = False

# Formulas: MathJax 2, copied from jupyter-server-mathjax into _static/mathjax by fdl_book.
mathjax_path = 'mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full,Safe'
mathjax2_config = {'tex2jax': {'inlineMath': [['\\(', '\\)']], 'displayMath': [['\\[', '\\]']],
                               'processEscapes': True, 'processClass': 'math|output_area',
                               'ignoreClass': 'tex2jax_ignore|mathjax_ignore|document'},
                    'HTML-CSS': {'availableFonts': [], 'webFont': 'STIX-Web', 'imageFont': None,  # no about:blank
                                 'styles': {'@font-face': {'font-family': 'MathJax_Blank', 'src': "url('data:,')"}}}}

autodoc_member_order = 'bysource'
autodoc_default_options = {'members': True, 'show-inheritance': True}
codeautolink_concat_default = True
codeautolink_warn_on_failed_resolve = False

html_theme = 'sphinx_book_theme'
html_title = 'fdl: the lesson book'
html_context = {'default_mode': 'auto'}
html_search_scorer = str(DOCS / 'static' / 'fdl_scorer.js')
html_show_search_summary = False  # result snippets fetch pages, which file:// forbids
html_copy_source = True
html_show_sourcelink = False
html_sidebars = {'search': ['navbar-logo.html', 'sbt-sidebar-nav.html']}  # its own box is enough
html_theme_options = {'use_download_button': True, 'use_fullscreen_button': False,
                      'show_toc_level': 2, 'navigation_with_keys': False, 'search_as_you_type': True,
                      'navbar_persistent': [],
                      'article_header_end': ['fdl-header-buttons.html']}

# Words a learner may type for a name: they join the search index beside the name itself.
fdl_synonyms = {
    'fdl.stats.var': ['variance'], 'fdl.stats.std': ['standard deviation'],
    'fdl.stats.mad': ['mean absolute deviation'], 'fdl.stats.cov': ['covariance'],
    'fdl.stats.corr': ['correlation', 'pearson correlation'],
    'fdl.stats.RunningStats': ['streaming statistics', 'running mean'],
    'fdl.softmax.nll': ['negative log likelihood'], 'fdl.softmax.cross_entropy': ['cross-entropy loss'],
    'fdl.learner.Learner.lr_find': ['learning rate finder', 'lr finder'],
}
viewcode_line_numbers = True
