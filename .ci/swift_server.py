"""Run one Swift server (proxy, account, container or object) with its swift.conf beside its
config instead of /etc/swift/swift.conf, which Swift reads before any server config; or one
pass of the container updater (`container-updater`), which tells the account server what its
containers hold.

Usage: <swift venv>/bin/python swift_server.py proxy|account|container|object|container-updater CONF
CONF's directory holds swift.conf and the rings. Used by the tests' Swift harness
(tests/swift_support).
"""
import os
import sys

server, conf = sys.argv[1], sys.argv[2]

from swift.common import utils  # noqa: E402

utils.SWIFT_CONF_FILE = os.path.join(os.path.dirname(os.path.abspath(conf)), "swift.conf")

if server == "container-updater":
    from swift.common.daemon import run_daemon  # noqa: E402
    from swift.container.updater import ContainerUpdater  # noqa: E402

    run_daemon(ContainerUpdater, conf, once=True, verbose=True)
else:
    from swift.common.wsgi import run_wsgi  # noqa: E402

    sys.exit(run_wsgi(conf, f"{server}-server", verbose=True))
