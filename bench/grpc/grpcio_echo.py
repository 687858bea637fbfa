"""Baseline for the gRPC benchmark: an echo server in Python grpcio
(python3-grpcio), raw bytes for any method, unary or streaming.

    python3 grpcio_echo.py PORT_FILE     (127.0.0.1:0; runs until SIGTERM)
"""
import signal
import sys
import threading
from concurrent import futures

import grpc


def echo(request_iterator, context):
    for msg in request_iterator:
        yield msg


class Any(grpc.GenericRpcHandler):
    def service(self, handler_call_details):
        return grpc.stream_stream_rpc_method_handler(echo)


def main():
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16),
                         options=[("grpc.max_receive_message_length", -1)])
    server.add_generic_rpc_handlers((Any(),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    with open(sys.argv[1], "w") as f:
        f.write("%d\n" % port)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: done.set())
    done.wait()
    server.stop(0)


if __name__ == "__main__":
    main()
