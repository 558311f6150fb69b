"""Serve Neutron's API with werkzeug on 127.0.0.1 (no uwsgi or Apache to set up).

Usage: <neutron venv>/bin/python neutron_api.py CONFIG_DIR PORT
CONFIG_DIR holds neutron.conf. Used by the tests' Neutron harness (tests/neutron_support).
"""
import os
import sys

config_dir, port = sys.argv[1], int(sys.argv[2])
# neutron's WSGI entry point reads its files from here and parses the command line.
os.environ["OS_NEUTRON_CONFIG_DIR"] = config_dir
os.environ["OS_NEUTRON_CONFIG_FILES"] = "neutron.conf"
sys.argv = ["neutron-api"]

from neutron.wsgi import api  # noqa: E402
from werkzeug.serving import run_simple  # noqa: E402

run_simple("127.0.0.1", port, api.application, threaded=True)
