"""Browser dashboard of the rare-earth model: ``solara run app.py`` (or ``make app``).

Declarative only: the page, its controls and views live in :mod:`abm_dashboard.views`, run
control in :mod:`abm_dashboard.session`. Every front-end asset is served locally (run
``scripts/setup_frontend.py`` once; ``make app`` does), so the page works offline.
"""

import solara.server.settings

from abm_dashboard.views import Page

# no usage telemetry: the dashboard must work (and stay quiet) without an internet connection
solara.server.settings.telemetry.mixpanel_enable = False

__all__ = ["Page"]
