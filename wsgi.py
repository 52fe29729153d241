"""WSGI entry point for gunicorn and ``flask --app wsgi``."""

from vpsshop import create_app

app = create_app()
