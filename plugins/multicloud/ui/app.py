"""The Estate view's FastAPI app: ``GET /`` (HTML page) and ``GET /api/estate`` (the same as JSON).

Mounted by the api-server under ``/multicloud/estate`` (see multicloud.plugin) and shown in the
Airflow UI's navigation as an external view. Handlers are plain ``def`` so FastAPI runs them in
its thread pool: file reads and the live audit never block the api-server's event loop.

Plugin apps are not protected by Airflow on their own: every route requires the same identity as
the Airflow UI (its JWT cookie, or a bearer token for API clients) and a user allowed to see
the website, as decided by the configured auth manager.
"""

from __future__ import annotations

import html
from typing import Any
from urllib.parse import quote

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse

from multicloud.reports import format_seconds


async def require_airflow_user(request: Request) -> None:
    # Imported here: every Airflow component loads the plugin, only the api-server serves it.
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.base_auth_manager import COOKIE_NAME_JWT_TOKEN
    from airflow.api_fastapi.auth.managers.models.resource_details import AccessView
    from airflow.api_fastapi.core_api.security import resolve_user_from_token

    header = request.headers.get("authorization", "")
    token = header[7:] if header.lower().startswith("bearer ") else request.cookies.get(COOKIE_NAME_JWT_TOKEN)
    user = await resolve_user_from_token(token)  # 401 without a token, 403 for an invalid one
    if not get_auth_manager().is_authorized_view(access_view=AccessView.WEBSITE, user=user):
        raise HTTPException(status_code=403, detail="Forbidden")


app = FastAPI(title="Multicloud estate view", docs_url=None, redoc_url=None, openapi_url=None,
              dependencies=[Depends(require_airflow_user)])


@app.get("/api/estate")
def estate_json() -> JSONResponse:
    from multicloud.ui.view import estate_view

    return JSONResponse(estate_view())


@app.get("/", response_class=HTMLResponse)
def estate_page() -> HTMLResponse:
    from multicloud.ui.view import estate_view

    return HTMLResponse(render(estate_view()))


def _run_link(dag_id: str, run: dict[str, Any]) -> str:
    if run.get("status") != "ok":
        return f"<span class='muted'>{html.escape(dag_id)}: no run yet</span>"
    href = f"/dags/{quote(dag_id)}/runs/{quote(run['run_id'], safe='')}"
    return (f"<a target='_top' href='{html.escape(href)}'>{html.escape(dag_id)}</a> "
            f"<span class='muted'>{html.escape(run['run_id'])}</span>")


