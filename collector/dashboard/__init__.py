"""The web dashboard: server-rendered pages over the collector's live view.

``create_dashboard_router(view, settings)`` returns the FastAPI router that
``collector/app.py`` mounts at ``/``. Templates live in ``templates/`` (Jinja2,
autoescaped), the hand-written script and stylesheet in ``static/``; there is no
front-end build and nothing is fetched from the internet. See docs/dashboard.md.
"""

from collector.dashboard.router import CONTENT_SECURITY_POLICY, LiveView, ViewUnavailable, create_dashboard_router

__all__ = ["CONTENT_SECURITY_POLICY", "LiveView", "ViewUnavailable", "create_dashboard_router"]
