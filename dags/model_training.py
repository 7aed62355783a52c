"""model_training: train each model inside its jurisdiction on that jurisdiction's synced data."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import Asset, AssetAlias, AssetAny, Param, dag, task

from multicloud.assets import MODELS_ALIAS, training_inputs
from multicloud.dagkit import default_args, form, parse_time_estate

# No '/' and no '..': a version is a folder name under the model store.
VERSION_PATTERN = r"^$|^(?!.*[.][.])[A-Za-z0-9][A-Za-z0-9._-]*$"

# The estate names the synced datasets this DAG is scheduled on (a local file; see parse_time_estate).
_ESTATE, _ESTATE_WARNING = parse_time_estate()
_INPUTS = sorted(training_inputs(_ESTATE)) if _ESTATE else []

DOC = """
### Model training inside the data's jurisdiction

Runs when residency_sync publishes a model's training dataset **in the model's `train_in`
region** (`x-multicloud://<dataset>/<region>`), or by hand. Each model reads only that region's
copy, keeps only rows of the model's data class, fits a standardised logistic regression
(scikit-learn), and stores a JSON artifact plus a model card (version, data class, training
region, rows, holdout accuracy/AUC, smoke cases) at
`{train_in storage}/models/<model>/<version>/`. Each stored version emits an asset event on
`x-multicloud://model/<model>` (extra: version, artifact_uri, data_class), which schedules
**model_rollout**. A model whose training data is missing fails with a message naming the region.

**Manual runs** (with or without a logical date) train every model (or `models`) on all the data
synced so far; a version is `v<run_after as YYYYMMDDHHMMSS>-<hash of the run id>`, unique even for
two runs in the same minute, and never overwritten (versions are immutable). Unknown `models`
fail the first task with the estate's model ids in the message.

**Backfills do not retrain** (a deliberate choice): asset events from backfill runs of
residency_sync are ignored, so re-syncing old intervals never changes what is served. The next
scheduled sync, or a manual run, trains on everything including the backfilled data.
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
    params=form({
        "models": Param([], type=["null", "array"], items={"type": "string"},
                        description="Model ids to train; empty: those whose data just synced, else all"),
        "version": Param("", type=["null", "string"], pattern=VERSION_PATTERN, maxLength=64,
                         description="Version label (letters, digits, '.', '_', '-'; no '/' or '..'); empty: "
                                     "v<YYYYMMDDHHMMSS>-<run hash>, unique per run"),
        "estate_file": Param("", type=["null", "string"], description="Estate file; empty: the configured estate"),
    }),
)
def model_training():
    @task
    def select_models(**context) -> list[str]:
        from multicloud.dagkit import estate_for
        from multicloud.training.run import from_backfill, select_models

        events = [event for events in (context.get("triggering_asset_events") or {}).values() for event in events]
        fresh = [e for e in events if not from_backfill(e.extra, getattr(e, "source_run_id", None))]
        if events and not fresh:
            # the backfill policy (README): a backfill restores data; it never changes what is served
            print(f"{len(events)} asset event(s), all from backfill runs: nothing retrained")
            return []
        uris = [event.asset.uri for event in fresh]
        return select_models(estate_for(context["params"]), context["params"]["models"], uris)

    @task(outlets=[AssetAlias(MODELS_ALIAS)], max_active_tis_per_dagrun=2)
    def train(model_id: str, **context) -> dict:
        from airflow.sdk import Asset

        from multicloud.assets import model_asset_uri
        from multicloud.dagkit import estate_for
        from multicloud.training.run import train_and_store, version_label

        version = context["params"]["version"] or version_label(context["dag_run"].run_after, context["run_id"])
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
