"""Serve Manila's API with werkzeug on 127.0.0.1 (no uwsgi or Apache to set up).

Usage: <manila venv>/bin/python manila_api.py MANILA_CONF PORT
Used by the tests' Manila harness (tests/manila_support).
"""
import sys

config_file, port = sys.argv[1], int(sys.argv[2])
# manila.wsgi.wsgi parses the command line with oslo.config: it must hold only the config file.
sys.argv = ["manila-api", "--config-file", config_file]

from manila.wsgi import wsgi  # noqa: E402
from werkzeug.serving import run_simple  # noqa: E402

run_simple("127.0.0.1", port, wsgi.initialize_application(), threaded=False)
