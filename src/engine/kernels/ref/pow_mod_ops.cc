// Pow, Mod and BitShift: binary elementwise ops with numpy-style
// broadcasting.
//
// Pow (opset 12+) lets base X (int32, int64, floating) and exponent Y (any
// numeric type) differ; the output has X's type. The value is that of numpy:
// power computed in the promoted type, then cast to X's type. Integer base
// with non-negative integer exponent is exact repeated multiplication (wraps
// like numpy's int64); every other mix is computed in double and converted
// (integer results truncate toward zero and saturate).
//
// Mod: fmod=0 takes the sign of the divisor (Python %), fmod=1 that of the
// dividend (C fmod); floating inputs require fmod=1 as the spec says.
// Integer division by zero is InvalidArgument, as for Div.
//
// BitShift: unsigned types; shifting by the bit width or more gives 0
// (instead of C++'s undefined behaviour).
#include <cmath>
#include <limits>
#include <string>
#include <type_traits>

#include "engine/kernels/kernel.h"
#include "engine/kernels/ref/dispatch.h"
#include "engine/kernels/ref/elementwise_ext_util.h"
#include "engine/kernels/ref/ref_util.h"

namespace nereid::engine::ref {
namespace {

template <typename T>
double ToDouble(T v) {
  return static_cast<double>(static_cast<ComputeType<T>>(v));
}

template <typename T, typename E>
T PowElem(T base, E exp) {
  if constexpr (std::is_integral_v<T> && std::is_integral_v<E>) {
    if (!(exp < E{0})) {
      uint64_t result = 1;
      uint64_t b = static_cast<uint64_t>(base);
      for (uint64_t e = static_cast<uint64_t>(exp); e != 0; e >>= 1) {
        if (e & 1) result *= b;
        b *= b;
      }
      return static_cast<T>(result);  // modular, as two's complement
    }
  }
  const double r = std::pow(ToDouble(base), ToDouble(exp));
  if constexpr (kIsHalf<T>) {
    return T(static_cast<float>(r));
  } else {
    return Convert<T>(r);
  }
}

// Base types Pow accepts: int32, int64 and the floating types.
template <typename Fn>
Status DispatchPowBase(DataType dtype, Fn&& fn) {
  switch (dtype) {
    case DataType::kInt32:
      return fn.template operator()<int32_t>();
    case DataType::kInt64:
      return fn.template operator()<int64_t>();
    default:
      return DispatchFloat(dtype, "Pow", fn);
  }
}

class PowKernel final : public Kernel {
 public:
  Status Run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const override {
    RETURN_IF_ERROR(CheckInputs(inputs, 2, 2));
    const Tensor& x = *inputs[0];
    const Tensor& y = *inputs[1];
    return DispatchPowBase(x.dtype(), [&]<typename T>() -> Status {
      return DispatchNumeric(y.dtype(), "Pow", [&]<typename E>() -> Status {
        return MapBinary<T, E, T>(x, y, x.dtype(), &outputs[0], PowElem<T, E>);
      });
    });
  }
};

StatusOr<std::unique_ptr<Kernel>> MakePow(const KernelBuildContext& context) {
  RETURN_IF_ERROR(CheckArity(context, 2, 2));
  RETURN_IF_ERROR(CheckNoLegacyAxis(context));
  return std::unique_ptr<Kernel>(new PowKernel());
}

NEREID_REGISTER_KERNEL("", "Pow", MakePow);

// Integer remainder; false on division by zero.
template <typename T>
bool IntMod(T a, T b, bool c_fmod, T* out) {
  if (b == 0) return false;
  T r;
  if constexpr (std::is_signed_v<T>) {
    r = b == T{-1} ? T{0} : static_cast<T>(a % b);  // lowest() % -1 would trap
    if (!c_fmod && r != 0 && ((r < 0) != (b < 0))) r = static_cast<T>(r + b);
  } else {
    r = static_cast<T>(a % b);
  }
  *out = r;
  return true;
}

class ModKernel final : public Kernel {
 public:
  explicit ModKernel(bool c_fmod) : c_fmod_(c_fmod) {}

