"""The admin index page: what needs attention at a glance, and the charts."""

from __future__ import annotations

from typing import Any

from flask_admin import AdminIndexView, expose

from vpsshop.admin.access import AdminOnly
from vpsshop.admin.charts import dashboard_charts
from vpsshop.services import stats


def _worker_summary(nodes: list[stats.NodeSlots]) -> dict[str, int]:
    healthy = [node for node in nodes if node.enabled and node.healthy]
    return {
        "total": len(nodes),
        "healthy": len(healthy),
        "free_slots": sum(node.free for node in healthy),
    }


class DashboardView(AdminOnly, AdminIndexView):
    """The index at /admin/, for admins only like every other admin page."""

    @expose("/")
    def index(self) -> Any:
        data = stats.dashboard_data()
        return self.render(
            "admin/vpsshop_dashboard.html",
            sessions=data.active_sessions,
            workers=_worker_summary(data.nodes),
            coins=stats.coins_today(),
            failed_jobs=data.failed_jobs,
            alerts=data.alerts,
            charts=dashboard_charts(data),
        )
