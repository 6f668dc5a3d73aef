"""A request that finds the portal's own database unreachable or saturated is answered 503, not 500.

Under a flood of requests every pooled connection can be taken (the pool waits DB_POOL_TIMEOUT
seconds, then gives up), and a restarting or overloaded database refuses new connections. Neither
is the client's fault nor a bug: HTTP says 503 with Retry-After, which TAP clients (pyvo, TOPCAT)
understand as "try again later". Django calls the 500 handler inside its ``except`` block, so the
exception is still at hand there; everything that is not a busy database stays a 500.
"""

from __future__ import annotations

import sqlite3
import sys

import psycopg
from django.db import OperationalError as DjangoOperationalError
from django.http import HttpRequest, HttpResponse
from django.views.defaults import server_error as django_server_error
from psycopg_pool import PoolTimeout

RETRY_AFTER_SECONDS = 5
# SQLSTATE classes a server uses to refuse or drop a connection: 08 connection exception,
# 53 insufficient resources (too many clients, out of memory), 57P0x shutdown/cannot connect now.
BUSY_SQLSTATES = ("08", "53", "57P01", "57P02", "57P03")


def is_busy_database(error: BaseException | None) -> bool:
    """True for the portal database being unreachable or saturated (not for a wrong query or a bug)."""
    while error is not None:
        if isinstance(error, PoolTimeout):
            return True
        if isinstance(error, psycopg.OperationalError):
            state = error.sqlstate
            return state is None or state.startswith(BUSY_SQLSTATES)  # no SQLSTATE: the server never answered
        if isinstance(error, sqlite3.OperationalError):
            return "locked" in str(error) or "busy" in str(error)
        if not isinstance(error, DjangoOperationalError):
            return False
        error = error.__cause__
    return False


def server_error(request: HttpRequest) -> HttpResponse:
    """The portal's 500 handler: 503 + Retry-After when the database is busy, Django's own 500 page otherwise."""
    if is_busy_database(sys.exc_info()[1]):
        response = HttpResponse("The service is busy: its database is not answering now. Please retry in a few seconds.\n",
                                status=503, content_type="text/plain; charset=utf-8")
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
    return django_server_error(request)
