// The Python files the worker processes run, compiled into the binary (the
// build generates py_sources.cc from py/*.py) so that `nereid` stays one
// self-contained file.
#pragma once

namespace nereid::backends::python {

extern const char kWorkerScript[];      // py/nereid_python_worker.py
extern const char kUtilsModule[];       // py/triton_python_backend_utils.py

}  // namespace nereid::backends::python
