"""URLs that every page builds the same way (the menu, static files), built once per process.

``url_for`` costs a few microseconds per link; the layout has eight of them on every page.
Only absolute endpoint names with fixed arguments belong here, never a value from a request.
"""

from __future__ import annotations

from flask import Flask, current_app, request, url_for

EXTENSION = "vpsshop.fixed_urls"
# The layout uses about ten; the bound only guards against misuse.
URLS_PER_PROCESS = 256


def fixed_url(endpoint: str, **values: str) -> str:
    """``url_for(endpoint, **values)``, remembered per app and mount point."""
    key = (request.script_root, endpoint, tuple(sorted(values.items())))
    urls = current_app.extensions.setdefault(EXTENSION, {})
    url = urls.get(key)
    if url is None:
        url = url_for(endpoint, **values)
        if len(urls) >= URLS_PER_PROCESS:
            urls.clear()
        urls[key] = url
    return url


def install(app: Flask) -> None:
    """Templates get ``fixed_url()``."""
    app.jinja_env.globals["fixed_url"] = fixed_url
