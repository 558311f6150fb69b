"""Serve Nova's compute API with werkzeug on 127.0.0.1 (no uwsgi or Apache to set up).

Usage: <nova venv>/bin/python nova_api.py CONFIG_DIR PORT
CONFIG_DIR holds api-paste.ini and nova.conf. Used by the tests' Nova harness
(tests/nova_support).
"""
import os
import sys

config_dir, port = sys.argv[1], int(sys.argv[2])
# nova's WSGI entry point reads these files from this directory and parses the command line.
os.environ["OS_NOVA_CONFIG_DIR"] = config_dir
os.environ["OS_NOVA_CONFIG_FILES"] = "api-paste.ini;nova.conf"
sys.argv = ["nova-api"]

from nova.api.openstack.compute import wsgi  # noqa: E402
from werkzeug.serving import run_simple  # noqa: E402

run_simple("127.0.0.1", port, wsgi.init_application(), threaded=True)
