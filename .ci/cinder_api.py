"""Serve Cinder's API with werkzeug on 127.0.0.1 (no uwsgi or Apache to set up).

Usage: <cinder venv>/bin/python cinder_api.py CINDER_CONF PORT
Used by the tests' Cinder harness (tests/cinder_support).
"""
import sys

config_file, port = sys.argv[1], int(sys.argv[2])
# cinder.wsgi.wsgi parses the command line with oslo.config: it must hold only the config file.
sys.argv = ["cinder-api", "--config-file", config_file]

from cinder.wsgi import wsgi  # noqa: E402
from werkzeug.serving import run_simple  # noqa: E402

run_simple("127.0.0.1", port, wsgi.initialize_application(), threaded=False)
