-- wrk script: the same 16-float infer with the binary tensor extension.
local header = '{"inputs":[{"name":"INPUT0","shape":[1,16],"datatype":"FP32",' ..
               '"parameters":{"binary_data_size":64}}],' ..
               '"outputs":[{"name":"OUTPUT0","parameters":{"binary_data":true}}]}'
wrk.method = "POST"
wrk.path = "/v2/models/identity_fp32/infer"
wrk.headers["Inference-Header-Content-Length"] = tostring(#header)
wrk.headers["Content-Type"] = "application/octet-stream"
wrk.body = header .. string.rep("\0\0\128\63", 16)
