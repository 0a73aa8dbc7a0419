"""analyzer.layout: layered drawing of the service graph (shared by dashboard and TUI)."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer.layout import EdgePath, Layout, layered_layout

BANK = (
    ["user", "gateway", "accounts", "payments", "ledger", "postgres", "kafka", "notifier"],
    [
        ("user", "gateway"),
        ("gateway", "accounts"),
        ("gateway", "payments"),
        ("payments", "ledger"),
        ("payments", "accounts"),
        ("ledger", "postgres"),
        ("accounts", "postgres"),
        ("payments", "kafka"),
        ("kafka", "notifier"),
        ("gateway", "postgres"),  # a long edge: crosses two layers
    ],
)


def overlaps(a, b) -> bool:
    return a.left < b.right and b.left < a.right and a.top < b.bottom and b.top < a.bottom


def on_border(box, point, tolerance=1e-6) -> bool:
    x, y = point
    inside = box.left - tolerance <= x <= box.right + tolerance and (
        box.top - tolerance <= y <= box.bottom + tolerance
    )
    edge = (
        math.isclose(x, box.left, abs_tol=tolerance) or math.isclose(x, box.right, abs_tol=tolerance)
        or math.isclose(y, box.top, abs_tol=tolerance) or math.isclose(y, box.bottom, abs_tol=tolerance)
    )
    return inside and edge


def assert_well_formed(layout: Layout, nodes, edges) -> None:
    """Every node placed once inside the drawing, no two boxes overlap, every distinct
    edge routed from the source's border to the target's border."""
    assert set(layout.nodes) == set(nodes)
    boxes = list(layout.nodes.values())
    for i, a in enumerate(boxes):
        assert 0 <= a.left and a.right <= layout.width + 1e-6
        assert 0 <= a.top and a.bottom <= layout.height + 1e-6
        for b in boxes[i + 1:]:
            assert not overlaps(a, b), (a, b)
    assert set(layout.edges) == set(edges)
    for (source, target), path in layout.edges.items():
        assert (path.source, path.target) == (source, target)
        assert len(path.points) >= 2
        for x, y in path.points:
            assert -1e-6 <= x <= layout.width + 1e-6 and -1e-6 <= y <= layout.height + 1e-6
        if source != target and (target, source) not in layout.edges:
            assert on_border(layout.nodes[source], path.points[0])
            assert on_border(layout.nodes[target], path.points[-1])


def test_a_chain_goes_one_layer_per_hop_top_to_bottom():
    layout = layered_layout(["c", "a", "b"], [("a", "b"), ("b", "c")])
    assert [layout.nodes[n].layer for n in "abc"] == [0, 1, 2]
    assert layout.nodes["a"].y < layout.nodes["b"].y < layout.nodes["c"].y
    assert layout.layers == (("a",), ("b",), ("c",))
    assert_well_formed(layout, "abc", [("a", "b"), ("b", "c")])


def test_left_to_right_puts_layers_in_columns():
    layout = layered_layout(["a", "b", "c"], [("a", "b"), ("b", "c")], direction="LR")
    assert layout.nodes["a"].x < layout.nodes["b"].x < layout.nodes["c"].x
    # Layers are columns now, so nodes of a chain share one row.
    assert layout.nodes["a"].y == layout.nodes["b"].y == layout.nodes["c"].y
    assert layout.direction == "LR"


def test_layers_follow_the_longest_call_chain():
    nodes, edges = BANK
    layout = layered_layout(nodes, edges)
    layer = {n: box.layer for n, box in layout.nodes.items()}
    assert layer["user"] == 0 and layer["gateway"] == 1
    # payments -> accounts pushes accounts below payments; postgres is below everyone.
    assert layer["accounts"] == layer["payments"] + 1
    assert layer["postgres"] == max(layer.values())
    for source, target in edges:
        assert layer[target] > layer[source]
    assert_well_formed(layout, nodes, edges)


def test_a_long_edge_bends_through_the_layers_it_crosses():
    nodes, edges = BANK
    layout = layered_layout(nodes, edges)
    path = layout.edges[("gateway", "postgres")]
    crossed = layout.nodes["postgres"].layer - layout.nodes["gateway"].layer - 1
    assert crossed >= 1
    assert len(path.points) == 2 + crossed
    # Each bend sits on the centre line of the layer it crosses.
    layer_y = {box.layer: box.y for box in layout.nodes.values()}
    for k, (_, y) in enumerate(path.points[1:-1], start=layout.nodes["gateway"].layer + 1):
        assert y == pytest.approx(layer_y[k])


def test_layers_of_separate_components_line_up_and_components_do_not_overlap():
    nodes = ["a", "b", "x", "y", "z", "alone"]
    edges = [("a", "b"), ("x", "y"), ("y", "z")]
    layout = layered_layout(nodes, edges)
    assert layout.nodes["a"].y == layout.nodes["x"].y == layout.nodes["alone"].y
    assert layout.nodes["b"].y == layout.nodes["y"].y
    assert layout.nodes["alone"].layer == 0
    assert_well_formed(layout, nodes, edges)


def test_cycles_are_laid_out_and_the_edge_closing_them_is_marked_back():
    nodes = ["a", "b", "c"]
    edges = [("a", "b"), ("b", "c"), ("c", "a")]
    layout = layered_layout(nodes, edges)
    assert sorted(box.layer for box in layout.nodes.values()) == [0, 1, 2]
    backs = [key for key, path in layout.edges.items() if path.back]
    assert len(backs) == 1
    source, target = backs[0]
    assert layout.nodes[source].layer > layout.nodes[target].layer
    # A back edge still runs from its own source to its own target.
    assert on_border(layout.nodes[source], layout.edges[backs[0]].points[0])
    assert_well_formed(layout, nodes, edges)


def test_a_component_without_an_uncalled_node_is_still_ranked():
    # Found by hypothesis: every node is called by someone, and the cycle is not the
    # whole component (s0 hangs off it).
    edges = [("s1", "s0"), ("s1", "s2"), ("s2", "s1")]
    layout = layered_layout(["s0", "s1", "s2"], edges)
    assert_well_formed(layout, ["s0", "s1", "s2"], edges)
    assert layout.nodes["s1"].layer < layout.nodes["s0"].layer


def test_two_services_calling_each_other_get_two_separate_lines():
    layout = layered_layout(["a", "b"], [("a", "b"), ("b", "a")])
    forth, back = layout.edges[("a", "b")], layout.edges[("b", "a")]
    assert forth.back != back.back
    assert set(forth.points).isdisjoint(back.points)
    assert forth.points[0][1] < forth.points[-1][1]  # a is above b: a -> b goes down
    assert back.points[0][1] > back.points[-1][1]


def test_self_loops_are_drawn_beside_their_node():
    layout = layered_layout(["a", "b"], [("a", "a"), ("a", "b")])
    loop = layout.edges[("a", "a")]
    box = layout.nodes["a"]
    assert loop.back and len(loop.points) == 4
    assert on_border(box, loop.points[0]) and on_border(box, loop.points[-1])
    assert max(x for x, _ in loop.points) > box.right
    assert layout.width >= max(x for x, _ in loop.points)


def test_input_order_and_repeats_do_not_change_the_drawing():
    nodes, edges = BANK
    expected = layered_layout(nodes, edges)
    rng = random.Random(7)
    for _ in range(5):
        shuffled_nodes, shuffled_edges = nodes[:] + nodes[:2], edges[:] + edges[:3]
        rng.shuffle(shuffled_nodes)
        rng.shuffle(shuffled_edges)
        assert layered_layout(shuffled_nodes, shuffled_edges) == expected


def test_node_sizes_may_differ_per_node_and_layers_make_room_for_the_largest():
    sizes = {"a": (200.0, 80.0), "b": (50.0, 20.0), "c": (60.0, 30.0)}
    layout = layered_layout(["a", "b", "c"], [("a", "b"), ("a", "c")], sizes, layer_gap=10)
    assert (layout.nodes["a"].width, layout.nodes["a"].height) == (200.0, 80.0)
    assert layout.nodes["b"].top >= layout.nodes["a"].bottom + 10 - 1e-6
    assert_well_formed(layout, "abc", [("a", "b"), ("a", "c")])


def test_empty_graph():
    layout = layered_layout([], [])
    assert layout.nodes == {} and layout.edges == {} and layout.layers == ()
    assert (layout.width, layout.height) == (0.0, 0.0)


@pytest.mark.parametrize(
    ("nodes", "edges", "node_size", "direction", "message"),
    [
        pytest.param(["a"], [("a", "ghost")], (10, 10), "TB", "unknown node 'ghost'", id="unknown-node"),
        pytest.param(["a", "b"], [], {"a": (10, 10)}, "TB", "no size given for node 'b'", id="missing-size"),
        pytest.param(["a"], [], (0, 10), "TB", "positive size", id="zero-size"),
        pytest.param(["a"], [], (10, 10), "RL", "direction", id="bad-direction"),
    ],
)
def test_bad_input_is_refused_with_a_reason(nodes, edges, node_size, direction, message):
    with pytest.raises(ValueError, match=message):
        layered_layout(nodes, edges, node_size, direction=direction)


def test_point_at_walks_along_the_polyline():
    path = EdgePath("a", "b", ((0.0, 0.0), (10.0, 0.0), (10.0, 10.0)))
    assert path.length == 20.0
    assert path.point_at(0.0) == (0.0, 0.0)
    assert path.point_at(0.25) == (5.0, 0.0)
    assert path.point_at(0.75) == (10.0, 5.0)
    assert path.point_at(1.0) == (10.0, 10.0)
    assert EdgePath("a", "a", ((3.0, 4.0), (3.0, 4.0))).point_at(0.5) == (3.0, 4.0)


names = st.sampled_from([f"s{i}" for i in range(9)])


@settings(max_examples=60, deadline=None)
@given(
    nodes=st.sets(names, min_size=1),
    edges=st.lists(st.tuples(names, names), max_size=16),
    direction=st.sampled_from(["TB", "LR"]),
)
def test_any_graph_gets_a_well_formed_deterministic_drawing(nodes, edges, direction):
    nodes = set(nodes) | {n for e in edges for n in e}
    layout = layered_layout(sorted(nodes), edges, direction=direction)
    assert_well_formed(layout, nodes, set(edges))
    assert layered_layout(sorted(nodes, reverse=True), edges[::-1], direction=direction) == layout
