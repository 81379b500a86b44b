"""Agents that own their behaviour: states, miners and the (vectorised) firm population."""

from abm.agents.firms import FirmPopulation
from abm.agents.magnets import MagnetMakers
from abm.agents.miner import Miner
from abm.agents.state import State

__all__ = ["State", "Miner", "FirmPopulation", "MagnetMakers"]
