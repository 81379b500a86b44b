"""abm.louvain: networkx's Louvain partitions, from a matrix, without the graph object.

Also the other measure of blocs that emerge from trade: supply concentration (HHI) by stage.

The reference is networkx's own ``louvain_communities`` (3.x) on the graph built from the same
matrix: a brute-force cross-check over random networks (sizes, densities, tied weights,
several levels) and over the model's monthly trade networks, plus hand-solved cases.
"""

import networkx as nx
import numpy as np
import pytest

from abm import simulate
from abm.countries import slug
from abm.louvain import _degrees, _modularity, louvain_communities
from abm.model import RareEarthModel
from abm.reporting import _trade_weights, hhi


def _graph(w, nodes):
    g = nx.Graph()
    g.add_nodes_from(nodes)
    for i, j in zip(*np.nonzero(np.triu(w, 1) > 0), strict=True):
        g.add_edge(nodes[i], nodes[j], weight=float(w[i, j]))
    return g


def _networkx(w, nodes, seed):
    return nx.community.louvain_communities(_graph(w, nodes), weight="weight", seed=seed)


def _random_network(rs, n):
    w = rs.lognormal(0.0, 2.0, (n, n)) * (rs.random((n, n)) < rs.uniform(0.05, 0.9))
    if rs.random() < 0.3:  # whole-number weights: ties between gains
        w = np.round(w)
    w = np.triu(w, 1)
    return w + w.T


def test_two_cliques_joined_by_a_weak_edge_are_two_communities():
    # hand-solved: triangles {a,b,c} and {d,e,f} with weight 1 inside, one 0.1 edge c-d.
    # Modularity of the split: m = 6.1; each side has 3 internal weight and degree 6.1,
    # Q = 2 * (3/6.1 - (6.1/12.2)^2) = 0.4836 > 0, and merging all gives Q = 0.
    nodes = list("abcdef")
    w = np.zeros((6, 6))
    for i, j in ((0, 1), (0, 2), (1, 2), (3, 4), (3, 5), (4, 5)):
        w[i, j] = w[j, i] = 1.0
    w[2, 3] = w[3, 2] = 0.1
    for seed in range(5):
        parts = louvain_communities(w, nodes, seed)
        assert sorted(map(sorted, parts)) == [list("abc"), list("def")]


def test_modularity_of_the_two_cliques_split_is_worked_out_by_hand():
    # same network: Q = 2 x (3 / 6.1 - (6.1 / 12.2)^2) = 0.483606...; one community: 0
    w = np.zeros((6, 6))
    for i, j in ((0, 1), (0, 2), (1, 2), (3, 4), (3, 5), (4, 5)):
        w[i, j] = w[j, i] = 1.0
    w[2, 3] = w[3, 2] = 0.1
    adj = {i: {j: w[i, j] for j in range(6) if w[i, j] > 0} for i in range(6)}
    q = _modularity(adj, _degrees(adj), [{0, 1, 2}, {3, 4, 5}], 1.0)
    assert q == pytest.approx(2 * (3 / 6.1 - 0.25), rel=1e-12)
    assert _modularity(adj, _degrees(adj), [set(range(6))], 1.0) == pytest.approx(0.0, abs=1e-12)
    # resolution 2 doubles the expected-edges term: 2 x (3 / 6.1 - 2 x 0.25)
    assert _modularity(adj, _degrees(adj), [{0, 1, 2}, {3, 4, 5}], 2.0) == pytest.approx(
        2 * (3 / 6.1 - 0.5), rel=1e-12)


def test_modularity_of_a_network_without_edges_is_zero_as_in_networkx():
    adj = {0: {}, 1: {}}
    assert _modularity(adj, _degrees(adj), [{0}, {1}], 1.0) == 0
    assert nx.community.modularity(_graph(np.zeros((2, 2)), [0, 1]), [{0}, {1}]) == 0


