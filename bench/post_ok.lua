-- wrk script for the nginx ceiling: the same JSON body, answered with a fixed 200.
wrk.method = "POST"
wrk.path = "/"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"inputs":[{"name":"INPUT0","shape":[1,16],"datatype":"FP32",' ..
           '"data":[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15]}]}'
