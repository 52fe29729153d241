"""The reference: a bare Flask "hello" app, served by the same gunicorn configuration.

Besides its "hello", it answers the flash sale's two calls at their floor (bench/flash.py):
the catalogue and the purchase as the cheapest Flask answers, and the purchase again
under ``/committed`` with one row committed in PostgreSQL (``BENCH_FLOOR_DSN``).
"""

import os
import threading
import uuid

import psycopg
from flask import Flask, request

app = Flask(__name__)
ORDER_PATH = "/api/v1/vps/purchase-and-create"
PRODUCTS_PATH = "/api/v1/vps/products"
COMMITTED = "/committed"
_connections = threading.local()


@app.get("/")
def hello() -> str:
    """The cheapest possible Flask answer: the ceiling the shop's pages are compared to."""
    return "hello"


@app.get(PRODUCTS_PATH)
@app.get(COMMITTED + PRODUCTS_PATH)
def products() -> dict:
    """What a flash-sale buyer loads before the rush, answered at once."""
    return {"products": []}


@app.post(ORDER_PATH)
def order() -> tuple[dict, int]:
    """A purchase's floor on this stack: the JSON order read, a 202 with a session id."""
    request.get_json()
    return {"session": {"id": str(uuid.uuid4())}}, 202


@app.post(COMMITTED + ORDER_PATH)
def committed_order() -> tuple[dict, int]:
    """The same with one row inserted and committed (fsynced: synchronous_commit on), on
    this thread's own connection: the floor of anything that must not be lost."""
    request.get_json()
    connection = getattr(_connections, "connection", None)
    if connection is None:
        connection = _connections.connection = psycopg.connect(os.environ["BENCH_FLOOR_DSN"])
    with connection.transaction():
        connection.execute("INSERT INTO bench_floor DEFAULT VALUES")
    return {"session": {"id": str(uuid.uuid4())}}, 202
