import pandas as pd
import pytest

from georecall.plot import tablefmt


def test_show_renames_rounds_and_hides_the_index():
    df = pd.DataFrame({"lower_bound_d": [4.3219, 12.5], "facts": [1024, 65536], "seconds": [3.918755, 0.5]})
    html = tablefmt.show(
        df,
        {
            "facts": "facts",
            "lower_bound_d": tablefmt.Col(header="lower bound on d", digits=1),
            "seconds": tablefmt.Col(header="time", unit="s", digits=1),
        },
    ).to_html()
    assert "lower bound on d" in html and "time (s)" in html and "lower_bound_d" not in html
    assert "65,536" in html and "3.9" in html and "3.918755" not in html
    assert html.index("facts") < html.index("lower bound on d")  # the listed order
    assert df.loc[0, "seconds"] == 3.918755  # the data frame is untouched
    assert 'class="dataframe"' in html


def test_show_rejects_unknown_columns_and_bad_digits():
    df = pd.DataFrame({"a": [1]})
    with pytest.raises(ValueError, match=r"\['b'\] are not in the table"):
        tablefmt.show(df, {"b": "B"})
    with pytest.raises(ValueError, match="at least one column"):
        tablefmt.show(df, {})
    with pytest.raises(ValueError, match="digits"):
        tablefmt.Col(header="a", digits=13)


@pytest.mark.parametrize(
    "value, col, text",
    [
        (True, tablefmt.Col(header="x"), "yes"),
        (float("nan"), tablefmt.Col(header="x"), "–"),
        (2.0, tablefmt.Col(header="x"), "2"),
        (0.00012, tablefmt.Col(header="x"), "1.20e-04"),
        ("block", tablefmt.Col(header="x"), "block"),
    ],
)
def test_format_value(value, col, text):
    assert tablefmt.format_value(value, col) == text
