"""Build the documentation site and check that every public name has an entry.

Run it with the project's environment (``pip install -e ".[docs]"`` or
``".[dev]"``, which includes it)::

    .venv/bin/python scripts/docs.py                 # site in docs/_build/html
    .venv/bin/python scripts/docs.py --out /tmp/site

The build is Sphinx with ``-W --keep-going -n``: any warning fails it, and
nitpicky mode makes an unresolved cross-reference a warning. A page that
the table of contents misses, or a reference to a missing page, is one too.
Then the site's inventory (``objects.inv``) is checked against the public
names of each module in ``docs/_ext/public_api.py``: a public name without an
entry, or without a docstring, fails the command. Exit code 0 means both passed.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
sys.path.insert(0, str(DOCS / "_ext"))


def inventory_names(site: Path) -> set[str]:
    """The names of every entry in a built site's ``objects.inv``."""
    from sphinx.util.inventory import InventoryFile

    with open(site / "objects.inv", "rb") as stream:
        inventory = InventoryFile.load(stream, "", lambda base, uri: uri)
    return {name for entries in inventory.values() for name in entries}


def check_site(site: Path) -> list[str]:
    """The problems with a built site: missing entries and undocumented names."""
    from public_api import missing_entries, undocumented, unlisted_modules

    names = inventory_names(site)
    problems = [f"no entry in the API reference: {p}" for p in missing_entries(names)]
    problems += [f"no docstring: {p}" for p in undocumented()]
    problems += [
        f"no API page: {m} (add it to MODULES in docs/_ext/public_api.py and a page "
        f"docs/api/<name>.rst with '.. reparam-api:: {m}' to docs/api/index.md)"
        for m in unlisted_modules()
    ]
    return problems


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DOCS / "_build" / "html", help="site folder")
    args = parser.parse_args(argv)
    build = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-n", "-q", "-E"]
    build += ["-b", "html", "-d", str(args.out / ".doctrees"), str(DOCS), str(args.out)]
    code = subprocess.call(build, cwd=ROOT)
    if code != 0:
        print(f"docs: the Sphinx build failed (exit {code}); see the warnings", file=sys.stderr)
        return code
    problems = check_site(args.out)
    for problem in problems:
        print(f"docs: {problem}", file=sys.stderr)
    if problems:
        return 1
    print(f"docs: built {args.out / 'index.html'}; every public name has an entry")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