def render(view: dict[str, Any]) -> str:
    esc = html.escape
    if view.get("error"):
        return (f"<!doctype html><html><body><h1>Estate</h1><p class='bad' id='estate-error'>"
                f"Estate {esc(view['estate_file'])} cannot be loaded: {esc(view['error'])}</p></body></html>")
    residency = view["residency"]
    violations = residency.get("violations", [])
    unverified = residency.get("unverified", [])
    rows = []
    for region in sorted(view["regions"], key=lambda r: (r["cloud"], r["jurisdiction"], r["id"])):
        bad = region["violations"] > 0 or bool(region.get("unverified"))
        verdict = (f"UNVERIFIED: {region['unverified']}" if region.get("unverified")
                   else str(region["violations"]) if region["violations"] else "ok")
        models = "; ".join(f"{m} {', '.join(v) or '-'}" for m, v in region["models"].items()) or "-"
        if region.get("cluster_error"):
            models = f"unreachable: {region['cluster_error']}"
        rows.append(
            f"<tr class='region{' violation' if region['violations'] else ''}{' unverified' if region.get('unverified') else ''}' "
            f"data-region='{esc(region['id'])}'>"
            f"<td>{esc(region['cloud'])}</td><td>{esc(region['jurisdiction'])}</td><td>{esc(region['id'])}</td>"
            f"<td>{esc(region['region'])}</td><td>{esc(region['cluster'] or '-')}</td><td>{esc(models)}</td>"
            f"<td>{esc(', '.join(f'{w}: {n}' for w, n in region['replicas'].items()) or '-')}</td>"
            f"<td class='{'bad' if bad else 'ok'}'>{esc(verdict)}</td></tr>")
    violation_rows = "".join(
        f"<tr class='violation'><td>{esc(v['region'])}</td><td>{esc(v['path'])}</td><td>{esc(str(v.get('data_class')))}</td>"
        f"<td>{esc(str(v.get('rows') or ''))}</td><td>{esc(v['reason'])}</td></tr>" for v in violations)
    cost, dr, alerts = view["cost"], view["dr"], view["alerts"]
    cost_text = (f"{cost['monthly']:,.0f} {cost.get('currency', 'USD')}/month" if cost.get("status") == "ok"
                 and cost.get("monthly") is not None else cost.get("status", "no data yet"))
    dr_text = (f"{dr.get('outcome')}: RTO {format_seconds(dr.get('rto_s'))} (target {format_seconds(dr.get('rto_target_s'))}), "
               f"RPO {format_seconds(dr.get('rpo_s'))} (target {format_seconds(dr.get('rpo_target_s'))})" if dr.get("status") == "ok"
               else dr.get("status", "no data yet"))
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>Estate</title>
<style>body{{font-family:sans-serif;margin:1.5em;color:#222}} table{{border-collapse:collapse;margin:.5em 0 1.5em}}
td,th{{border:1px solid #ccc;padding:4px 8px;font-size:13px;text-align:left}} tr.violation td{{color:#b00020}} tr.unverified td{{color:#b00020}}
.bad{{color:#b00020;font-weight:bold}} .ok{{color:#1b5e20}} .muted{{color:#777;font-size:12px}}
.cards > span{{display:inline-block;border:1px solid #ddd;border-radius:6px;padding:.5em 1em;margin:0 .5em .5em 0}}</style>
</head><body>
<h1>Estate <span class="muted">{esc(view['estate'])}</span></h1>
<div class="cards">
<span id="summary-regions">{len(view['regions'])} regions over {len(view['clouds'])} clouds ({esc(', '.join(view['clouds']))}),
{len(view['jurisdictions'])} jurisdictions</span>
<span id="summary-residency" class="{'bad' if violations or unverified else 'ok'}">Residency: {len(violations)} violation(s),
{f'<b id="summary-unverified">{len(unverified)} region(s) UNVERIFIED</b>,' if unverified else ''}
{len(residency.get('would_deny', []))} would-deny <span class="muted">({esc(residency.get('source', ''))})</span></span>
<span id="summary-cost">Cost: {esc(str(cost_text))}</span>
<span id="summary-dr">Last rehearsal: {esc(str(dr_text))}</span>
<span id="summary-alerts">Alerts: {alerts.get('count', 0)}</span>
</div>
<h2>Regions and clusters</h2>
<table id="regions"><tr><th>cloud</th><th>jurisdiction</th><th>region</th><th>cloud region</th><th>cluster</th>
<th>model versions</th><th>replicas</th><th>residency</th></tr>{''.join(rows)}</table>
<h2>Residency violations at rest</h2>
{'<table id="violations"><tr><th>region</th><th>path</th><th>class</th><th>rows</th><th>reason</th></tr>' + violation_rows + '</table>'
 if violations else ('<p class="bad" id="violations">None found, but ' + str(len(unverified)) + ' region(s) could not be read: UNVERIFIED.</p>'
 if unverified else '<p class="ok" id="violations">None: every object and row is where its class allows.</p>')}
<h2>Latest runs</h2>
<ul id="runs">{''.join(f'<li>{_run_link(d, r)}</li>' for d, r in view['runs'].items())}</ul>
<p class="muted">Full report: reports/estate_governance/report.html under {esc(view['home'])}</p>
</body></html>"""


