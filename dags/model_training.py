"""model_training: train each model inside its jurisdiction on that jurisdiction's synced data."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import Asset, AssetAlias, AssetAny, Param, dag, task

from multicloud.dagkit import default_args, parse_time_estate
from multicloud.rollout.assets import MODELS_ALIAS, training_inputs

# The estate names the synced datasets this DAG is scheduled on (a local file; see parse_time_estate).
_ESTATE, _ESTATE_WARNING = parse_time_estate()
_INPUTS = sorted(training_inputs(_ESTATE)) if _ESTATE else []

DOC = """
### Model training inside the data's jurisdiction

Runs when residency_sync publishes a model's training dataset **in the model's `train_in`
region** (`multicloud://<dataset>/<region>`), or by hand. Each model reads only that region's
copy, keeps only rows of the model's data class, fits a standardised logistic regression
(scikit-learn), and stores a JSON artifact plus a model card (version, data class, training
region, rows, holdout accuracy/AUC, smoke cases) at
`{train_in storage}/models/<model>/<version>/`. Each stored version emits an asset event on
`multicloud://model/<model>` (extra: version, artifact_uri, data_class), which schedules
**model_rollout**. A model whose training data is missing fails with a message naming the region.
"""


@dag(
    dag_id="model_training",
    schedule=AssetAny(*(Asset(uri) for uri in _INPUTS)) if _INPUTS else None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["multicloud", "models", "training"],
    default_args=default_args(retries=1),
    doc_md=DOC + _ESTATE_WARNING,
    params={
        "models": Param([], type="array", items={"type": "string"},
                        description="Model ids to train; empty: those whose data just synced, else all"),
        "version": Param("", type="string", description="Version label; empty: v<YYYYMMDDHHMM> of the run"),
        "estate_file": Param("", type="string", description="Estate file; empty: the configured estate"),
    },
)
def model_training():
    @task
    def select_models(**context) -> list[str]:
        from multicloud.dagkit import estate_for
        from multicloud.training.run import select_models

        events = context.get("triggering_asset_events") or {}
        uris = [event.asset.uri for key in events for event in events[key]]
        return select_models(estate_for(context["params"]), context["params"]["models"], uris)

    @task(outlets=[AssetAlias(MODELS_ALIAS)], max_active_tis_per_dagrun=2)
    def train(model_id: str, **context) -> dict:
        from airflow.sdk import Asset

        from multicloud.dagkit import estate_for
        from multicloud.rollout.assets import model_asset_uri
        from multicloud.training.run import train_and_store

        moment = context.get("logical_date") or context["dag_run"].run_after
        version = context["params"]["version"] or f"v{moment:%Y%m%d%H%M}"
        result = train_and_store(estate_for(context["params"]), model_id, version)
        context["outlet_events"][AssetAlias(MODELS_ALIAS)].add(
            Asset(model_asset_uri(model_id)),
            extra={k: result[k] for k in ("version", "artifact_uri", "data_class", "trained_in")})
        return result

    @task(trigger_rule="all_done")
    def summarize(selected: list[str], **context) -> None:
        from airflow.sdk.exceptions import AirflowFailException

        from multicloud.dagkit import estate_for
        from multicloud.metrics import emit
        from multicloud.reports import write_summary

        pulled = context["ti"].xcom_pull(task_ids="train", default=[]) or []
        results = [r for r in ([pulled] if isinstance(pulled, dict) else pulled) if r]  # one mapped run: a dict
        trained = {r["model"]: r for r in results}
        failed = [m for m in selected if m not in trained]
        estate = estate_for(context["params"])
        lines = [f"{r['model']} {r['version']}: trained in {r['trained_in']} on {r['rows']} {r['data_class']} rows, "
                 f"AUC {r['metrics']['auc']:.3f}, accuracy {r['metrics']['accuracy']:.3f}" for r in results][:6]
        lines += [f"{m}: FAILED (see the train task log)" for m in failed][: 8 - len(lines)]
        if not selected:
            lines = ["no model selected for training"]
        for r in results:
            emit("model.trained", 1, dimensions={"model": r["model"], "version": r["version"],
                                                 "region": r["trained_in"]}, estate=estate)
            emit("model.auc", r["metrics"]["auc"], unit="ratio", dimensions={"model": r["model"]}, estate=estate)
        write_summary("model_training", context["run_id"], lines, {"trained": results, "failed": failed})
        for line in lines:
            print(line)
        if failed:
            raise AirflowFailException(f"training failed for {failed}")

    selected = select_models()
    summarize(selected).set_upstream(train.expand(model_id=selected))


model_training()
