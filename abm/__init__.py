"""Agent-based geopolitical game model of the rare-earth market (Mesa).

Public interface (see DESIGN.md): :class:`RareEarthModel`, :func:`simulate`,
:func:`list_scenarios`, :func:`load_scenario`, :class:`InputError`.
"""

from abm.errors import ConservationError, InputError
from abm.model import MODEL_COLUMNS, RareEarthModel, simulate
from abm.scenario import PARAMS, RareEarthScenario, list_scenarios, load_scenario

__all__ = [
    "RareEarthModel",
    "simulate",
    "list_scenarios",
    "load_scenario",
    "RareEarthScenario",
    "InputError",
    "ConservationError",
    "MODEL_COLUMNS",
    "PARAMS",
]
__version__ = "0.1.0"
