// Operators of the "nereid" domain: what graph passes (engine/passes/)
// fuse ONNX nodes into. They never appear in a model file; kernels for them
// register like any ONNX op (a reference kernel composed from the ONNX
// reference kernels, and optimized kernels above it).
//
// nereid.FusedConv(X, W, B?, Z?) -> Y
//   Y = act(Conv(X, W, B) + Z). Attributes: every Conv attribute, plus
//   "activation" (string: "" none, or Relu LeakyRelu Clip Sigmoid Tanh Elu
//   HardSwish), "activation_alpha" / "activation_beta" (floats: LeakyRelu's
//   and Elu's alpha; Clip's min and max), and the layout attributes below.
//
// nereid.FusedMatMul(A, B, Bias?, Addend?) -> Y
//   Y = out_perm(act(alpha * (a_perm(A) @ b_perm(B)) + Bias + Addend)), with
//   numpy matmul semantics (batch broadcasting) for the product and numpy
//   broadcasting for Bias ([N]) and Addend. Attributes: "alpha" (float, 1),
//   "activation" ("" or Relu Tanh Sigmoid Gelu; Gelu is the erf form),
//   "a_perm" / "b_perm" / "out_perm" (ints, empty = none: Transposes folded
//   into the product's memory strides). out_perm is only set when nothing
//   else is fused after the product.
//
// Blocked layout ("nChw<b>c", b = 8 or 16): a 4-D NCHW tensor held as the
// 5-D tensor [N, ceil(C/b), H, W, b] whose channels past C are zero. Nodes
// that read or write blocked tensors say so:
//   nereid.FusedConv: "src_block" / "dst_block" (int, 0 = plain NCHW).
//   nereid.ToBlocked(X) -> Xb: attribute "block".
//   nereid.FromBlocked(Xb) -> X: attributes "block", "channels" (C).
//   nereid.BlockedPool(Xb) -> Yb: attributes "block", "channels", "pool"
//     ("MaxPool" | "AveragePool" | "GlobalAveragePool" | "GlobalMaxPool")
//     plus that ONNX op's attributes.
// ONNX elementwise ops whose f(0) = 0 (Relu, Add of two same-shaped tensors,
// ...) run unchanged on blocked tensors: the padding stays zero.
#pragma once

namespace nereid::engine {

inline constexpr const char* kFusedConvOp = "FusedConv";
inline constexpr const char* kFusedMatMulOp = "FusedMatMul";
inline constexpr const char* kToBlockedOp = "ToBlocked";
inline constexpr const char* kFromBlockedOp = "FromBlocked";
inline constexpr const char* kBlockedPoolOp = "BlockedPool";

}  // namespace nereid::engine
