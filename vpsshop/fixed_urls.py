"""The layout's links (menu, stylesheet, script), built once per app and mount point.

``url_for`` costs a few microseconds per link and the layout has eight on every page; none
of them depends on anything but where the app is mounted.
"""

from __future__ import annotations

from types import SimpleNamespace

from flask import Flask, current_app, request, url_for

EXTENSION = "vpsshop.layout_urls"
# Mount points remembered per process; an app normally has one.
MOUNT_POINTS = 16
LAYOUT_LINKS: dict[str, tuple[str, dict[str, str]]] = {
    "stylesheet": ("static", {"filename": "css/app.css"}),
    "script": ("static", {"filename": "js/live.js"}),
    "catalogue": ("shop.catalogue", {}),
    "sessions": ("shop.sessions", {}),
    "password": ("auth.change_password", {}),
    "logout": ("auth.logout", {}),
    "login": ("auth.login", {}),
    "register": ("auth.register", {}),
}


def layout_urls() -> SimpleNamespace:
    """The URL of each of ``LAYOUT_LINKS`` for this request's mount point."""
    cache = current_app.extensions.setdefault(EXTENSION, {})
    urls = cache.get(request.script_root)
    if urls is None:
        urls = {
            name: url_for(endpoint, **values) for name, (endpoint, values) in LAYOUT_LINKS.items()
        }
        if len(cache) >= MOUNT_POINTS:
            cache.clear()
        cache[request.script_root] = urls
    return urls


def install(app: Flask) -> None:
    """Templates get ``layout_urls()``."""
    app.jinja_env.globals["layout_urls"] = layout_urls
