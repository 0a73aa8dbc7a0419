"""Layered drawing of a directed graph (the service graph) for the web dashboard.

The dashboard (``collector/dashboard/present.py``) is its only user. The TUI does not
import it: its graph is text in columns, layered by ``tui.model`` on its own (longest
call chain from the nodes nobody calls), with no coordinates or edge routing to compute.

The layering itself comes from grandalf's Sugiyama layout (the algorithm graphviz calls
*dot*): nodes are ranked by longest path from the roots, long edges get dummy points in
the layers they cross, and each layer is ordered to reduce crossings. This module adds
what a drawing needs around it and grandalf leaves open:

* determinism: the output depends only on the *set* of nodes and edges, never on the
  order they were given in (a live graph must not jump when a report lists services in
  another order), so inputs are sorted and grandalf is fed ordered containers only;
* cycles: grandalf reverses a feedback edge set to rank the graph; those edges are still
  routed from their source to their target and flagged ``back``;
* disconnected graphs and isolated nodes: every component is laid out on its own and the
  components are placed side by side, all starting at layer 0;
* coordinates that can be drawn directly (SVG): node centres in one shared coordinate
  system starting at ``(0, 0)``, layers aligned across components, and edge polylines
  whose first and last points lie on the border of the source and target boxes.

Pure: no I/O; only grandalf and the standard library.

>>> layout = layered_layout(["user", "api", "db"], [("user", "api"), ("api", "db")])
>>> [layout.nodes[n].layer for n in ("user", "api", "db")]
[0, 1, 2]
>>> layout.nodes["user"].y < layout.nodes["api"].y < layout.nodes["db"].y
True
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

from grandalf.graphs import Edge, Vertex, graph_core
from grandalf.layouts import SugiyamaLayout

Point = tuple[float, float]
Size = tuple[float, float]
Direction = Literal["TB", "LR"]

DEFAULT_NODE_SIZE: Size = (120.0, 40.0)

# Rounds of grandalf's layer-ordering sweeps (each round goes down and back up). Graphs
# of a few dozen services settle within a few rounds; more only costs time.
ORDERING_ROUNDS = 4.5

# Thickness given to grandalf's dummy vertices (the bends of long edges), so that edges
# passing through a layer keep some distance from the nodes beside them.
DUMMY_EXTENT = 12.0

# How far apart the two edges of a pair calling each other (a -> b and b -> a) are drawn,
# so that both stay visible and clickable instead of lying on one line.
ANTIPARALLEL_OFFSET = 5.0


@dataclass(frozen=True, slots=True)
class NodeBox:
    """A placed node: centre ``(x, y)``, its box size, and the index of its layer."""

    name: str
    x: float
    y: float
    width: float
    height: float
    layer: int

    @property
    def left(self) -> float:
        """Smallest x of the node's box."""
        return self.x - self.width / 2

    @property
    def right(self) -> float:
        """Largest x of the node's box."""
        return self.x + self.width / 2

    @property
    def top(self) -> float:
        """Smallest y of the node's box."""
        return self.y - self.height / 2

    @property
    def bottom(self) -> float:
        """Largest y of the node's box."""
        return self.y + self.height / 2


@dataclass(frozen=True, slots=True)
class EdgePath:
    """A routed edge: a polyline from the border of ``source`` to the border of ``target``.

    ``back`` is true when the edge points against the layering: it closes a cycle (its
    target lies in an earlier layer) or it is a self-loop.
    """

    source: str
    target: str
    points: tuple[Point, ...]
    back: bool = False

    @property
    def length(self) -> float:
        """Length of the polyline."""
        return sum(math.dist(a, b) for a, b in zip(self.points, self.points[1:]))

    def point_at(self, fraction: float) -> Point:
        """The point at ``fraction`` (0..1) of the polyline's length, e.g. for a label."""
        total = self.length
        if total == 0:
            return self.points[0]
        remaining = min(max(fraction, 0.0), 1.0) * total
        for a, b in zip(self.points, self.points[1:]):
            step = math.dist(a, b)
            if step >= remaining and step > 0:
                t = remaining / step
                return (a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t)
            remaining -= step
        return self.points[-1]


