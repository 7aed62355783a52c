"""The Airflow UI's trigger form for residency_sync and model_rollout in a real browser.

Debian's chromium driven by Playwright against the session's real deployment (``airflow_local``:
api-server, scheduler, dag-processor, triggerer; see tests/harness/airflow.py), logged in with the
JWT from ``POST /auth/token`` as the UI's ``_token`` cookie. For each DAG: every Param is shown
with its description, the Trigger button is usable with the defaults, a bad value is refused by the
form (the API's message is shown, no run is created), and a good one starts a run that succeeds.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.integration, pytest.mark.timeout(1500)]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
# Every wait is on a condition (an element shown, a button enabled, a run created) with this
# deadline: a loaded 2-core machine renders the React UI and validates the form slowly.
UI_DEADLINE_S = 240
HOUR = (datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=12))
FORMS = {
    "residency_sync": {"bad": {"interval_start": "2026-01-01T05:30:00Z"},
                       "good": {"datasets": "customer-events", "regions": "oci-fra",
                                "interval_start": HOUR.strftime("%Y-%m-%dT%H:00:00Z")}},
    # A number outside its bounds never reaches the API from this form: the UI's number input clamps
    # it to the bound on blur (checked below; the API's own refusal of 1.5 is tested over REST in
    # tests/scheduler/test_local_executor.py). A pattern the UI cannot clamp is refused by the API.
    "model_rollout": {"bad": {"version": "../v1"}, "good": {"gate_success_rate": "0.9", "gate_checks": "1"},
                      "clamped": ("gate_success_rate", "1.5", "1")},
}


@pytest.fixture(scope="module")
def page(airflow_local):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make browser` (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = chromium.new_context(viewport={"width": 1400, "height": 1000})
            context.add_cookies([{"name": "_token", "value": airflow_local.token(), "url": airflow_local.base_url}])
            page = context.new_page()
            page.set_default_timeout(UI_DEADLINE_S * 1000)
            yield page
        finally:
            chromium.close()


def _open_form(page, base: str, dag_id: str):
    page.goto(f"{base}/dags/{dag_id}", wait_until="domcontentloaded")
    trigger = page.get_by_role("button", name="Trigger").first
    trigger.wait_for(state="visible")
    trigger.click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_text("Run Parameters").wait_for()
    return dialog


def _descriptions(af, dag_id: str) -> dict[str, str]:
    params = af.api("GET", f"/api/v2/dags/{dag_id}/details")["params"]
    return {name: (p.get("description") or (p.get("schema") or {}).get("description") or "")
            for name, p in params.items()}


def _fill(dialog, values: dict[str, str]) -> None:
    for name, value in values.items():
        dialog.locator(f"[name='element_{name}']").fill(value)


@pytest.mark.parametrize("dag_id", list(FORMS))
def test_the_trigger_form_shows_every_param_refuses_a_bad_value_and_runs_a_good_one(airflow_local, page, dag_id):
    af = airflow_local
    af.unpause(dag_id)  # the harness starts DAGs paused; a run of a paused DAG never starts
    dialog = _open_form(page, af.base_url, dag_id)
    descriptions = _descriptions(af, dag_id)
    assert descriptions, "the DAG has no Params"
    dialog.get_by_text(list(descriptions.values())[-1], exact=False).first.wait_for()
    shown = " ".join(dialog.inner_text().split())
    for name, description in descriptions.items():
        assert name in shown, f"Param {name} is not in the form"
        assert description, f"Param {name} has no description"
        assert " ".join(description.split()) in shown, f"the description of {name} is not shown: {description!r}"
    submit = dialog.get_by_role("button", name="Trigger", exact=True)
    af._wait(submit.is_enabled, UI_DEADLINE_S, "the Trigger button to be usable with the defaults (no empty required field)")

    before = {r["dag_run_id"] for r in af.runs(dag_id)}
    if "clamped" in FORMS[dag_id]:
        field, typed, shown_value = FORMS[dag_id]["clamped"]
        box = dialog.locator(f"[name='element_{field}']")
        box.fill(typed)
        box.press("Tab")  # blur: the number input clamps to the schema's bound
        af._wait(lambda: box.input_value() == shown_value, UI_DEADLINE_S, f"{field} {typed} to be clamped")
        box.fill("")
    (name, _), = FORMS[dag_id]["bad"].items()
    _fill(dialog, FORMS[dag_id]["bad"])
    af._wait(submit.is_enabled, UI_DEADLINE_S, "the Trigger button to submit the bad value")
    # the refusal must be the API's answer to the form's trigger (not a form that never sent it)
    with page.expect_response(lambda r: r.request.method == "POST" and r.url.endswith(f"/dags/{dag_id}/dagRuns"),
                              timeout=UI_DEADLINE_S * 1000) as answer:
        submit.click()
    assert answer.value.status == 400, f"the bad value {FORMS[dag_id]['bad']} got {answer.value.status}"
    dialog.get_by_text(f"Invalid input for param {name}").wait_for()
    assert {r["dag_run_id"] for r in af.runs(dag_id)} == before, "a refused trigger created a run"

    page.keyboard.press("Escape")
    dialog = _open_form(page, af.base_url, dag_id)
    _fill(dialog, FORMS[dag_id]["good"])
    good = dialog.get_by_role("button", name="Trigger", exact=True)
    af._wait(good.is_enabled, UI_DEADLINE_S, "the Trigger button to accept the good values")
    good.click()
    created = af._wait(lambda: [r for r in af.runs(dag_id) if r["dag_run_id"] not in before], UI_DEADLINE_S,
                       f"the form to create a {dag_id} run")
    assert len(created) == 1
    af.wait_for_run(dag_id, created[0]["dag_run_id"], timeout=900)
    if dag_id == "residency_sync":
        partition = af.estate_home / "storage" / "oci-fra" / "customer-events" / HOUR.strftime("dt=%Y-%m-%d/hr=%H")
        assert any(partition.glob("*.parquet")), f"the chosen interval_start did not land: {partition}"
