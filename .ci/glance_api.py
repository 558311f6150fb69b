"""Serve Glance's API with werkzeug on 127.0.0.1 (no uwsgi or Apache to set up).

Usage: <glance venv>/bin/python glance_api.py CONFIG_DIR PORT
CONFIG_DIR holds glance-api.conf. Used by the tests' Glance harness (tests/glance_support).
"""
import os
import sys

config_dir, port = sys.argv[1], int(sys.argv[2])
# glance's WSGI entry point reads its files from this directory and parses the command line.
os.environ["OS_GLANCE_CONFIG_DIR"] = config_dir
sys.argv = ["glance-api"]

from glance.common import wsgi_app  # noqa: E402
from werkzeug.serving import run_simple  # noqa: E402

run_simple("127.0.0.1", port, wsgi_app.init_app(), threaded=True)