@dataclass(frozen=True, slots=True)
class Layout:
    """Where every node and edge goes; ``width`` and ``height`` bound all of it from (0, 0)."""

    nodes: Mapping[str, NodeBox]
    edges: Mapping[tuple[str, str], EdgePath]
    width: float
    height: float
    direction: Direction = "TB"

    @property
    def layers(self) -> tuple[tuple[str, ...], ...]:
        """Node names per layer, each layer ordered along the layer (left to right or top
        to bottom)."""
        if not self.nodes:
            return ()
        depth = max(box.layer for box in self.nodes.values()) + 1
        across = (lambda b: (b.x, b.name)) if self.direction == "TB" else (lambda b: (b.y, b.name))
        return tuple(
            tuple(b.name for b in sorted((b for b in self.nodes.values() if b.layer == i), key=across))
            for i in range(depth)
        )


class _Box:
    """The view grandalf reads sizes from and writes positions to (its ``VertexViewer``
    protocol: ``w``, ``h``, ``xy``)."""

    __slots__ = ("w", "h", "xy")

    def __init__(self, w: float, h: float) -> None:
        self.w = w
        self.h = h
        self.xy: Point | None = None


def layered_layout(
    nodes: Iterable[str],
    edges: Iterable[tuple[str, str]],
    node_size: Size | Mapping[str, Size] = DEFAULT_NODE_SIZE,
    *,
    direction: Direction = "TB",
    node_gap: float = 24.0,
    layer_gap: float = 64.0,
    component_gap: float = 48.0,
) -> Layout:
    """Lay out a directed graph in layers, roots first.

    Parameters
    ----------
    nodes
        Node names. Order does not matter; duplicates are ignored.
    edges
        ``(source, target)`` pairs naming known nodes. Order does not matter; repeated
        pairs are routed once; self-loops and cycles are allowed.
    node_size
        ``(width, height)`` of every node, or a mapping giving each node its own size.
    direction
        ``"TB"``: layers are rows, edges run downwards; ``"LR"``: layers are columns,
        edges run to the right.
    node_gap, layer_gap, component_gap
        Space between neighbours in a layer, between layers, and between components.

    Returns
    -------
    Layout
        Node boxes (centres), edge polylines keyed by ``(source, target)``, and the size
        of the drawing.

    Raises
    ------
    ValueError
        If an edge names an unknown node, a node has no size, or a size is not positive.
    """
    if direction not in ("TB", "LR"):
        raise ValueError(f"direction must be 'TB' or 'LR', not {direction!r}")
    names = sorted(set(nodes))
    known = set(names)
    pairs = sorted(set(edges))
    for source, target in pairs:
        for end in (source, target):
            if end not in known:
                raise ValueError(f"edge {source!r} -> {target!r} names unknown node {end!r}")
    sizes = {name: _size_of(name, node_size) for name in names}
    if not names:
        return Layout(MappingProxyType({}), MappingProxyType({}), 0.0, 0.0, direction)

    # grandalf works top-to-bottom: "along" is the layer axis (y), "across" the axis
    # within a layer (x). For LR the node's width lies along the layer axis.
    def along(name: str) -> float:
        w, h = sizes[name]
        return h if direction == "TB" else w

    def across(name: str) -> float:
        w, h = sizes[name]
        return w if direction == "TB" else h

    loops = [(s, t) for s, t in pairs if s == t]
    ranked_pairs = [(s, t) for s, t in pairs if s != t]

    placed_across: dict[str, float] = {}
    layer_of: dict[str, int] = {}
    bends: dict[tuple[str, str], list[tuple[int, float]]] = {}
    back: set[tuple[str, str]] = set()
    offset = 0.0
    for component in _components(names, ranked_pairs):
        member = set(component)
        comp_pairs = [p for p in ranked_pairs if p[0] in member]
        lo, hi = _layout_component(
            component, comp_pairs, across, along, node_gap, layer_gap,
            placed_across, layer_of, bends, back,
        )
        # Shift this component so its leftmost box edge starts at the running offset.
        shift = offset - lo
        for name in component:
            placed_across[name] += shift
        for pair in comp_pairs:
            bends[pair] = [(rank, x + shift) for rank, x in bends.get(pair, [])]
        offset += (hi - lo) + component_gap

    # Layers line up across components: each layer is as thick as its thickest node.
    depth = max(layer_of.values()) + 1
    thickness = [DUMMY_EXTENT] * depth
    for name in names:
        thickness[layer_of[name]] = max(thickness[layer_of[name]], along(name))
    layer_centre = []
    position = 0.0
    for t in thickness:
        layer_centre.append(position + t / 2)
        position += t + layer_gap

    def point(across_value: float, rank: int) -> Point:
        along_value = layer_centre[rank]
        return (across_value, along_value) if direction == "TB" else (along_value, across_value)

    boxes: dict[str, NodeBox] = {}
    for name in names:
        x, y = point(placed_across[name], layer_of[name])
        w, h = sizes[name]
        boxes[name] = NodeBox(name, x, y, w, h, layer_of[name])

    paths: dict[tuple[str, str], EdgePath] = {}
    for source, target in ranked_pairs:
        inner = [point(x, rank) for rank, x in bends.get((source, target), [])]
        centres = [(boxes[source].x, boxes[source].y), *inner, (boxes[target].x, boxes[target].y)]
        start = _clip_to_box(boxes[source], centres[1])
        end = _clip_to_box(boxes[target], centres[-2])
        paths[(source, target)] = EdgePath(
            source, target, (start, *centres[1:-1], end), back=(source, target) in back
        )
    for key, path in list(paths.items()):
        if (key[1], key[0]) in paths:
            paths[key] = _offset_sideways(path, ANTIPARALLEL_OFFSET)
    for name, _ in loops:
        paths[(name, name)] = EdgePath(name, name, _loop(boxes[name], direction), back=True)

    xs = [v for box in boxes.values() for v in (box.left, box.right)]
    ys = [v for box in boxes.values() for v in (box.top, box.bottom)]
    for path in paths.values():
        xs.extend(p[0] for p in path.points)
        ys.extend(p[1] for p in path.points)
    min_x, min_y = min(xs), min(ys)
    if min_x or min_y:
        boxes, paths = _translate(boxes, paths, -min_x, -min_y)
    return Layout(
        nodes=MappingProxyType(boxes),
        edges=MappingProxyType(paths),
        width=max(xs) - min_x,
        height=max(ys) - min_y,
        direction=direction,
    )


