"""model_training: train each model inside its jurisdiction on that jurisdiction's synced data."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import Asset, AssetAlias, AssetAny, dag, task

from multicloud.assets import MODELS_ALIAS
from multicloud.dagkit import default_args, params_of, parse_time_schedule
from multicloud.training.settings import TrainingSettings

# The estate names the synced datasets this DAG is scheduled on (a local file; see parse_time_schedule).
_ESTATE = parse_time_schedule()
_INPUTS = _ESTATE.training_inputs

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
    doc_md=DOC + _ESTATE.warning,
    params=params_of(TrainingSettings),
)
def model_training():
    @task
    def select_models(params=None, triggering_asset_events=None) -> list[str]:
        from multicloud.training import tasks

        return tasks.select_models(params, triggering_asset_events)

    @task(outlets=[AssetAlias(MODELS_ALIAS)], max_active_tis_per_dagrun=2)
    def train(model_id: str, params=None, run_id=None, dag_run=None, outlet_events=None) -> dict:
        from multicloud.training import tasks

        return tasks.train(model_id, params, run_id, dag_run.run_after, outlet_events, MODELS_ALIAS)

    @task(trigger_rule="all_done")
    def summarize(selected: list[str], params=None, run_id=None, ti=None) -> None:
        from multicloud.training import tasks

        tasks.summarize(selected, ti.xcom_pull(task_ids="train", default=[]), params, run_id)

    selected = select_models()
    summarize(selected).set_upstream(train.expand(model_id=selected))


model_training()
