"""The dashboard's charts: pygal SVGs without script, shown as images under the CSP.

pygal builds the SVG with ElementTree, so every label (a node's or product's name) is
escaped by the serializer. The SVG goes into an ``<img>`` as a ``data:`` URI
(``img-src 'self' data:``): a document shown as an image runs no script and loads
nothing, and the page needs no inline style or script. The config ``<script>`` pygal
always writes is taken out of the tree as well, so the file carries no script at all.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import date
from xml.etree import ElementTree

import pygal
from pygal.style import Style

from vpsshop.services.stats import DashboardData, NodeSlots

WIDTH, HEIGHT = 760, 320
PALETTE = ("#28a745", "#007bff", "#ffc107", "#17a2b8", "#6f42c1", "#fd7e14", "#6c757d")
OUTCOME_COLORS = {
    "served": "#28a745",
    "in progress": "#17a2b8",
    "failed": "#dc3545",
    "lost": "#fd7e14",
    "stopped before ready": "#6c757d",
}
USED, FREE, UNAVAILABLE = "#007bff", "#28a745", "#dc3545"
# The slots chart draws at most this many nodes (its table lists every node): past a few
# dozen bars a chart is unreadable, and drawing each one cost the page its flat time
# (bench: the dashboard at 100 nodes against 50).
SLOTS_CHART_NODES = 24


def _style(colors: tuple[str, ...] | None = None) -> Style:
    return Style(
        background="white",
        plot_background="white",
        foreground="#343a40",
        foreground_strong="#212529",
        foreground_subtle="#6c757d",
        font_family="sans-serif",
        colors=colors or PALETTE,
    )


@dataclass(frozen=True)
class Chart:
    """One chart: its picture, a one-line description, and the table it draws."""

    key: str
    title: str
    image: str  # a data: URI
    summary: str
    columns: list[str]
    rows: list[list[object]]


def _options() -> dict:
    return {
        "js": [],  # no tooltip script from a CDN (pygal's default)
        "disable_xml_declaration": True,
        "width": WIDTH,
        "height": HEIGHT,
        "style": _style(),
        "legend_at_bottom": True,
        "legend_at_bottom_columns": 3,
        "legend_font_size": 13,
        "label_font_size": 12,
        "major_label_font_size": 12,
        "truncate_label": -1,
        "print_values": False,
        "show_minor_x_labels": False,
        "x_label_rotation": 0,
        "truncate_legend": -1,
        "margin": 12,
        "margin_bottom": 24,
    }


def _data_uri(chart: pygal.graph.graph.Graph) -> str:
    tree = chart.render_tree()
    for parent in list(tree.iter()):
        for child in list(parent):
            if str(child.tag).rsplit("}", 1)[-1] == "script":
                parent.remove(child)
    svg = ElementTree.tostring(tree, encoding="utf-8")
    return "data:image/svg+xml;base64," + base64.b64encode(svg).decode("ascii")


def _day_labels(chart: pygal.graph.graph.Graph, days: list[date]) -> None:
    chart.x_labels = [day.strftime("%m-%d") for day in days]
    # Every fifth day labelled, the newest always.
    newest = len(days) - 1
    chart.x_labels_major = [
        label for n, label in enumerate(chart.x_labels) if (newest - n) % 5 == 0
    ]


def _per_day(
    key: str, title: str, days: list[date], series: dict[str, list[int]], colors: dict | None
) -> Chart:
    palette = tuple(colors.get(name, "#6c757d") for name in series) if colors else None
    chart = pygal.StackedBar(**{**_options(), "style": _style(palette)})
    _day_labels(chart, days)
    for name, values in series.items():
        chart.add(name, values)
    totals = [sum(values[n] for values in series.values()) for n in range(len(days))]
    summary = f"{title}: {sum(totals)} over {len(days)} days, {totals[-1] if totals else 0} today."
    rows = [
        [day.isoformat(), *(values[n] for values in series.values())] for n, day in enumerate(days)
    ]
    return Chart(key, title, _data_uri(chart), summary, ["Day (UTC)", *series], rows)


def _node_label(node: NodeSlots) -> str:
    if not node.enabled:
        return f"{node.name} (disabled)"
    if not node.healthy:
        return f"{node.name} (unhealthy)"
    return node.name


def nodes_to_draw(nodes: list[NodeSlots], limit: int = SLOTS_CHART_NODES) -> list[NodeSlots]:
    """The nodes an operator looks at first, at most ``limit``, in ``nodes``' order: the
    disabled and unhealthy ones, then the fullest (fewest slots free to buy)."""
    if len(nodes) <= limit:
        return nodes
    ranked = sorted(
        range(len(nodes)),
        key=lambda n: (nodes[n].enabled and nodes[n].healthy, nodes[n].free, -nodes[n].used),
    )
    return [nodes[n] for n in sorted(ranked[:limit])]


def _slots(nodes: list[NodeSlots]) -> Chart:
    drawn = nodes_to_draw(nodes)
    title = "Slots used per node now"
    if len(drawn) < len(nodes):
        title += f" ({len(drawn)} of {len(nodes)} nodes: the unavailable, then the fullest)"
    height = max(160, 90 + 34 * len(drawn))
    chart = pygal.HorizontalStackedBar(
        **{**_options(), "height": height, "style": _style((USED, FREE))}
    )
    chart.x_labels = [_node_label(node) for node in drawn]
    used, free = [], []
    for node in drawn:
        unavailable = not (node.enabled and node.healthy)
        used.append({"value": node.used, "color": UNAVAILABLE if unavailable else USED})
        # A disabled or unhealthy node's empty slots cannot be bought: drawn grey.
        spare = max(0, node.max_sessions - node.used)
        free.append({"value": spare, "color": "#ced4da" if unavailable else FREE})
    chart.add("Used", used)
    chart.add("Free", free)
    rows = [
        [
            node.name,
            node.used,
            node.max_sessions,
            node.free,
            "disabled" if not node.enabled else ("unhealthy" if not node.healthy else "ok"),
        ]
        for node in nodes
    ]
    open_slots = sum(node.free for node in nodes)
    summary = (
        f"{title}: {sum(n.used for n in nodes)} used, {open_slots} free to buy "
        f"on {len(nodes)} nodes."
    )
    return Chart(
        "slots",
        title,
        _data_uri(chart),
        summary,
        ["Node", "Used", "Slots", "Free to buy", "State"],
        rows,
    )


def _seconds(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"


def _provisioning(days: list[date], p50: list, p95: list) -> Chart:
    title = "Provisioning time (seconds from purchase to ready)"
    chart = pygal.Line(**_options(), allow_interruptions=True, dots_size=3)
    _day_labels(chart, days)
    chart.add("p50", p50)
    chart.add("p95", p95)
    known = [value for value in p95 if value is not None]
    summary = f"{title}: newest p95 {known[-1]:.1f} s." if known else f"{title}: no data yet."
    rows = [
        [day.isoformat(), _seconds(a), _seconds(b)]
        for day, a, b in zip(days, p50, p95, strict=True)
    ]
    return Chart(
        "provisioning", title, _data_uri(chart), summary, ["Day (UTC)", "p50", "p95"], rows
    )


def dashboard_charts(data: DashboardData) -> list[Chart]:
    """Every chart of the dashboard, in the order the page shows them."""
    return [
        _per_day("coins-in", "Coins in per day", data.days, data.coins_in, None),
        _per_day("coins-out", "Coins out per day", data.days, data.coins_out, None),
        _per_day(
            "sessions",
            "Sessions started per day, by outcome",
            data.days,
            data.sessions_started,
            OUTCOME_COLORS,
        ),
        _slots(data.nodes),
        _provisioning(data.days, data.provisioning_p50, data.provisioning_p95),
    ]