def _size_of(name: str, node_size: Size | Mapping[str, Size]) -> Size:
    """The ``(width, height)`` of one node, checked."""
    if isinstance(node_size, Mapping):
        if name not in node_size:
            raise ValueError(f"no size given for node {name!r}")
        size = node_size[name]
    else:
        size = node_size
    width, height = float(size[0]), float(size[1])
    if not (width > 0 and height > 0):
        raise ValueError(f"node {name!r} needs a positive size, not {size!r}")
    return (width, height)


def _components(names: Sequence[str], pairs: Sequence[tuple[str, str]]) -> list[list[str]]:
    """Weakly connected components, each sorted, ordered by their first (smallest) name.

    grandalf's own ``Graph`` finds components too, but collects each component's edges in
    a ``set`` of objects hashed by identity, so its edge order (and the drawing) would
    change from run to run.
    """
    parent = {name: name for name in names}

    def find(name: str) -> str:
        while parent[name] != name:
            parent[name] = parent[parent[name]]
            name = parent[name]
        return name

    for source, target in pairs:
        a, b = find(source), find(target)
        if a != b:
            parent[max(a, b)] = min(a, b)
    groups: dict[str, list[str]] = {}
    for name in names:
        groups.setdefault(find(name), []).append(name)
    return sorted(groups.values(), key=lambda group: group[0])


