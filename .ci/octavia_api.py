"""Serve Octavia's API with werkzeug on 127.0.0.1 (no uwsgi or Apache to set up).

Usage: <octavia venv>/bin/python octavia_api.py CONFIG_FILE PORT
Used by the tests' Octavia harness (tests/octavia_support).
"""
import sys

config_file, port = sys.argv[1], int(sys.argv[2])

from octavia.api import app  # noqa: E402
from werkzeug.serving import run_simple  # noqa: E402

run_simple("127.0.0.1", port, app.setup_app(argv=["octavia-api", "--config-file", config_file]),
           threaded=True)
