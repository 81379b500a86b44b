"""Louvain communities of a small weighted network given as a matrix (a pure function).

The model partitions its monthly trade network (a dozen countries) every month. networkx's
``louvain_communities`` costs ~0.2 ms a call on that network, almost all of it in building
the graph object and in networkx's dispatch layers, which is a few percent of a simulated
month. :func:`louvain_communities` runs the same algorithm (Blondel et al. 2008) on plain
dictionaries and gives the partition networkx gives for the same graph and integer seed:

- the graph is the one networkx builds when the matrix's edges (``i < j``, row by row) are
  added in that order, so every neighbour list, degree and edge is visited in networkx's
  order and every sum is taken in its order (float for float);
- one ``random.Random(seed)`` shuffles the nodes at every level, as networkx's
  ``py_random_state`` does for an integer seed;
- a node joins the neighbouring community with the largest strict gain in modularity;
  a level ends when a pass moves no node; the levels stop when modularity gains less than
  ``threshold`` (networkx 3.x ``louvain_partitions``).

``tests/test_louvain.py`` checks partition for partition against networkx on random networks
and on the model's own trade networks.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np

__all__ = ["louvain_communities"]


def louvain_communities(weight: np.ndarray, nodes: Sequence, seed: int,
                        resolution: float = 1.0, threshold: float = 1e-7) -> list[set]:
    """Communities of an undirected weighted network (Louvain, seeded).

    Args:
        weight: (N, N) symmetric edge weights; ``weight[i, j] > 0`` for ``i < j`` is an edge
            (the diagonal and the lower triangle are not read).
        nodes: the N node labels, in the order of the matrix (hashable, distinct).
        seed: integer seed of the node order at each level.
        resolution: modularity's resolution (1 = standard modularity).
        threshold: a level whose modularity gain is at most this ends the algorithm.

    Returns:
        The communities: a list of sets of node labels covering every node once.
    """
    w = np.asarray(weight, dtype=float)
    rows, cols = np.nonzero(np.triu(w, 1) > 0)
    # adj[u][v]: edge weight; a key's position is its place in networkx's neighbour list
    adj: dict = {u: {} for u in nodes}
    for i, j, wt in zip(rows.tolist(), cols.tolist(), w[rows, cols].tolist(), strict=True):
        adj[nodes[i]][nodes[j]] = wt
        adj[nodes[j]][nodes[i]] = wt
    partition = [{u} for u in nodes]
    if rows.size == 0:
        return partition
    rng = random.Random(seed)
    degree = _degrees(adj)
    m = sum(degree.values()) / 2
    mod = _modularity(adj, degree, partition, resolution)
    members: dict = {}  # aggregated node -> the original nodes it stands for
    partition, inner, _ = _one_level(adj, degree, members, partition, m, resolution, rng)
    improved = True
    while improved:
        result = [c.copy() for c in partition]
        new_mod = _modularity(adj, degree, inner, resolution)
        if new_mod - mod <= threshold:
            return result
        mod = new_mod
        adj, members = _aggregate(adj, members, inner)
        degree = _degrees(adj)
        partition, inner, improved = _one_level(adj, degree, members, partition, m,
                                                resolution, rng)
    return result


def _degrees(adj: dict) -> dict:
    """Weighted degree of every node (a self-loop counts twice), summed in neighbour order."""
    return {n: sum(nbrs.values()) + (nbrs[n] if n in nbrs else 0) for n, nbrs in adj.items()}


def _modularity(adj: dict, degree: dict, communities: list[set], resolution: float) -> float:
    """Newman's modularity of a partition, summed in the order networkx sums it."""
    deg_sum = sum(degree.values())
    m = deg_sum / 2
    if m == 0:
        return 0
    norm = 1 / deg_sum**2

    def contribution(community):
        comm = set(community)
        seen, inner = set(), []
        for u in comm:
            for v, wt in adj[u].items():
                if v not in seen and v in comm:
                    inner.append(wt)
            seen.add(u)
        deg = sum(degree[u] for u in comm)
        return sum(inner) / m - resolution * deg * deg * norm

    return sum(map(contribution, communities))


def _one_level(adj: dict, degrees: dict, members: dict, partition: list[set], m: float,
               resolution: float, rng: random.Random) -> tuple[list[set], list[set], bool]:
    """One level of moves: each node, in a shuffled order, to its best neighbouring community.

    ``partition`` (sets of original nodes, one per current node) is updated in place.
    """
    node2com = {u: i for i, u in enumerate(adj)}
    inner = [{u} for u in adj]
    gamma = resolution / 2
    stot = list(degrees.values())
    nbrs = {u: {v: wt for v, wt in adj[u].items() if v != u} for u in adj}
    order = list(adj)
    rng.shuffle(order)
    improved = False
    moves = 1
    while moves > 0:
        moves = 0
        for u in order:
            u_com = node2com[u]
            by_com: dict = {}
            for v, wt in nbrs[u].items():
                c = node2com[v]
                by_com[c] = by_com.get(c, 0.0) + wt
            degree = degrees[u]
            stot[u_com] -= degree
            best_gain = by_com.setdefault(u_com, 0.0) * m - gamma * (stot[u_com] * degree)
            best_com = u_com
            for c, wt in by_com.items():
                gain = wt * m - gamma * (stot[c] * degree)
                if gain > best_gain:
                    best_gain, best_com = gain, c
            stot[best_com] += degree
            if best_com != u_com:
                moved = members.get(u, {u})
                partition[u_com].difference_update(moved)
                partition[best_com].update(moved)
                inner[u_com].remove(u)
                inner[best_com].add(u)
                improved = True
                moves += 1
                node2com[u] = best_com
    return [p for p in partition if p], [p for p in inner if p], improved


def _aggregate(adj: dict, members: dict, inner: list[set]) -> tuple[dict, dict]:
    """The network of communities: one node each, edges (and self-loops) summed in order."""
    new_adj: dict = {}
    new_members: dict = {}
    node2com = {}
    for i, part in enumerate(inner):
        group = set()
        for node in part:
            node2com[node] = i
            group.update(members.get(node, {node}))
        new_adj[i] = {}
        new_members[i] = group
    seen = set()
    for u, nbrs in adj.items():
        for v, wt in nbrs.items():
            if v not in seen:
                a, b = node2com[u], node2com[v]
                total = wt + new_adj[a][b] if b in new_adj[a] else wt
                new_adj[a][b] = total
                new_adj[b][a] = total
        seen.add(u)
    return new_adj, new_members
