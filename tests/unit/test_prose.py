"""georecall.prose: an inline expression glued["key:spec"] shows exactly what myst-nb's {glue:text}`key:spec` showed."""

from __future__ import annotations

import re

import numpy as np
import pytest
from IPython.core.formatters import format_display_data
from IPython.display import Markdown
from myst_nb.core.variables import format_plain_text

from georecall.prose import EXPRESSION_PATTERN, Glued, Said, format_plain

VALUES = [
    0.123456789,
    1 / 3,
    2.0,
    1e-7,
    12345.678,
    7,
    0,
    -3,
    65536,
    np.float64(0.51234),
    np.int64(220),
    np.float32(0.25),
    True,
    "8 → 3 → 5",
    "{16, 32, 64}",
    "it's",
    "+1.25 (± 0.03)",
]
SPECS = ["", ".2f", ".1f", ".0f", ".3f", ".4f", ",.0f", ",", ".1%"]


def _glue_role(value, spec: str) -> str:
    """What myst-nb's {glue:text} role shows: the glued text/plain, formatted by myst-nb itself."""
    return format_plain_text(format_display_data(value)[0]["text/plain"], spec or "s")


@pytest.mark.parametrize("value", VALUES, ids=repr)
@pytest.mark.parametrize("spec", SPECS)
def test_an_expression_shows_what_the_glue_role_showed(value, spec):
    glued = Glued()
    glued.glue("k", value)
    try:
        expected = _glue_role(value, spec)
    except ValueError:  # a spec that does not fit the value (text with .2f): the expression fails too, not silently
        with pytest.raises(ValueError):
            glued[f"k:{spec}"]
        return
    said = glued[f"k:{spec}" if spec else "k"]
    text = format_display_data(said)[0]["text/plain"]  # what a kernel sends back for the expression
    assert text == expected
    assert format_plain(format_display_data(value)[0]["text/plain"], spec) == expected


def test_text_shows_without_quotes_where_a_str_would_be_quoted():
    glued = Glued()
    glued.glue("chain", "8 → 3 → 5")
    bundle = format_display_data(glued["chain"])[0]
    assert bundle == {"text/plain": "8 → 3 → 5"}  # text only: no text/html or markdown that would outrank it
    assert format_display_data("8 → 3 → 5")[0]["text/plain"] == "'8 → 3 → 5'"  # a str is quoted


def test_markdown_shows_as_markdown():
    glued = Glued()
    glued.glue("sentence", Markdown("d\\* grows *linearly*."))
    said = glued["sentence"]
    assert said == Said("d\\* grows *linearly*.", markdown=True)
    assert format_display_data(said)[0]["text/markdown"] == "d\\* grows *linearly*."


def test_agrees_compares_what_is_shown():
    glued = Glued()
    glued.glue("x", 0.5)
    assert glued.agrees("x", 0.5) and not glued.agrees("x", 0.5000001)
    with pytest.raises(KeyError, match="'y' is not glued"):
        glued.agrees("y", 1)


def test_bad_keys_and_references_are_refused():
    glued = Glued()
    with pytest.raises(ValueError, match="key must be a Python identifier"):
        glued.glue("not a key", 1)
    glued.glue("x", 1)
    with pytest.raises(ValueError, match="already glued"):
        glued.glue("x", 2)
    with pytest.raises(KeyError, match="'z' is not glued"):
        glued["z"]
    glued.glue("quoted", "'a'")
    with pytest.raises(ValueError, match="matching quotes"):
        glued["quoted"]


def test_the_expression_pattern_admits_only_the_prose_form():
    good = ['glued["slope"]', 'glued["slope:.2f"]', 'glued["n:,"]', 'glued["p:.1%"]', 'glued["bits:,.0f"]']
    bad = ['glued["a"] + 1', "glued['a']", 'glued["a:.2f"]; import os', "__import__('os')", 'glued["a b"]', "x"]
    assert all(re.match(EXPRESSION_PATTERN, e) for e in good)
    assert not any(re.match(EXPRESSION_PATTERN, e) for e in bad)


def test_a_kernel_returns_the_text_for_a_user_expression():
    """The path jupyterlab-myst takes: an execute request with user_expressions, answered by IPython."""
    from IPython.core.interactiveshell import InteractiveShell  # the shell a kernel runs, in process

    shell = InteractiveShell.instance()
    shell.run_cell("from georecall.prose import Glued\nglued = Glued()\nglued.glue('slope', 0.25814)")
    out = shell.user_expressions({"0": 'glued["slope:.2f"]', "1": 'glued["nope"]'})
    assert out["0"]["status"] == "ok" and out["0"]["data"] == {"text/plain": "0.26"}
    assert out["1"]["status"] == "error" and out["1"]["ename"] == "KeyError"
