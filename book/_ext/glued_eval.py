"""Sphinx extension: ``{eval}`glued["key:spec"]``` in the book shows the glued value as myst-nb's glue roles do.

The chapters cite computed numbers as MyST inline expressions (georecall.prose): in JupyterLab, jupyterlab-myst
evaluates ``glued["key:spec"]`` in the kernel when the Markdown cell is run. The book does not evaluate them in a
kernel: myst-nb's own ``{eval}`` role needs ``nb_execution_mode: inline``, which runs a notebook only as far as the
last code cell the page shows, so the hidden ``remove-cell`` cells (the glue cells before a caption, the checks at a
chapter's end) would run late or never. The book keeps executing every notebook whole (``execute_notebooks:
force``, ``raise_on_error``), ``Glued.glue`` also glues each value with ``myst_nb.glue``, and this role replaces
myst-nb's ``eval`` role: it admits exactly the form ``georecall.prose.EXPRESSION_PATTERN`` and hands ``key:spec`` to
myst-nb's ``{glue:text}`` role (``key:myst`` to ``{glue:md}`` for a glued Markdown object), so the page shows what
the glue roles showed, formatted by myst-nb itself. A citation, ``{eval}`glued.cite("p:key")``` (or ``"t:key"``,
keys joined by commas; ``georecall.prose.CITE_PATTERN``), goes to sphinxcontrib-bibtex's ``{cite:p}`` / ``{cite:t}``
role with those keys, so the page shows and links the citation as that role does (jupyterlab-myst cannot read a
BibTeX file: in JupyterLab the kernel formats it, ``Glued.cite``). Anything else is a warning, which fails the ``-W``
build.
"""

from __future__ import annotations

import re

from myst_nb.core.variables import RetrievalError, create_warning
from myst_nb.ext.glue.roles import PasteMarkdownRole, PasteTextRole
from myst_nb.ext.glue.utils import retrieve_glue_data
from myst_nb.ext.utils import RoleBase
from sphinx.application import Sphinx

from georecall.prose import CITE_PATTERN, EXPRESSION_PATTERN


class GluedEvalRole(RoleBase):
    """``{eval}`glued["key"]``` / ``{eval}`glued["key:spec"]``` as ``{glue:text}`key:spec```."""

    def run(self):
        if re.match(CITE_PATTERN, self.text):
            kind, _, keys = self.text[len('glued.cite("') : -len('")')].partition(":")
            role = self.document.settings.env.get_domain("cite").role(kind)
            return role(f"cite:{kind}", self.rawtext, keys, self.lineno, self.inliner, {}, [])
        match = re.match(EXPRESSION_PATTERN, self.text)
        if not match:
            msg = f'{{eval}}`{self.text}`: the book reads only glued["key"], glued["key:spec"] or glued.cite("p:key")'
            return [], [create_warning(msg, self.document, self.line, subtype="eval")]
        ref = self.text[len('glued["') : -len('"]')]
        key, _, spec = ref.partition(":")
        try:
            data = retrieve_glue_data(self.document, key).data
        except RetrievalError as exc:
            return [], [create_warning(str(exc), self.document, self.line, subtype="eval")]
        if "text/markdown" in data and not spec:
            role, text = PasteMarkdownRole(), f"{key}:myst"
        else:
            role, text = PasteTextRole(), ref
        return role("glue", self.rawtext, text, self.lineno, self.inliner)

    def __call__(self, name, rawtext, text, lineno, inliner, options=None, content=()):
        self.lineno = lineno
        return super().__call__(name, rawtext, text, lineno, inliner, options, content)


def setup(app: Sphinx) -> dict:
    app.setup_extension("myst_nb")  # myst-nb registers its own `eval` role first; this one replaces it
    app.add_role("eval", GluedEvalRole(), override=True)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
