"""Airflow adapters behind dags/model_training.py: one function per task.

Imported inside tasks only. Each takes what the DAG's task receives from Airflow (its arguments
and the context values it names), builds the run's ``TrainingSettings`` from the Params and calls
``training.run``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from multicloud.dagkit import estate_for, mapped_results
from multicloud.training import run
from multicloud.training.settings import TrainingSettings

DAG_ID = "model_training"
RESULT_EXTRA = ("version", "artifact_uri", "data_class", "trained_in")


def select_models(params: Mapping[str, Any], triggering_asset_events: Mapping[Any, Any] | None) -> list[str]:
    """The models to train: the Param, else those whose synced input just landed, else all.

    Asset events from backfill runs retrain nothing (the README's backfill policy: a backfill
    restores data; it never changes what is served)."""
    settings = TrainingSettings.from_params(params)
    events = [event for events in (triggering_asset_events or {}).values() for event in events]
    fresh = [e for e in events if not run.from_backfill(e.extra, getattr(e, "source_run_id", None))]
    if events and not fresh:
        print(f"{len(events)} asset event(s), all from backfill runs: nothing retrained")
        return []
    return run.select_models(estate_for(params), settings.models, [event.asset.uri for event in fresh])


def train(model_id: str, params: Mapping[str, Any], run_id: str, run_after: datetime, outlet_events: Any,
          alias: str) -> dict[str, Any]:
    """Train and store one model version; its Asset event (through ``alias``) names the version."""
    from airflow.sdk import Asset, AssetAlias

    from multicloud.assets import model_asset_uri

    settings = TrainingSettings.from_params(params)
    version = settings.version or run.version_label(run_after, run_id)
    result = run.train_and_store(estate_for(params), model_id, version)
    outlet_events[AssetAlias(alias)].add(Asset(model_asset_uri(model_id)),
                                         extra={k: result[k] for k in RESULT_EXTRA})
    return result


def summarize(selected: list[str], trained: Any, params: Mapping[str, Any], run_id: str) -> None:
    """The run's summary and metrics from the ``train`` results; fails naming the models not trained."""
    from airflow.sdk.exceptions import AirflowFailException

    from multicloud.metrics import emit
    from multicloud.reports import write_summary

    results = mapped_results(trained)
    by_model = {r["model"]: r for r in results}
    failed = [m for m in selected if m not in by_model]
    estate = estate_for(params)
    lines = [f"{r['model']} {r['version']}: trained in {r['trained_in']} on {r['rows']} {r['data_class']} rows, "
             f"AUC {r['metrics']['auc']:.3f}, accuracy {r['metrics']['accuracy']:.3f}" for r in results][:6]
    lines += [f"{m}: FAILED (see the train task log)" for m in failed][: 8 - len(lines)]
    if not selected:
        lines = ["no model selected for training"]
    for r in results:
        emit("model.trained", 1, dimensions={"model": r["model"], "version": r["version"],
                                             "region": r["trained_in"]}, estate=estate)
        emit("model.auc", r["metrics"]["auc"], unit="ratio", dimensions={"model": r["model"]}, estate=estate)
    write_summary(DAG_ID, run_id, lines, {"trained": results, "failed": failed})
    for line in lines:
        print(line)
    if failed:
        raise AirflowFailException(f"training failed for {failed}")
