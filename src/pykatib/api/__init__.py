"""Katib's gRPC API (``api.proto``, package ``api.v1.beta1``: DBManager, Suggestion, EarlyStopping), generated.

``api.proto`` is Katib's file unchanged (see NOTICE). ``api_pb2.py``, ``api_pb2.pyi`` and ``api_pb2_grpc.py``
are generated from it; importable from anywhere (a trial's code too), they import nothing else of pykatib's.
They come from grpcio-tools 1.66.2 (its protobuf 5.27.2 code generator). Generated code refuses older
runtimes, hence pyproject.toml's grpcio>=1.66.2 and protobuf>=5.27.2. To regenerate, from the repository
root, in a virtual environment of its own (grpcio-tools pins protobuf<6)::

    python3 -m venv /tmp/protoc && /tmp/protoc/bin/pip install grpcio-tools==1.66.2 && \\
        /tmp/protoc/bin/python -m grpc_tools.protoc -I src --python_out=src --pyi_out=src --grpc_python_out=src \\
        src/pykatib/api/api.proto
"""
