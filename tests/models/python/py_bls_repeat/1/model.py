import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def execute(self, requests):
        responses = []
        for request in requests:
            call = pb_utils.InferenceRequest(
                model_name="py_repeat",
                inputs=[pb_utils.get_input_tensor_by_name(request, "IN")],
                requested_output_names=["OUT"])
            count, total, error = 0, 0, None
            for r in call.exec(decoupled=True):
                if r.has_error():
                    error = r.error()
                    break
                count += 1
                total += int(pb_utils.get_output_tensor_by_name(r, "OUT").as_numpy()[0])
            if error is not None:
                responses.append(pb_utils.InferenceResponse(error=error))
                continue
            responses.append(pb_utils.InferenceResponse([
                pb_utils.Tensor("COUNT", np.array([count], dtype=np.int32)),
                pb_utils.Tensor("SUM", np.array([total], dtype=np.int32))]))
        return responses