  Status Run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const override {
    RETURN_IF_ERROR(CheckInputs(inputs, 2, 2));
    RETURN_IF_ERROR(CheckSameDtype(inputs));
    const Tensor& a = *inputs[0];
    const Tensor& b = *inputs[1];
    return DispatchNumeric(a.dtype(), "Mod", [&]<typename T>() -> Status {
      if constexpr (kIsFloating<T>) {
        if (!c_fmod_) {
          return InvalidArgument("Mod: attribute 'fmod' must be 1 for floating-point inputs");
        }
        using C = ComputeType<T>;
        return MapBinary<T, T, T>(a, b, a.dtype(), &outputs[0], [](T x, T y) {
          return T(std::fmod(static_cast<C>(x), static_cast<C>(y)));
        });
      } else {
        bool ok = true;
        auto elem = [&](T x, T y) {
          T r{0};
          if (!IntMod<T>(x, y, c_fmod_, &r)) ok = false;
          return r;
        };
        RETURN_IF_ERROR((MapBinary<T, T, T>(a, b, a.dtype(), &outputs[0], elem)));
        if (!ok) return InvalidArgument("Mod: integer division by zero");
        return Status::Ok();
      }
    });
  }

 private:
  bool c_fmod_;
};

StatusOr<std::unique_ptr<Kernel>> MakeMod(const KernelBuildContext& context) {
  RETURN_IF_ERROR(CheckArity(context, 2, 2));
  ASSIGN_OR_RETURN(int64_t fmod, context.node.GetInt("fmod", 0));
  if (fmod != 0 && fmod != 1) {
    return InvalidArgument("Mod: attribute 'fmod' must be 0 or 1, got " + std::to_string(fmod));
  }
  // Catch the float/fmod=0 mismatch at build time when the dtype is known.
  const DataType dtype = context.input_dtypes.empty() ? DataType::kInvalid
                                                      : context.input_dtypes[0];
  const bool is_float = dtype == DataType::kFp32 || dtype == DataType::kFp64 ||
                        dtype == DataType::kFp16 || dtype == DataType::kBf16;
  if (is_float && fmod == 0) {
    return InvalidArgument("Mod: attribute 'fmod' must be 1 for floating-point inputs");
  }
  return std::unique_ptr<Kernel>(new ModKernel(fmod == 1));
}

NEREID_REGISTER_KERNEL("", "Mod", MakeMod);

template <typename T>
T ShiftElem(T x, T amount, bool left) {
  constexpr T kBits = static_cast<T>(std::numeric_limits<T>::digits);
  if (amount >= kBits) return T{0};
  return left ? static_cast<T>(x << amount) : static_cast<T>(x >> amount);
}

class BitShiftKernel final : public Kernel {
 public:
  explicit BitShiftKernel(bool left) : left_(left) {}

  Status Run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const override {
    RETURN_IF_ERROR(CheckInputs(inputs, 2, 2));
    RETURN_IF_ERROR(CheckSameDtype(inputs));
    const Tensor& x = *inputs[0];
    const Tensor& y = *inputs[1];
    auto body = [&]<typename T>() -> Status {
      return MapBinary<T, T, T>(x, y, x.dtype(), &outputs[0],
                                [&](T a, T b) { return ShiftElem<T>(a, b, left_); });
    };
    switch (x.dtype()) {
      case DataType::kUint8:
      case DataType::kUint16:
      case DataType::kUint32:
      case DataType::kUint64:
        return DispatchInteger(x.dtype(), "BitShift", body);
      default:
        return UnsupportedDtype("BitShift", x.dtype());
    }
  }

 private:
  bool left_;
};

StatusOr<std::unique_ptr<Kernel>> MakeBitShift(const KernelBuildContext& context) {
  RETURN_IF_ERROR(CheckArity(context, 2, 2));
  ASSIGN_OR_RETURN(std::string direction, context.node.GetString("direction"));
  if (direction != "LEFT" && direction != "RIGHT") {
    return InvalidArgument("BitShift: attribute 'direction' must be \"LEFT\" or \"RIGHT\", got \"" +
                           direction + "\"");
  }
  return std::unique_ptr<Kernel>(new BitShiftKernel(direction == "LEFT"));
}

NEREID_REGISTER_KERNEL("", "BitShift", MakeBitShift);

}  // namespace
}  // namespace nereid::engine::ref
