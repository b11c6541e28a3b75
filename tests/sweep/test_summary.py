"""The per-item progress line names each task type's own primary metric."""

import types

from mtl import hookimpl
from mtl.core.plugins import load_plugins
from mtl.core.task_type import Metric
from mtl.plugins.tasks.regression import RegressionTask
from mtl.sweep.execute import summary


class RankTask(RegressionTask):
    """A plugin's task type whose primary metric no built-in uses."""

    metrics = (Metric("kendall", True), Metric("rmse", False))
    primary = "kendall"


class RankPlugin:
    @hookimpl
    def mtl_register_task_types(self, registry):
        registry.add("rank", RankTask())


def test_each_task_types_primary_metric_is_shown():
    plugins = load_plugins(env={"MTL_PLUGINS": ""}, extra=[("rank", RankPlugin())])
    sweep = types.SimpleNamespace(target="t")
    cases = {
        "rank": ({"kendall": 0.51234, "rmse": 2.0}, "test t kendall 0.5123"),
        "binary": ({"accuracy": 0.7, "roc_auc": 0.8, "f1": 0.6, "pr_auc": 0.5}, "roc_auc 0.8000"),
        "multiclass": ({"accuracy": 0.4, "macro_f1": 0.3, "weighted_f1": 0.2}, "accuracy 0.4"),
        "regression": ({"rmse": 3.0, "mae": 2.0, "r2": 0.1, "spearman": 0.2}, "rmse 3.0000"),
    }
    for name, (metrics, expected) in cases.items():
        line = summary(sweep, {"test": {"t": metrics}}, ["t"], plugins)
        assert line.startswith("test t ") and expected in line, (name, line)
    # the target is shown when the item trains it, else its first task
    results = {"test": {"a": {"rmse": 1.0, "mae": 1.0}}}
    assert summary(sweep, results, ["a"], plugins) == "test a rmse 1.0000"
    assert summary(sweep, {"test": {}}, ["a"], plugins) == ""
