"""Solara dashboard of the rare-earth model: run control, figures and view components.

``app.py`` (``solara run app.py``) only declares the page; :mod:`abm_dashboard.session` runs the
model, :mod:`abm_dashboard.charts` draws figures and :mod:`abm_dashboard.views` lays them out.
"""
