"""Serve Gnocchi's REST API with werkzeug on 127.0.0.1 (no uwsgi to build).

Usage: <gnocchi venv>/bin/python gnocchi_api.py GNOCCHI_CONF PORT
Used by the tests' Gnocchi harness (tests/gnocchi_support) and by hand (docs/gnocchi.md).
"""
import sys

config_file, port = sys.argv[1], int(sys.argv[2])
# gnocchi.rest.wsgi builds its application from the command line's --config-file.
sys.argv = ["gnocchi-api", "--config-file", config_file]

from gnocchi.rest import wsgi  # noqa: E402
from werkzeug.serving import run_simple  # noqa: E402

run_simple("127.0.0.1", port, wsgi.application, threaded=True)
