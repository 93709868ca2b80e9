"""Self-contained HTML pages (no CDN, no script): the Runway view, the gate verdict report and
the model card. Rendered with Jinja2, autoescaped; plots are inline SVG."""

from __future__ import annotations

import datetime as dt
import functools

import jinja2

STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5rem auto;max-width:72rem;color:#1d2733;
padding:0 1rem}
h1{font-size:1.5rem;margin-bottom:.2rem} h2{font-size:1.15rem;margin-top:1.8rem;
border-bottom:1px solid #d8dee6;padding-bottom:.2rem}
.sub{color:#5a6776;margin-top:0} table{border-collapse:collapse;width:100%;font-size:.86rem}
th,td{border-bottom:1px solid #e4e8ee;padding:.28rem .45rem;text-align:left;vertical-align:top}
th{background:#f3f5f8} .cards{display:flex;gap:1rem;flex-wrap:wrap}
.card{border:1px solid #d8dee6;border-radius:6px;padding:.7rem 1rem;flex:1;min-width:20rem}
.pass{color:#2e7d32;font-weight:600} .fail{color:#b03030;font-weight:600}
.muted{color:#6b7785} code{font-size:.85em;word-break:break-all} form{display:inline-flex;gap:.4rem;
align-items:center;margin:.2rem 1rem .2rem 0} input{padding:.2rem .3rem}
.error{background:#fdecea;border:1px solid #f5c2bd;padding:.5rem;border-radius:4px}
svg{max-width:100%;height:auto}
"""

VIEW = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Runway — {{ story.model_name }}</title><style>{{ style }}</style></head><body>
<h1>Runway: the story of <code>{{ story.model_name }}</code></h1>
<p class="sub">Read {{ now }} from the registry, <code>monitoring_metrics</code>, the quarantine
and the reports. Signed in as <b>{{ user }}</b>.</p>
{% if story.error %}<p class="error">Not everything could be read: {{ story.error }}</p>{% endif %}
{% if message %}<p class="error">{{ message }}</p>{% endif %}

<h2>Champion and challenger</h2>
<div class="cards">
{% for alias in ["champion", "challenger"] %}{% set v = story.alias(alias) %}
<div class="card" id="{{ alias }}"><h3>{{ alias }}:
{% if v %}version {{ v.version }} <span class="muted">({{ v.family }})</span>{% else %}
<span class="muted">none</span>{% endif %}</h3>
{% if v %}<table>
{% for k, value in v.metrics|dictsort %}<tr><th>{{ k }}</th><td>{{ "%.4f"|format(value) }}</td>
</tr>{% endfor %}
<tr><th>gate</th><td class="{{ 'pass' if v.tag('gate_passed') == 'true' else 'fail' }}">
{{ v.tag('gate_summary', 'not gated') }}</td></tr>
{% for k, value in v.lineage.items() %}<tr><th>{{ k }}</th><td><code>{{ value }}</code></td>
</tr>{% endfor %}
<tr><th>evidence</th><td><a href="{{ mlflow }}/#/experiments/{{ experiments.get(v.run_id, '0')
}}/runs/{{ v.run_id }}">MLflow run</a>
{% if v.version in gate_reports %} · <a href="reports/gate/{{ gate_reports[v.version] }}">gate
verdict</a>{% endif %}
{% if v.version in cards %} · <a href="reports/models/{{ cards[v.version] }}">model card</a>
{% endif %}</td></tr></table>{% elif alias == "champion" %}
<p>No champion yet: run <code>training_pipeline</code> (or <code>make demo</code>).</p>
{% endif %}</div>{% endfor %}
{% if experiment %}<div class="card" id="experiment"><h3>online experiment</h3>
<table>{% for k, value in experiment.items() %}<tr><th>{{ k }}</th><td>{{ value }}</td></tr>
{% endfor %}</table></div>{% endif %}
{% if service %}<div class="card" id="service"><h3>online service</h3><table>
{% for k, value in service.items() %}<tr><th>{{ k }}</th><td>{{ value }}</td></tr>{% endfor %}
</table></div>{% endif %}
</div>

<h2>Actions</h2>
<p class="muted">Each action triggers its DAG as you, through Airflow's API: Airflow checks
your role and records the run.</p>
<form method="post" action="actions/promote"><b>Promote</b> version
<input name="version" type="number" min="1" required size="4">
reason <input name="reason" required minlength="3" size="28"><button>Promote</button></form>
<form method="post" action="actions/rollback"><b>Roll back</b> to version
<input name="version" type="number" min="1" required size="4">
reason <input name="reason" required minlength="3" size="28"><button>Roll back</button></form>

<h2>Drift, realized performance and retraining</h2>
{% if timeline %}{{ timeline|safe }}{% else %}<p class="muted">Nothing monitored yet:
<code>model_monitoring</code> writes a row per day once scored days have their outcomes.</p>
{% endif %}

<h2>Model history</h2>
<table id="history"><tr><th>version</th><th>family</th><th>aliases</th><th>training window</th>
<th>test AUC</th><th>what happened</th></tr>
{% for v in story.versions %}<tr><td>{{ v.version }}</td><td>{{ v.family }}</td>
<td>{{ v.aliases|join(", ") }}</td><td>{{ v.tag("training_window") }}</td>
<td>{{ "%.4f"|format(v.metrics["test_roc_auc"]) if "test_roc_auc" in v.metrics else "" }}</td>
<td>{% for e in v.events %}<div><b>{{ e.what }}</b> — {{ e.why }}
<span class="muted">({{ e.who }})</span></div>{% endfor %}</td></tr>
{% else %}<tr><td colspan="6" class="muted">no version registered yet</td></tr>{% endfor %}
</table>

<h2>Quarantined days</h2>
<table id="quarantine"><tr><th>day</th><th>gate</th><th>tables</th><th>reasons</th></tr>
{% for q in story.quarantined %}<tr><td>{{ q.day }}</td><td>{{ q.gate }}</td>
<td>{{ q.tables|join(", ") }}</td><td>{% for r in q.reasons[:6] %}<div>{{ r }}</div>{% endfor %}
{% if q.reasons|length > 6 %}<div class="muted">… {{ q.reasons|length - 6 }} more</div>
{% endif %}</td></tr>
{% else %}<tr><td colspan="4" class="muted">none: every landed day passed its gates</td></tr>
{% endfor %}</table>

<h2>Reports</h2>
{% for kind, label, prefix in [("drift", "Evidently drift reports", "reports"),
  ("gate", "Gate verdicts", "reports"), ("cards", "Model cards", "reports"),
  ("experiments", "Online experiments", "reports"),
  ("data_docs", "Great Expectations Data Docs", "gx")] %}
<h3>{{ label }}</h3><ul>{% for p in story.reports[kind][:15] %}
<li><a href="{{ prefix }}/{{ relative(p, kind) }}">{{ relative(p, kind) }}</a></li>
{% else %}<li class="muted">none yet</li>{% endfor %}</ul>{% endfor %}
<p><a href="{{ mlflow }}">MLflow</a>: runs, registered versions and their artifacts.</p>
</body></html>"""

GATE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Gate verdict: {{ model }} v{{ version }}</title><style>{{ style }}</style></head><body>
<h1>Model gate: {{ model }} version {{ version }} —
<span class="{{ 'pass' if verdict.passed else 'fail' }}">
{{ "PASSED" if verdict.passed else "FAILED" }}</span></h1>
<p class="sub">{{ family }}; judged on the test days {{ test_window }}
({{ test_rows }} flights) against champion {{ verdict.champion_version or "none" }}{% if
baseline %} and baseline version {{ baseline }}{% endif %}; policy {{ verdict.policy }};
written {{ now }}.</p>
<table><tr><th>check</th><th>kind</th><th>observed</th><th>must be</th><th>interval</th>
<th>result</th><th>detail</th></tr>
{% for c in verdict.checks %}<tr><td>{{ c.name }}</td><td>{{ c.kind }}</td>
<td>{{ fmt(c.observed) }}</td><td>{{ c.comparison }} {{ fmt(c.threshold) }}</td>
<td>{% if c.interval %}[{{ fmt(c.interval[0]) }}, {{ fmt(c.interval[1]) }}]{% endif %}</td>
<td class="{{ 'pass' if c.passed else 'fail' }}">{{ "pass" if c.passed else "FAIL" }}</td>
<td>{{ c.detail }}</td></tr>{% endfor %}</table>
{% if verdict.notes %}<h2>Notes</h2><ul>{% for n in verdict.notes %}<li>{{ n }}</li>
{% endfor %}</ul>{% endif %}
</body></html>"""

CARD = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Model card: {{ model }} v{{ version }}</title><style>{{ style }}</style></head><body>
<h1>Model card: {{ model }} version {{ version }} <span class="muted">({{ family }})</span></h1>
<p class="sub">Written by training {{ now }}.</p>
<h2>What it predicts, for whom</h2>
<p>The probability that a flight leaving New York (EWR, JFK, LGA) arrives 15 minutes late or
more, or is cancelled, asked a day ahead: features are the carrier's, the origin's, the route's
and the plane's recent delay rates and the origin's weather up to the end of the day before, and
the flight's own schedule. For operations planning a day ahead; not a promise about one flight.
</p>
<h2>Lineage</h2><table>{% for k, v in lineage.items() %}<tr><th>{{ k }}</th>
<td><code>{{ v }}</code></td></tr>{% endfor %}</table>
<h2>Metrics on the test days {{ test_window }} ({{ test_rows }} flights), beside the baseline</h2>
<table><tr><th>metric</th><th>this version</th><th>baseline{% if baseline_version %} (version
{{ baseline_version }}){% endif %}</th></tr>
{% for name, mine, theirs in metrics %}<tr><td>{{ name }}</td><td>{{ fmt(mine) }}</td>
<td>{{ fmt(theirs) }}</td></tr>{% endfor %}</table>
<p class="muted">Out of time: the Runway view plots realized AUC and ECE for the days this version
scored as champion.</p>
<h2>Calibration on the test days</h2>{{ calibration|safe }}
<h2>What drives it</h2>{% if drivers %}<table><tr><th>feature</th>
<th>mean |contribution| (log-odds)</th></tr>{% for name, value in drivers %}<tr><td>{{ name }}
</td><td>{{ "%.4f"|format(value) }}</td></tr>{% endfor %}</table>
<p class="muted">{{ drivers_method }}</p>{% else %}<p class="muted">{{ drivers_method }}</p>
{% endif %}
<h2>Slices (test days)</h2><table><tr><th>column</th><th>value</th><th>flights</th>
<th>delayed</th><th>AUC</th></tr>{% for s in slices %}<tr><td>{{ s.column }}</td>
<td>{{ s.value }}</td><td>{{ s.rows }}</td><td>{{ s.positives }}</td><td>{{ fmt(s.roc_auc) }}</td>
</tr>{% endfor %}</table>
<h2>Known limits</h2><ul>
<li>It cannot know tomorrow's weather or an air-traffic-control ground stop: those days are
where it is most wrong, and they dominate its errors.</li>
<li>Trained on {{ lineage.get("training_window", "its window") }}: a season it has not seen
(holidays, summer storms) may shift the base rate; monitoring watches calibration and AUC.</li>
<li>Flights of one day share weather: its metrics carry day-block intervals, not per-flight
ones.</li><li>NYC departures of 2013 only (replayed onto the current year).</li></ul>
</body></html>"""


def _fmt(value) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


@functools.cache
def _env() -> jinja2.Environment:
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    env.globals.update(style=STYLE, fmt=_fmt)
    return env


def render(template: str, **values) -> str:
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return _env().from_string(template).render(now=now, **values)
