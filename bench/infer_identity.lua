-- wrk script: KServe v2 JSON infer on identity_fp32 with a small tensor (16 floats).
wrk.method = "POST"
wrk.path = "/v2/models/identity_fp32/infer"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"inputs":[{"name":"INPUT0","shape":[1,16],"datatype":"FP32",' ..
           '"data":[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15]}]}'
