"""Agent-based geopolitical game model of the rare-earth market (Mesa).

Public interface: :class:`RareEarthModel`, :func:`simulate`, :func:`list_scenarios`,
:func:`load_scenario`, :data:`PARAMS` (every scalar parameter), :data:`COLUMNS` (every output
column), :data:`STRATEGIES` and :data:`ACTIONS` (the registries of states' strategies and of
policy actions), :class:`InputError`.
"""

from abm.actions import ACTIONS
from abm.columns import COLUMNS, MODEL_COLUMNS
from abm.errors import ConservationError, InputError
from abm.model import RareEarthModel, simulate
from abm.params import PARAMS
from abm.scenario import RareEarthScenario, list_scenarios, load_scenario
from abm.strategies import STRATEGIES

__all__ = [
    "RareEarthModel",
    "simulate",
    "list_scenarios",
    "load_scenario",
    "RareEarthScenario",
    "InputError",
    "ConservationError",
    "MODEL_COLUMNS",
    "COLUMNS",
    "PARAMS",
    "STRATEGIES",
    "ACTIONS",
]
__version__ = "0.2.0"
