"""The reference: a bare Flask "hello" app, served by the same gunicorn configuration."""

from flask import Flask

app = Flask(__name__)


@app.get("/")
def hello() -> str:
    """The cheapest possible Flask answer: the ceiling the shop's pages are compared to."""
    return "hello"
