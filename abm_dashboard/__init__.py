"""The browser app of the rare-earth model: the dashboard (``/``) and the classroom game.

``app.py`` (``solara run app.py``) declares the pages. Modules, bottom to top:

- :mod:`abm_dashboard.session`: the adapter, the only module that imports the model (public
  API only; the country-code-to-column-slug table lives here);
- :mod:`abm_dashboard.svg` and :mod:`abm_dashboard.charts`: charts as SVG text;
- :mod:`abm_dashboard.store` and :mod:`abm_dashboard.classroom`: rooms, seats, rounds (SQLite);
- :mod:`abm_dashboard.security`: the websocket's origin guard;
- :mod:`abm_dashboard.widgets`, :mod:`abm_dashboard.info`: safe inputs, the chart frame, the
  Info panel's text;
- :mod:`abm_dashboard.views` and :mod:`abm_dashboard.classroom_views`: the pages.
"""