def _layout_component(
    component: list[str],
    pairs: list[tuple[str, str]],
    across,
    along,
    node_gap: float,
    layer_gap: float,
    placed_across: dict[str, float],
    layer_of: dict[str, int],
    bends: dict[tuple[str, str], list[tuple[int, float]]],
    back: set[tuple[str, str]],
) -> tuple[float, float]:
    """Run grandalf on one connected component; record positions into the given dicts.

    Returns the component's extent ``(lo, hi)`` along the across-layer axis.
    """
    vertices = {name: Vertex(name) for name in component}
    for name, vertex in vertices.items():
        vertex.view = _Box(across(name), along(name))
    grandalf_edges = [Edge(vertices[s], vertices[t]) for s, t in pairs]
    core = graph_core(list(vertices.values()), grandalf_edges)

    sugiyama = SugiyamaLayout(core)
    sugiyama.xspace = node_gap
    sugiyama.yspace = layer_gap
    # grandalf roots the ranking at the nodes nobody calls and reverses the back edges of
    # a depth-first search (in the sorted order given here, so deterministically) to break
    # cycles; a component with no uncalled node is handled the same way. Choosing a root
    # by hand inside a cycle can leave a node ranked before its callers and crash.
    sugiyama.init_all()
    sugiyama.draw(ORDERING_ROUNDS)

    lo, hi = math.inf, -math.inf
    for name, vertex in vertices.items():
        x = vertex.view.xy[0]
        placed_across[name] = x
        layer_of[name] = sugiyama.grx[vertex].rank
        lo = min(lo, x - vertex.view.w / 2)
        hi = max(hi, x + vertex.view.w / 2)
    inverted = {id(e) for e in sugiyama.alt_e}
    for (source, target), edge in zip(pairs, grandalf_edges):
        if id(edge) in inverted:
            back.add((source, target))
        control = sugiyama.ctrls.get(edge)
        if not control:
            continue
        r0, r1 = layer_of[source], layer_of[target]
        ranks = range(r0 + 1, r1) if r0 < r1 else range(r0 - 1, r1, -1)
        bends[(source, target)] = [(rank, control[rank].view.xy[0]) for rank in ranks]
        for rank in ranks:
            x = control[rank].view.xy[0]
            lo, hi = min(lo, x - DUMMY_EXTENT / 2), max(hi, x + DUMMY_EXTENT / 2)
    return lo, hi


def _clip_to_box(box: NodeBox, toward: Point) -> Point:
    """Where the segment from the box's centre toward ``toward`` leaves the box."""
    dx, dy = toward[0] - box.x, toward[1] - box.y
    if dx == 0 and dy == 0:
        return (box.x, box.y)
    scale_x = (box.width / 2) / abs(dx) if dx else math.inf
    scale_y = (box.height / 2) / abs(dy) if dy else math.inf
    scale = min(scale_x, scale_y, 1.0)
    return (box.x + dx * scale, box.y + dy * scale)


def _offset_sideways(path: EdgePath, distance: float) -> EdgePath:
    """The same polyline moved ``distance`` sideways: a quarter turn from its overall
    direction of travel.

    Two antiparallel edges travel in opposite directions, so they move to opposite sides
    and end up side by side.
    """
    (x0, y0), (x1, y1) = path.points[0], path.points[-1]
    length = math.hypot(x1 - x0, y1 - y0)
    if length == 0:
        return path
    nx, ny = (y1 - y0) / length * distance, -(x1 - x0) / length * distance
    return EdgePath(
        path.source, path.target, tuple((x + nx, y + ny) for x, y in path.points), path.back
    )


def _loop(box: NodeBox, direction: Direction) -> tuple[Point, ...]:
    """A small rectangular loop beside the node (on the side no layer neighbour uses)."""
    reach = 18.0
    if direction == "TB":
        # Right side: leave from the upper quarter, come back to the lower quarter.
        x = box.right
        return ((x, box.y - box.height / 4), (x + reach, box.y - box.height / 4),
                (x + reach, box.y + box.height / 4), (x, box.y + box.height / 4))
    y = box.bottom
    return ((box.x - box.width / 4, y), (box.x - box.width / 4, y + reach),
            (box.x + box.width / 4, y + reach), (box.x + box.width / 4, y))


def _translate(
    boxes: dict[str, NodeBox], paths: dict[tuple[str, str], EdgePath], dx: float, dy: float
) -> tuple[dict[str, NodeBox], dict[tuple[str, str], EdgePath]]:
    """Move everything by ``(dx, dy)`` so the drawing starts at the origin."""
    moved_boxes = {
        name: NodeBox(b.name, b.x + dx, b.y + dy, b.width, b.height, b.layer)
        for name, b in boxes.items()
    }
    moved_paths = {
        key: EdgePath(p.source, p.target, tuple((x + dx, y + dy) for x, y in p.points), p.back)
        for key, p in paths.items()
    }
    return moved_boxes, moved_paths
