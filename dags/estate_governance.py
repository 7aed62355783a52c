"""estate_governance: one governance report over every cloud (daily, and on demand)."""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import Param, dag, get_current_context, task

from multicloud.dagkit import default_args, form

DOC = """
### Estate governance

The compliance officer's evidence and the CTO's one pane of glass:

- **at-rest residency audit**, one mapped task per region: every object under each dataset root
  (object-level datasets: the dataset's class; record-routed parquet/csv/jsonl: every row's
  country -> jurisdiction -> class, streamed), model artifacts (the model's class) and quarantine;
  each violation reported with its path. This catches copies made outside our DAGs.
- environment **drift** across clusters, **served model versions** per cluster, **cost** summary and
  trend (cost_rebalance), **last DR rehearsal** and its trend, recent **alerts**.
- one report: `reports/estate_governance/report.html` (charts) and `report.json` under the estate
  home; metrics `governance.*`; an alert `residency_violation` when anything is out of place.
- a region whose storage cannot be listed is **unverified**, never clean: red in the report and the
  Estate view with its cause, metric `governance.unverified_regions`, alert `residency_unverified`,
  and the run fails without a retry, which would re-read the same audits (unless
  `complete_when_unverified` lets it complete red); run the DAG again once the storage answers.

Also shown live in the Airflow UI: the **Estate** view (plugin `multicloud`).
"""


@dag(
    dag_id="estate_governance",
    schedule="@daily",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["multicloud", "governance", "residency"],
    default_args=default_args(retries=1, retry_delay_s=10),
    dagrun_timeout=timedelta(hours=2),
    doc_md=DOC,
    params=form({
        "regions": Param([], type=["null", "array"], items={"type": "string"},
                         description="region ids to audit (empty: every region of the estate)"),
        "strict": Param(False, type="boolean",
                        description="count objects under no dataset/model prefix as violations (unknown class)"),
        "alert_on_violation": Param(True, type="boolean", description="raise a residency_violation alert"),
        "complete_when_unverified": Param(
            False, type="boolean",
            description="let the run complete (red) when a region cannot be audited; by default it fails"),
        "estate_file": Param("", type=["null", "string"], description="estate YAML (default: Variable/env/local)"),
    }),
)
def estate_governance():
    @task
    def regions_to_audit() -> list[str]:
        from multicloud.dagkit import estate_for

        params = get_current_context()["params"]
        estate = estate_for(params)
        known = [r.id for r in estate.regions]
        chosen = list(params.get("regions") or known)
        unknown = sorted(set(chosen) - set(known))
        if unknown:
            from airflow.sdk.exceptions import AirflowFailException

            raise AirflowFailException(f"unknown region(s) {unknown}; the estate has {known}")
        return chosen

    @task(map_index_template="{{ task.op_kwargs['region_id'] }}")
    def audit_region(region_id: str) -> dict:
        from multicloud.dagkit import estate_for
        from multicloud.governance.audit import audit_estate, log_findings

        context = get_current_context()
        estate = estate_for(context["params"])
        result = audit_estate(estate, regions=[region_id], strict=bool(context["params"].get("strict")))
        log_findings(estate, result, context["run_id"])
        return result.as_dict()

    @task
    def collect_state() -> dict:
        from multicloud.dagkit import estate_for
        from multicloud.governance.collect import collect

        return collect(estate_for(get_current_context()["params"]))

    @task
    def publish(audits: list[dict], collected: dict) -> dict:
        from airflow.sdk.exceptions import AirflowFailException

        from multicloud.governance.publish import ResidencyUnverified, publish_report

        context = get_current_context()
        try:
            return publish_report(list(audits), collected, context)
        except ResidencyUnverified as exc:
            # decided: a retry of publish re-reads the same audits and can only fail again (10 s later)
            raise AirflowFailException(str(exc)) from exc

    audits = audit_region.expand(region_id=regions_to_audit())
    publish(audits, collect_state())


estate_governance()
