"""What a person sees: the model's whole story for the Runway view inside Airflow's UI.

Rooms: `story` gathers it from where it is already stored (the registry's aliases and tags,
`monitoring_metrics`, the quarantine, the reports folder); `plots` draws the time axis;
`pages` renders the view and the reports (gate verdict, model card) as self-contained HTML;
`links` names the evidence a task leaves for its "extra links" in the UI.
"""
