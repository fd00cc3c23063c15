"""KServe's own v2 REST client (kserve.InferenceRESTClient) against gyre serve: health,
model readiness and inference with JSON and with binary tensors.

Usage: kserve_client.py http://HOST:PORT MODEL
"""

import asyncio
import sys

import httpx
import numpy as np
from kserve import InferenceRESTClient, InferInput, InferRequest, RESTConfig

base, model = sys.argv[1], sys.argv[2]
row = {"day": 2.0, "period": 0.5, "nswprice": 0.06, "nswdemand": 0.4, "vicprice": 0.003,
       "vicdemand": 0.4, "transfer": 0.4}


async def main():
    client = InferenceRESTClient(RESTConfig(protocol="v2", retries=0))
    assert await client.is_server_live(base)
    assert await client.is_server_ready(base)
    assert await client.is_model_ready(base, model)
    for binary in (False, True):
        inputs = []
        for name, value in row.items():
            t = InferInput(name, [3], "FP64")
            t.set_data_from_numpy(np.array([value] * 3, dtype=np.float64), binary_data=binary)
            inputs.append(t)
        response = await client.infer(base, InferRequest(model, inputs), model_name=model)
        by_name = {o.name: o for o in response.outputs}
        assert by_name["label"].as_numpy().shape == (3,), by_name["label"]
        p = by_name["probabilities"].as_numpy()
        assert p.shape[0] == 3 and abs(p[0].sum() - 1.0) < 1e-9, p
    try:
        await client.infer(base, InferRequest("nope", inputs), model_name="nope")
        raise SystemExit("an unknown model answered")
    except httpx.HTTPStatusError as e:
        assert e.response.status_code == 404 and "no model" in str(e), e
    await client.close()
    print("ok")


asyncio.run(main())
