"""Computed numbers for a chapter's prose, read the same in the built book and in JupyterLab.

A chapter records each number once, ``glue("slope", fit.slope)``, in a code cell above the first Markdown cell that
cites it; the prose cites it as the MyST inline expression ``{eval}`glued["slope:.2f"]```. In JupyterLab,
jupyterlab-myst sends the expression to the kernel when the Markdown cell is run (Run All reaches the cells in
order) and shows the result's ``text/plain``: :class:`Glued` makes that the text myst-nb's
``{glue:text}`slope:.2f``` role prints, namely the value's IPython ``text/plain`` form ``t``, read back as
``v = literal_eval(t)`` (``t`` itself where that fails), then ``format(cast(v), spec)`` with ``cast`` chosen by the
spec's type letter (``float`` for e, f, g, n and %, ``int`` for b, c, d, o and x, ``str`` for s or no spec); a
``Markdown`` object shows its Markdown, parsed as MyST. The book runs each notebook whole first (every hidden check
included), so :meth:`Glued.glue` also hands the value to ``myst_nb.glue`` where myst-nb is installed, and the book's
``glued_eval`` extension reads the same expression as that glue role, with myst-nb's own formatting.
"""

from __future__ import annotations

import re
from ast import literal_eval
from pathlib import Path

from IPython.core.formatters import format_display_data

try:
    from myst_nb import glue as _nb_glue  # the book build also reads each value from the executed notebook's outputs
except ImportError:  # Colab, or a plain install: only the kernel-side record
    _nb_glue = None

__all__ = ["Glued", "Said", "KEY_PATTERN", "EXPRESSION_PATTERN", "CITE_PATTERN", "cite_markdown"]

KEY_PATTERN = r"[A-Za-z_][A-Za-z0-9_]*"
# A format spec as the chapters write them: digits, comma and point, then at most one type letter or %.
_SPEC = r"[0-9,.]*[A-Za-z%]?"
# The one expression form the prose uses; the book's `glued_eval` extension reads exactly this form.
EXPRESSION_PATTERN = rf'^glued\["{KEY_PATTERN}(?::{_SPEC})?"\]$'
# A citation as the chapters write it: {eval}`glued.cite("p:key")` or "t:key1,key2" (BibTeX keys of the book's
# references.bib); the book's `glued_eval` extension hands it to sphinxcontrib-bibtex's {cite:p} / {cite:t} role.
BIB_KEY_PATTERN = r"[A-Za-z0-9_:.+-]+"
CITE_PATTERN = rf'^glued\.cite\("[pt]:{BIB_KEY_PATTERN}(?:,{BIB_KEY_PATTERN})*"\)$'
_QUOTED = re.compile(r"^([\"']).*\1$", re.S)
_FLOAT_TYPES = set("eEfFgGn%")
_INT_TYPES = set("bcdoxX")


class Said:
    """Text shown as itself: its ``text/plain`` form is the text without quotes (a ``str`` would be quoted), and a
    Markdown one also offers ``text/markdown``."""

    __slots__ = ("text", "markdown")

    def __init__(self, text: str, markdown: bool = False):
        self.text = text
        self.markdown = markdown

    def __repr__(self) -> str:
        return self.text

    def _repr_pretty_(self, p, cycle: bool) -> None:
        p.text(self.text)

    def _repr_markdown_(self) -> str | None:
        return self.text if self.markdown else None

    def __eq__(self, other) -> bool:
        return isinstance(other, Said) and (self.text, self.markdown) == (other.text, other.markdown)

    def __hash__(self) -> int:
        return hash((self.text, self.markdown))


def format_plain(text: str, spec: str) -> str:
    """``format(cast(literal_eval(text)), spec)``, myst-nb's rule for a glued ``text/plain`` (see the module).

    >>> format_plain("0.123456", ".2f"), format_plain("'8 → 3'", ""), format_plain("1024", ",")
    ('0.12', '8 → 3', '1,024')
    """
    try:
        value = literal_eval(text)
    except (SyntaxError, ValueError):
        value = text
    if spec == "":
        return str(value)
    kind = spec[-1]
    if kind == "s":
        value = str(value)
    elif kind in _INT_TYPES:
        value = int(value)
    elif kind in _FLOAT_TYPES:
        value = float(value)
    return format(value, spec)


