"""Serve Keystone's API with werkzeug on 127.0.0.1 (no uwsgi or Apache to set up).

Usage: <keystone venv>/bin/python keystone_api.py KEYSTONE_CONF PORT [CERT KEY]
(with CERT and KEY, PEM files, over https)
Used by the tests' Keystone harness (tests/keystone_support) and by hand (docs/gnocchi.md).
Each request is logged on stderr ("POST /v3/auth/tokens ... 201"), which the tests read.
"""
import os
import sys

config_file, port = sys.argv[1], int(sys.argv[2])
tls = tuple(sys.argv[3:5]) if len(sys.argv) > 4 else None
# keystone.server.wsgi reads its configuration files from these variables.
os.environ["OS_KEYSTONE_CONFIG_DIR"] = os.path.dirname(os.path.abspath(config_file))
os.environ["OS_KEYSTONE_CONFIG_FILES"] = os.path.basename(config_file)
# ...and oslo.config parses the command line too, which must not hold our arguments.
sys.argv = ["keystone-api"]

from keystone.server import wsgi  # noqa: E402
from werkzeug.serving import run_simple  # noqa: E402

# One thread: requests are served in turn, so the request log (which the tests count lines
# of) is in the order Keystone answered.
run_simple("127.0.0.1", port, wsgi.initialize_public_application(), threaded=False,
           ssl_context=tls)
