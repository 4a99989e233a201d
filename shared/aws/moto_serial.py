"""The moto server, answering one request at a time.

`moto_server` serves requests on many threads, and moto's DynamoDB checks
a write's condition and applies it in separate steps, so two concurrent
conditional writes can both succeed. DynamoDB applies each request
atomically; serving one request at a time gives the emulator the same
guarantee (clients still interleave, one request after another).

Usage: python moto_serial.py PORT
"""

import sys

from moto.moto_server.threaded_moto_server import MotoRequestHandler
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple

run_simple(
    "127.0.0.1",
    int(sys.argv[1]),
    DomainDispatcherApplication(create_backend_app),
    threaded=False,
    request_handler=MotoRequestHandler,
)