class Glued:
    """A chapter's named values. ``glue(key, value)`` records one; ``glued["key"]`` or ``glued["key:spec"]`` is the
    :class:`Said` the prose shows (the formatting rule is in the module docstring)."""

    def __init__(self, bibliography: str | Path = "references.bib"):
        self._bundles: dict[str, dict] = {}
        self._bibliography = Path(bibliography)  # read on the first citation, relative to the kernel's folder

    def glue(self, key: str, value) -> None:
        """Record ``value`` under ``key`` (a Python identifier, recorded once per chapter) as its IPython display
        bundle, as ``myst_nb.glue`` stores it; a Markdown object keeps its ``text/markdown``."""
        if not isinstance(key, str) or not re.fullmatch(KEY_PATTERN, key):
            raise ValueError(f"key must be a Python identifier (letters, digits, _), got {key!r}")
        if key in self._bundles:
            raise ValueError(f"key {key!r} is already glued in this chapter; each number has one name")
        bundle, _ = format_display_data(value)
        if "text/plain" not in bundle:
            raise ValueError(f"value for {key!r} has no text/plain form")
        self._bundles[key] = bundle
        if _nb_glue is not None:
            _nb_glue(key, value, display=False)

    def agrees(self, key: str, value) -> bool:
        """Whether ``value`` shows exactly as the value glued under ``key`` (the same display bundle): a chapter that
        states a number up front, before the section that derives it, checks there that the two agree."""
        if key not in self._bundles:
            raise KeyError(f"{key!r} is not glued")
        return format_display_data(value)[0] == self._bundles[key]

    def keys(self) -> list[str]:
        """The recorded keys, in the order they were glued."""
        return list(self._bundles)

    def __getitem__(self, ref: str) -> Said:
        if not isinstance(ref, str):
            raise ValueError(f"glued[...] takes 'key' or 'key:spec', got {ref!r}")
        key, _, spec = ref.partition(":")
        if key not in self._bundles:
            glued = ", ".join(self._bundles) or "none yet"
            raise KeyError(f"{key!r} is not glued (yet): glued keys are {glued}")
        bundle = self._bundles[key]
        if "text/markdown" in bundle and not spec:
            return Said(bundle["text/markdown"], markdown=True)
        text = format_plain(bundle["text/plain"], spec)
        if _QUOTED.match(text):
            raise ValueError(f"{key!r} shows as {text!r}: text in matching quotes would lose them when rendered")
        return Said(text)

    def cite(self, ref: str) -> Said:
        """A citation, ``"p:key"`` (parenthetical) or ``"t:key"`` (textual), several keys joined by commas, as the
        plain text of the book's sphinxcontrib-bibtex author-year citation (:func:`cite_markdown` with
        ``markdown=False``): jupyterlab-myst shows a ``text/plain`` result inline, in the sentence, while a Markdown
        one becomes a block of its own inside the line."""
        return Said(cite_markdown(ref, self._bibliography, markdown=False))


def _plain(latex: str) -> str:
    """BibTeX field text without LaTeX markup (``J{\\'e}gou`` -> ``Jégou``)."""
    from pybtex.richtext import Text  # only when a chapter cites: pybtex comes with the book extra

    return str(Text.from_latex(latex).render_as("text"))


def _entries(bibliography: Path) -> dict:
    if not bibliography.is_file():
        raise ValueError(f"bibliography must be an existing .bib file, got {str(bibliography)!r}")
    from pybtex.database import parse_file  # a dependency of sphinxcontrib-bibtex, which the book uses

    return parse_file(str(bibliography), bib_format="bibtex").entries


def cite_markdown(ref: str, bibliography: str | Path, markdown: bool = True) -> str:
    """``"p:k1,k2"`` -> ``\\[[A and B, 2024](url1), [C *et al.*, 2025](url2)\\]``; ``"t:k"`` -> ``C *et al.*
    \\[[2025](url)\\]``; with ``markdown=False`` the same as plain text: ``[A and B, 2024, C et al., 2025]``.

    The label is sphinxcontrib-bibtex's author-year one (``bibtex_reference_style: author_year``): the first author's
    last name for one author, "A and B" for two, "A *et al.*" for three or more, then the year; each label links to
    the entry's ``url`` (the book links to its bibliography page, which JupyterLab cannot render).
    """
    if not isinstance(ref, str) or not re.fullmatch(rf"[pt]:{BIB_KEY_PATTERN}(?:,{BIB_KEY_PATTERN})*", ref):
        raise ValueError(f'glued.cite takes "p:key" or "t:key" (keys joined by commas), got {ref!r}')
    kind, _, keys = ref.partition(":")
    lb, rb = ("\\[", "\\]") if markdown else ("[", "]")  # escaped in Markdown: no link syntax can form
    entries = _entries(Path(bibliography))
    parts = []
    for key in keys.split(","):
        if key not in entries:
            raise ValueError(f"citation key {key!r} is not in {bibliography}")
        entry = entries[key]
        names = [_plain(" ".join(person.last_names)) for person in entry.persons.get("author", [])]
        if not names:
            raise ValueError(f"citation key {key!r} has no author in {bibliography}")
        et_al = "*et al.*" if markdown else "et al."
        authors = names[0] if len(names) == 1 else " and ".join(names) if len(names) == 2 else f"{names[0]} {et_al}"
        year, url = entry.fields.get("year", ""), entry.fields.get("url", "") if markdown else ""

        def link(text: str, url: str = url) -> str:
            return f"[{text}]({url})" if url else text

        parts.append(link(f"{authors}, {year}") if kind == "p" else f"{authors} {lb}{link(year)}{rb}")
    return f"{lb}{', '.join(parts)}{rb}" if kind == "p" else ", ".join(parts)
