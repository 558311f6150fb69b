"""An OTLP/HTTP metrics receiver for tests/publish_otlp.rs (127.0.0.1 only).

POST /v1/metrics (application/json or application/x-protobuf): decoded strictly with the
OpenTelemetry protobuf definitions (opentelemetry-proto; an unknown JSON field is an error, as
for a collector), answered 200 with an empty ExportMetricsServiceResponse, or 400 with the
error. GET /received: the decoded requests (protobuf's JSON mapping), as a JSON list.
Usage: python otlp_receiver.py PORT   (the venv of .ci/otlp-venv.sh)
"""
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from google.protobuf import json_format
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest)

received, lock = [], threading.Lock()


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def reply(self, code, body):
        self.send_response(code)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        with lock:
            self.reply(200, json.dumps(received).encode())

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get('Content-Length', 0)))
        if self.path.split('?')[0] != '/v1/metrics':
            return self.reply(404, b'{}')
        ctype = (self.headers.get('Content-Type') or '').split(';')[0].strip()
        request = ExportMetricsServiceRequest()
        try:
            if ctype == 'application/x-protobuf':
                request.ParseFromString(body)
            elif ctype == 'application/json':
                json_format.Parse(body, request)
            else:
                raise ValueError('unsupported content type %r' % ctype)
        except Exception as e:
            return self.reply(400, json.dumps({'error': str(e)}).encode())
        with lock:
            received.append({'content_type': ctype,
                             'request': json_format.MessageToDict(request)})
        self.reply(200, b'{}')


server = ThreadingHTTPServer(('127.0.0.1', int(sys.argv[1])), Handler)
print('ready', flush=True)
server.serve_forever()
