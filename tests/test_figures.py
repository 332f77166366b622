"""The figures: each one written, of a size a person can read, and saying what it plots
(t_gen marked on the accuracy plot, t_gen as points on a log axis, no colour used twice).
Drawn from small made-up curves: under a second each."""
import numpy as np
import pytest
from folders import assert_readable_png

from minigrok import figures
from minigrok.recipes.common import aggregate


@pytest.fixture
def saved(monkeypatch):
    """The figures saved by the test, kept open: [matplotlib Figure]."""
    kept = []
    save = figures._save

    def keep(fig, path, *args, **kwargs):
        kept.append(fig)
        return save(fig, path, *args, **kwargs)

    monkeypatch.setattr(figures, "_save", keep)
    return kept


def curve(t_gen, epochs=2000):
    """Made-up metrics: train accuracy 1 from epoch 100, test accuracy 1 from t_gen (or never)."""
    e = np.arange(0, epochs + 1, 10)
    test = np.where(e >= (t_gen if t_gen is not None else epochs + 1), 1.0, 0.1)
    return {"epoch": e.tolist(), "train_acc": np.where(e >= 100, 1.0, 0.2).tolist(),
            "test_acc": test.tolist(), "l1": (100 - e / 40).tolist(), "l2": (10 - e / 400).tolist()}


def test_accuracy_plot_marks_each_runs_t_gen(tmp_path, saved):
    path = str(tmp_path / "accuracy.png")
    figures.plot_accuracy_curves({"dense": curve(1500), "ticket": curve(None)}, path, title="t")
    assert_readable_png(path)
    legend = [t.get_text() for t in saved[0].axes[0].get_legend().get_texts()]
    assert "dense t_gen(0.99) = 1500" in legend and "ticket t_gen(0.99) = never" in legend
    lines = [ln for ln in saved[0].axes[0].get_lines() if list(ln.get_xdata()) == [1501, 1501]]
    assert len(lines) == 1  # the dotted line at dense's t_gen (epoch + 1 on the log axis)


def summary_of(conditions, t_gens, seeds=(0, 1, 2), epochs=2000):
    """A recipe summary (common.finish's keys) and its curves from t_gen per (condition, seed)."""
    rows = [{"condition": c, "seed": s, "t_gen": t_gens(c, s), "t_gen_0.95": t_gens(c, s),
             "final_test_acc": 1.0} for c in conditions for s in seeds]
    summary = {"by_condition": aggregate(rows), "seeds": list(seeds),
               "config": {"epochs": epochs, "task": "modular", "p": 67, "op": "add", "split": "sym",
                          "model": "mlp"}}
    return summary, {(r["condition"], r["seed"]): curve(r["t_gen"], epochs) for r in rows}


def test_experiment_figure_draws_t_gen_as_points_on_a_log_axis(tmp_path, saved):
    rates = [f"rate={r:.1f}" for r in np.arange(10) / 10]
    summary, curves = summary_of(rates, lambda c, s: None if c == "rate=0.9" else 300 + 100 * s + 50 * len(c))
    path = str(tmp_path / "rate-sweep.png")
    figures.plotter("ticket t_gen vs pruning rate")(summary, curves, path)
    height, width = assert_readable_png(path)
    points = saved[0].axes[1]
    assert points.get_yscale() == "log" and not points.patches  # markers and error bars, no bars
    assert "mean (o), min-max (bar), each seed (.)" in points.get_title()
    assert "never within the 2,000-epoch cap" in points.get_title()


def test_experiment_figure_with_extra_panels_is_a_grid(tmp_path):
    summary, curves = summary_of(["ticket", "dense"], lambda c, s: 500 if c == "ticket" else 1500)
    path = str(tmp_path / "norm-control.png")
    figures.plotter("norm control", figures.norm_panels)(summary, curves, path)
    height, width = assert_readable_png(path)
    assert width / height < 2  # five panels: two rows of three


def test_no_two_conditions_look_the_same(tmp_path, saved):
    ops = ["add", "sub", "mul", "div", "x2+y2", "x2+xy+y2", "x3+xy", "rand"]
    conditions = [f"{op} {run}" for op in ops for run in ("dense", "ticket")]  # 16, as `experiment ops`
    styles = figures.condition_styles(conditions)
    assert len(set(styles.values())) == 16
    assert len(set(figures.condition_styles([str(i) for i in range(45)]).values())) == 45
    summary, curves = summary_of(conditions, lambda c, s: 400, seeds=(0,))
    path = str(tmp_path / "ops.png")
    figures.plotter("ops")(summary, curves, path)
    assert_readable_png(path)
    drawn = {(ln.get_label(), str(ln.get_color()), ln.get_linestyle()) for ln in saved[0].axes[0].get_lines()}
    assert len({(c, s) for _, c, s in drawn}) == 16


def test_attention_figure(tmp_path):
    path = str(tmp_path / "attention.png")
    rng = np.random.default_rng(0)
    figures.plot_attention_patterns({"dense": rng.random((11, 11)), "ticket": np.full((11, 11), 0.5)},
                                    11, path, title="attention")
    assert_readable_png(path)
