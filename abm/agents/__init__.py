"""Agents that own their behaviour: states, miners, the (vectorised) firm population, traders."""

from abm.agents.firms import FirmPopulation
from abm.agents.magnets import MagnetMakers
from abm.agents.miner import Miner
from abm.agents.state import State
from abm.agents.traders import Trader

__all__ = ["State", "Miner", "FirmPopulation", "MagnetMakers", "Trader"]
