"""Serve Aodh's API with werkzeug on 127.0.0.1 (no uwsgi or Apache to set up).

Usage: <aodh venv>/bin/python aodh_api.py CONFIG_FILE PORT
Used by the tests' Aodh harness (tests/aodh_support).
"""
import sys

config_file, port = sys.argv[1], int(sys.argv[2])

from aodh.api import app  # noqa: E402
from werkzeug.serving import run_simple  # noqa: E402

run_simple("127.0.0.1", port, app.build_wsgi_app(argv=["--config-file", config_file]),
           threaded=True)
