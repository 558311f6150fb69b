"""Serve Designate's API with werkzeug on 127.0.0.1 (no uwsgi or Apache to set up).

Usage: <designate venv>/bin/python designate_api.py CONFIG_DIR PORT
CONFIG_DIR holds designate.conf and api-paste.ini, as /etc/designate does.
Used by the tests' Designate harness (tests/designate_support).
"""
import os
import sys

config_dir, port = sys.argv[1], int(sys.argv[2])
os.environ["OS_DESIGNATE_CONFIG_DIR"] = config_dir

from designate.api import wsgi  # noqa: E402
from werkzeug.serving import run_simple  # noqa: E402

run_simple("127.0.0.1", port, wsgi.init_application(), threaded=False)
