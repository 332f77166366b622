"""`minigrok compare A.npz B.npz`: the numbers of the table, and one-line errors when the
names or shapes of the two files differ."""
import re

import numpy as np
import pytest

from minigrok import io
from minigrok.cli import main
from minigrok.compare import compare_arrays
from minigrok.errors import MinigrokError


def _checkpoint(path, scale_W=1.0, extra=None, masks=True):
    params = {"W_E": np.array([[1.0, -2.0], [0.0, 4.0]]) * scale_W, "W_U": np.ones((2, 3), np.float32)}
    params.update(extra or {})
    io.save_npz(str(path), params, {k: np.abs(w) > 0 for k, w in params.items()} if masks else None,
                meta={"note": str(path)})
    return str(path)


def test_table_numbers():
    a = {"W": np.array([1.0, -2.0, 0.0, 1e-9]), "m": np.array([True, False])}
    b = {"W": np.array([1.0, -2.5, 0.0, 2e-9]), "m": np.array([True, True])}
    rows = {r[0]: r for r in compare_arrays(a, b)["rows"]}
    _, shape, max_abs, max_rel, scaled, mismatched = rows["W"]
    assert mismatched == 0
    assert shape == (4,) and max_abs == pytest.approx(0.5)
    assert max_rel == pytest.approx(0.5)  # 1e-9 vs 2e-9: tiny entries dominate max rel
    assert scaled == pytest.approx(0.25)  # 0.5 against max |A| = 2
    assert rows["m"][2] == 1.0  # masks compare as 0/1


def test_cli_prints_a_row_per_array(tmp_path, capsys):
    a = _checkpoint(tmp_path / "a.npz")
    b = _checkpoint(tmp_path / "b.npz", scale_W=1.001)
    assert main(["compare", a, b]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split()[:2] == ["name", "shape"]
    names = [line.split()[0] for line in lines[1:-2]]
    assert names == ["W_E", "W_U", "mask/W_E", "mask/W_U"]
    assert lines[-1] == "not numbers, not compared: meta"  # a JSON string, said so
    w_e = lines[1].split()
    assert float(w_e[-3]) == pytest.approx(0.004, rel=1e-3) and float(w_e[-2]) == pytest.approx(1e-3, rel=1e-2)
    assert "largest against its scale: W_E" in lines[-2]
    assert main(["compare", a, a]) == 0
    assert all(float(x) == 0 for line in capsys.readouterr().out.splitlines()[1:-2] for x in line.split()[-3:])


@pytest.mark.parametrize("other, message", [
    (dict(extra={"W_in": np.ones((2, 2))}), "different names \\(only in .*b.npz.: W_in, mask/W_in\\)"),
    (dict(masks=False), "different names \\(only in .*: mask/W_E"),
    (dict(extra={"W_U": np.ones((3, 2))}), "'W_U' has shape \\(2, 3\\) in .* but \\(3, 2\\) in"),
])
def test_cli_errors(tmp_path, capsys, other, message):
    a = _checkpoint(tmp_path / "a.npz")
    b = _checkpoint(tmp_path / "b.npz", **other)
    assert main(["compare", a, b]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("minigrok: error: ")
    assert re.search(message, err), err


def test_cli_names_a_folder_or_a_file_that_is_not_an_npz(tmp_path, capsys):
    a = _checkpoint(tmp_path / "a.npz")
    (tmp_path / "s.json").write_text('{"t_gen": 1}')
    for other, message in ((tmp_path, "is a folder: give an .npz file"),
                           (tmp_path / "s.json", "not a valid .npz file (not a zip archive)")):
        assert main(["compare", a, str(other)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err, err


def test_cli_missing_file(tmp_path, capsys):
    a = _checkpoint(tmp_path / "a.npz")
    assert main(["compare", a, str(tmp_path / "nope.npz")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_no_numeric_arrays():
    with pytest.raises(MinigrokError, match="no numeric arrays"):
        compare_arrays({"meta": np.array("{}")}, {"meta": np.array("{}")})


def _row(a, b):
    return compare_arrays({"x": np.asarray(a)}, {"x": np.asarray(b)})["rows"][0][2:]


def test_nan_inf_complex_and_big_integers():
    nan, inf = float("nan"), float("inf")
    assert _row([1.0, nan, inf], [1.0, nan, inf]) == (0.0, 0.0, 0.0, 0)  # the same NaN and inf
    max_abs, max_rel, scaled, mismatched = _row([nan, 1.0], [2.0, 1.0])  # NaN against 2.0
    assert max_abs == inf and max_rel == inf and scaled == inf and mismatched == 1
    assert _row([inf], [-inf])[3] == 1
    assert _row([1 + 2j, 3j], [1 + 2j, 4j])[:2] == (1.0, 0.25)  # complex: |a - b|
    big = 2 ** 62
    assert _row(np.array([big], np.int64), np.array([big + 1], np.int64))[0] == 1.0  # exact
    worst = compare_arrays({"a": np.ones(2), "b": np.array([nan, 1.0])},
                           {"a": np.ones(2) * 2, "b": np.array([1.0, 1.0])})["rows"]
    assert max(worst, key=lambda r: r[4])[0] == "b"  # the NaN array is the worst, not ignored


def test_shared_compares_a_dense_and_a_ticket_checkpoint(tmp_path, capsys):
    a = _checkpoint(tmp_path / "a.npz", masks=False)
    b = _checkpoint(tmp_path / "b.npz")
    assert main(["compare", a, b]) == 2 and "give --shared" in capsys.readouterr().err
    assert main(["compare", a, b, "--shared"]) == 0
    out = capsys.readouterr().out
    assert "in one file only, not compared: mask/W_E, mask/W_U" in out
