import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def execute(self, requests):
        responses = []
        for request in requests:
            probs = pb_utils.get_input_tensor_by_name(request, "PROBABILITIES").as_numpy()
            # Stable sort: equal probabilities keep the lower digit first.
            top = np.argsort(-probs, axis=-1, kind="stable")[..., :3]
            labels = np.vectorize(lambda d: str(d).encode(), otypes=[np.object_])(top)
            scores = np.take_along_axis(probs, top, axis=-1).astype(np.float32)
            responses.append(pb_utils.InferenceResponse(
                [pb_utils.Tensor("LABELS", labels), pb_utils.Tensor("SCORES", scores)]))
        return responses
