"""The alliance network: states' bloc memberships and miners' offtake ties (networkx).

States and miners are nodes; an ``alliance`` edge joins two states of the same bloc and an
``offtake`` edge ties a miner to the state it sells to. A bloc is a connected group of two or
more nodes. The network owns the membership data: actions and agents change it only through
:meth:`AllianceNetwork.join`, :meth:`AllianceNetwork.leave` and
:meth:`AllianceNetwork.tie_miner`.
"""

from __future__ import annotations

import networkx as nx

__all__ = ["AllianceNetwork"]


class AllianceNetwork:
    """Bloc memberships of states and offtake ties of miners.

    Attributes:
        graph: the networkx graph (nodes carry ``kind``, ``label``, and after each month
            ``bloc`` and ``size``; read it, do not write it).
    """

    def __init__(self):
        self.graph = nx.Graph()
        self._bloc: dict[str, str] = {}

    def add_state(self, code: str, label: str) -> None:
        """Add a state node (in no bloc)."""
        self.graph.add_node(code, kind="state", label=label)
        self._bloc[code] = ""

    def add_miner(self, mine_id: str, label: str, country: str) -> None:
        """Add a miner node."""
        self.graph.add_node(mine_id, kind="miner", label=label, country=country)

    def bloc(self, code: str) -> str:
        """The bloc a state belongs to (``""`` = none)."""
        return self._bloc.get(code, "")

    def join(self, code: str, bloc: str) -> None:
        """A state joins a bloc (leaving its previous one), allied with its members."""
        if self._bloc[code] == bloc:
            return
        if self._bloc[code]:
            self.leave(code)
        self._bloc[code] = bloc
        for other, b in self._bloc.items():
            if other != code and b == bloc:
                self.graph.add_edge(code, other, kind="alliance", bloc=bloc)

    def leave(self, code: str) -> None:
        """A state leaves its bloc."""
        for nb in list(self.graph.neighbors(code)):
            if self.graph.edges[code, nb].get("kind") == "alliance":
                self.graph.remove_edge(code, nb)
        self._bloc[code] = ""

    def tie_miner(self, mine_id: str, state: str | None) -> None:
        """Replace a miner's tie: an offtake edge to ``state`` (none when ``None``)."""
        for nb in list(self.graph.neighbors(mine_id)):
            self.graph.remove_edge(mine_id, nb)
        if state is not None:
            self.graph.add_edge(mine_id, state, kind="offtake")

    def groups(self) -> list[set[str]]:
        """Connected groups of two or more nodes (the blocs), in a stable order."""
        return [c for c in nx.connected_components(self.graph) if len(c) >= 2]

    def bloc_of(self, node: str) -> str:
        """Name of the bloc a state or miner is in, or ``-``.

        A group's name is its states' declared bloc (the first alphabetically), else its states
        joined by ``+`` (e.g. a miner tied to China: ``CHN``).
        """
        comp = nx.node_connected_component(self.graph, node)
        if len(comp) < 2:
            return "-"
        states = sorted(c for c in comp if c in self._bloc)
        named = sorted({self._bloc[c] for c in states if self._bloc[c]})
        return named[0] if named else "+".join(states)

    def refresh(self, sizes: dict[str, float]) -> None:
        """Set each node's ``bloc`` name and ``size`` (miners' output, states' purchases)."""
        g = self.graph
        for comp in nx.connected_components(g):
            name = self.bloc_of(next(iter(comp))) if len(comp) >= 2 else "-"
            for node in comp:
                g.nodes[node]["bloc"] = name
        for node, size in sizes.items():
            g.nodes[node]["size"] = float(size)
