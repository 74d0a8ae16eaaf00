import asyncio
import json

import triton_python_backend_utils as pb_utils


def bls_request(request, model_name):
    return pb_utils.InferenceRequest(
        model_name=model_name,
        inputs=[pb_utils.get_input_tensor_by_name(request, "INPUT0"),
                pb_utils.get_input_tensor_by_name(request, "INPUT1")],
        requested_output_names=["OUTPUT0", "OUTPUT1"])


def to_response(bls_response):
    if bls_response.has_error():
        return pb_utils.InferenceResponse(
            error=pb_utils.TritonError("BLS call failed: " + bls_response.error().message()))
    return pb_utils.InferenceResponse([
        pb_utils.get_output_tensor_by_name(bls_response, "OUTPUT0"),
        pb_utils.get_output_tensor_by_name(bls_response, "OUTPUT1")])


class TritonPythonModel:
    async def execute(self, requests):
        responses = []
        for request in requests:
            params = json.loads(request.parameters())
            target = params.get("target", "simple")
            if params.get("async"):
                # Two calls in flight at once; both must match.
                first, second = await asyncio.gather(
                    bls_request(request, target).async_exec(),
                    bls_request(request, target).async_exec())
                if not first.has_error() and not second.has_error():
                    a = pb_utils.get_output_tensor_by_name(first, "OUTPUT0").as_numpy()
                    b = pb_utils.get_output_tensor_by_name(second, "OUTPUT0").as_numpy()
                    assert (a == b).all()
                responses.append(to_response(first))
            else:
                responses.append(to_response(bls_request(request, target).exec()))
        return responses
