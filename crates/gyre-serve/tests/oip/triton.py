"""The real tritonclient.http against gyre serve: health, metadata, readiness and
inference, with binary tensors (the client's default) and with JSON, on the model and on a
pinned version; errors come back as the client's InferenceServerException.

Usage: triton.py HOST:PORT MODEL VERSION
"""

import sys

import numpy as np
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

url, model, version = sys.argv[1], sys.argv[2], sys.argv[3]
client = httpclient.InferenceServerClient(url=url)

assert client.is_server_live()
assert client.is_server_ready()
assert client.is_model_ready(model)
assert client.is_model_ready(model, version)
assert not client.is_model_ready(model, "999")
assert not client.is_model_ready("nope")
server = client.get_server_metadata()
assert server["name"] == "gyre", server
meta = client.get_model_metadata(model)
assert meta["name"] == model and version in meta["versions"], meta
assert client.get_model_metadata(model, version)["name"] == model
names = [i["name"] for i in meta["inputs"]]

row = {"day": 2.0, "period": 0.5, "nswprice": 0.06, "nswdemand": 0.4, "vicprice": 0.003,
       "vicdemand": 0.4, "transfer": 0.4}


def inputs(binary):
    out = []
    for n in names:
        t = httpclient.InferInput(n, [2], "FP64")
        t.set_data_from_numpy(np.array([row[n], row[n]], dtype=np.float64), binary_data=binary)
        out.append(t)
    return out


for binary in (True, False):
    result = client.infer(model, inputs(binary))
    labels = result.as_numpy("label")
    probabilities = result.as_numpy("probabilities")
    assert labels.shape == (2,), labels
    assert probabilities.shape[0] == 2 and abs(probabilities[0].sum() - 1.0) < 1e-9, probabilities
    assert result.get_response()["model_version"] == version, result.get_response()

pinned = client.infer(model, inputs(True), model_version=version)
assert pinned.get_response()["model_version"] == version

for call in (
    lambda: client.infer(model, inputs(True), model_version="999"),
    lambda: client.infer("nope", inputs(False)),
    lambda: client.infer(model, [httpclient.InferInput("day", [1], "FP64").set_data_from_numpy(
        np.array([1.0]), binary_data=False)]),
):
    try:
        call()
        raise SystemExit("a bad request was answered")
    except InferenceServerException as e:
        assert e.message(), e
print("ok")
