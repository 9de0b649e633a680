"""Sphinx configuration for reparam's documentation.

Why Sphinx (with Furo and MyST) rather than mkdocs-material: reparam's
docstrings are written in reStructuredText (``literals``, :class:`roles`) with
Google-style sections, which Sphinx's autodoc and napoleon read as they are;
autodoc imports the package, so the reference renders exactly the names the
code exports at run time (including the registry's star imports), and Sphinx's
nitpicky mode turns every unresolved cross-reference into a warning, which
``-W`` makes an error. Guides are Markdown (MyST), math is MathJax served from
the site itself (sphinx-mathjax-offline), so the site builds and reads offline.

Build: ``python scripts/docs.py`` (``sphinx-build -W --keep-going -n``, then the
check that every public name has an entry).
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))

import reparam  # noqa: E402

project = "reparam"
author = "the reparam authors"
copyright = "the reparam authors"
release = reparam.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx-mathjax-offline",
    "myst_parser",
    "reparam_api",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "_ext"]
root_doc = "index"

# Guides in Markdown: $...$ and $$...$$ math, ::: fences, heading anchors for links.
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3

# The API reference.
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_typehints_format = "short"
autodoc_preserve_defaults = True
autodoc_inherit_docstrings = True
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False
add_module_names = True
python_use_unqualified_type_names = True

# Every cross-reference must resolve. Names of other projects (torch, numpy,
# the standard library) cannot: the build is offline, so no other project's
# inventory is fetched. Those, and only those, are let through.
nitpicky = True
_EXTERNAL = (
    r"(torch|numpy|np|matplotlib|tqdm|typing|typing_extensions|collections|types|pathlib"
    r"|os|io|enum|dataclasses|argparse|contextlib|abc|threading|datetime|json|_io"
    r"|concurrent|multiprocessing|functools|pyro)(\..*)?"
)
_BUILTINS = (
    r"(int|float|complex|str|bytes|bool|None|object|list|dict|tuple|set|frozenset|type"
    r"|slice|range|Ellipsis|NotImplemented|BaseException|Exception|ValueError|TypeError"
    r"|RuntimeError|KeyError|OSError|IndexError|AttributeError|FileNotFoundError"
    r"|KeyboardInterrupt|StopIteration|ArithmeticError|Callable|Iterator|Iterable"
    r"|Sequence|Mapping|MutableMapping|Any|Literal|Path|Tensor|Distribution|Module"
    r"|Generator|Optimizer|Number|Figure|Axes|TextIO|Self|ndarray|dtype|device"
    r"|Constraint|Size|ParamSpec|TypeVar|TypeAlias|NoReturn|Protocol|ClassVar|Final)"
)
# Private names (a component starting with "_") have no page by design: a
# reference to one (a private base class, a private module) renders as text.
_PRIVATE = r"reparam(\.\w+)*\._\w+(\..*)?"
# Type aliases of private modules, shown by their short name in signatures.
_PRIVATE_ALIASES = r"SampleShape"
nitpick_ignore_regex = [
    (r"py:.*", _PRIVATE),
    (r"py:.*", _PRIVATE_ALIASES),
    (r"py:.*", _EXTERNAL),
    (r"py:.*", _BUILTINS),
]

html_theme = "furo"
html_title = f"reparam {release}"
html_static_path: list[str] = []
html_theme_options = {"navigation_with_keys": True}
pygments_style = "friendly"
pygments_dark_style = "monokai"