def test_modularity_matches_networkx_on_random_partitions():
    rs = np.random.default_rng(7)
    for _ in range(200):
        n = int(rs.integers(2, 15))
        w = _random_network(rs, n)
        if not (np.triu(w, 1) > 0).any():
            continue
        adj = {i: {j: float(w[i, j]) for j in range(n) if j != i and w[i, j] > 0}
               for i in range(n)}
        labels = rs.integers(0, 4, n)
        parts = [set(np.flatnonzero(labels == k).tolist()) for k in range(4)]
        parts = [p for p in parts if p]
        resolution = float(rs.choice([0.5, 1.0, 2.0]))
        expected = nx.community.modularity(_graph(w, list(range(n))), parts, weight="weight",
                                           resolution=resolution)
        assert _modularity(adj, _degrees(adj), parts, resolution) == pytest.approx(
            expected, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("threshold", [0.5, 0.7])
def test_the_level_threshold_stops_where_networkx_stops(threshold):
    rs = np.random.default_rng(11)
    stopped_early = 0
    for case in range(120):
        n = int(rs.integers(6, 30))
        w = _random_network(rs, n)
        if not (np.triu(w, 1) > 0).any():
            continue
        seed = int(rs.integers(0, 2**31))
        ours = louvain_communities(w, list(range(n)), seed, threshold=threshold)
        theirs = nx.community.louvain_communities(_graph(w, list(range(n))), weight="weight",
                                                  seed=seed, threshold=threshold)
        assert ours == theirs, case
        stopped_early += ours != _networkx(w, list(range(n)), seed)
    assert stopped_early > 0  # the threshold changed some partitions


def test_a_network_without_edges_leaves_every_node_alone():
    assert louvain_communities(np.zeros((3, 3)), ["x", "y", "z"], 0) == [{"x"}, {"y"}, {"z"}]


def test_only_the_upper_triangle_is_read():
    w = np.array([[5.0, 1.0, 0.0], [9.0, 5.0, 1.0], [9.0, 9.0, 5.0]])
    sym = np.triu(w, 1) + np.triu(w, 1).T
    assert louvain_communities(w, [0, 1, 2], 3) == louvain_communities(sym, [0, 1, 2], 3)


@pytest.mark.parametrize("block", range(4))
def test_matches_networkx_on_random_networks(block):
    rs = np.random.default_rng(100 + block)
    multi_level = 0
    for case in range(150):
        n = int(rs.integers(2, 30))
        w = _random_network(rs, n)
        nodes = [f"C{i:02d}" for i in range(n)] if case % 2 else list(range(n))
        seed = int(rs.integers(0, 2**31))
        ours = louvain_communities(w, nodes, seed)
        if (np.triu(w, 1) > 0).any():
            assert ours == _networkx(w, nodes, seed), (block, case)
            levels = list(nx.community.louvain_partitions(_graph(w, nodes), seed=seed))
            multi_level += len(levels) > 1
        assert sorted(x for part in ours for x in part) == sorted(nodes)
    assert multi_level > 10  # the aggregation of communities was exercised


def test_matches_networkx_on_the_models_trade_networks():
    # the trade_bloc columns name each country's community after its largest trader,
    # worked out here from networkx's partition of the same month's network
    model = RareEarthModel(scenario="controls_2025", seed=3)
    for _ in range(24):
        model.step()
        w = _trade_weights(model)
        assert np.allclose(w, w.T) and (w >= 0).all() and not w.diagonal().any()
        parts = _networkx(w, model.countries, model.seed_int)
        assert louvain_communities(w, model.countries, model.seed_int) == parts
        trade = dict(zip(model.countries, w.sum(axis=1), strict=True))
        row = model.results_frame().iloc[-1]
        for part in parts:
            hub = slug(max(sorted(part), key=trade.__getitem__))
            for c in part:
                assert row[f"trade_bloc_{slug(c)}"] == hub
        assert row["n_trade_blocs"] == sum(len(part) >= 2 for part in parts)


def test_hhi_by_hand_and_the_mining_concentration_column_from_the_mined_columns():
    # hand-worked: shares 0.75 / 0.25 give 0.5625 + 0.0625 = 0.625; one supplier 1; none 0
    assert hhi([3.0, 1.0]) == pytest.approx(0.625)
    assert hhi([0.0, 7.0]) == 1.0 and hhi([0.0, 0.0]) == 0.0
    frame = simulate("controls_2025", rng=0, steps=6)
    mined = frame[[c for c in frame.columns if c.startswith("mined_")]].to_numpy()
    shares = mined / mined.sum(axis=1, keepdims=True)
    assert frame["hhi_mining"].to_numpy() == pytest.approx((shares ** 2).sum(axis=1))
