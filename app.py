"""Browser app of the rare-earth model: ``solara run app.py`` (``make app``; ``make classroom``).

Declarative only. Two pages: the dashboard at ``/`` (:mod:`abm_dashboard.views`) and the
classroom game at ``/classroom`` (:mod:`abm_dashboard.classroom_views`). Every front-end asset is
served locally (``scripts/setup_frontend.py``, run by ``make app``), so the pages work offline.
The app's websocket refuses handshakes from other origins (:mod:`abm_dashboard.security`).
"""

import solara
import solara.server.settings

from abm_dashboard import security
from abm_dashboard.classroom_views import ClassroomPage
from abm_dashboard.views import Page

# no usage telemetry: the app must work (and stay quiet) without an internet connection
solara.server.settings.telemetry.mixpanel_enable = False
# Solara's "runs on Solara" badge floats over the page's content; the credit is in the footer
solara.server.settings.theme.show_banner = False
security.install()


@solara.component
def Layout(children=()):
    """Every page, then a footer with the credit (in the page flow, never over content)."""
    with solara.Column(gap="0px", style="min-height: 100vh"):
        solara.Column(children=list(children), style="flex: 1 1 auto")
        solara.HTML(tag="div", classes=["solara-credit"],
                    unsafe_innerHTML='Made with <a href="https://mesa.readthedocs.io">Mesa</a> '
                    'and <a href="https://solara.dev">Solara</a>')


routes = [
    solara.Route(path="/", component=Page, label="Dashboard", layout=Layout),
    solara.Route(path="classroom", component=ClassroomPage, label="Classroom"),
]

__all__ = ["Layout", "Page", "routes"]
