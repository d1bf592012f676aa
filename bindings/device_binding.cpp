// Device probing for JS: probeDevice(spec) resolves 'auto' | 'cpu' | 'cuda' | 'cuda:N' through the engine's
// choose_device (native/include/ditto/device.h) and returns { device, kind, index, description, reason, abi }, or
// throws ERR_CUDA (explicit CUDA that cannot be honoured, message says why) / ERR_INVALID_ARGUMENT (malformed
// spec). describeDevices() is the text `ditto info` prints. Loading the CUDA backend never happens at addon
// load time, so the addon works on machines without a GPU.
#include <string>

#include "addon.h"
#include "ditto/device.h"
#include "errors.h"

namespace ditto_node {
namespace {

Napi::Value ProbeDevice(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) ThrowTypeError(env, "Expected string for device");
  ditto::Result<ditto::DeviceChoice> choice = ditto::choose_device(info[0].As<Napi::String>().Utf8Value());
  ThrowIfError(env, choice.status());
  Napi::Object o = Napi::Object::New(env);
  o.Set("device", choice->name);
  o.Set("kind", choice->kind == ditto::DeviceKind::Cuda ? "cuda" : "cpu");
  o.Set("index", choice->index);
  o.Set("description", choice->description);
  o.Set("reason", choice->reason);
  o.Set("abi", choice->backend_abi);
  return o;
}

// cudaTransferCounts() → the CUDA backend's counted host↔device copies of activations and device tensors (zeros
// when no ABI v2 backend is loaded): what a test reads to prove a pipeline keeps its latents on the device.
Napi::Value CudaTransferCounts(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const DittoCudaTransferCounts c = ditto::cuda_transfer_counts();
  Napi::Object o = Napi::Object::New(env);
  o.Set("hostToDeviceCopies", double(c.host_to_device_copies));
  o.Set("hostToDeviceBytes", double(c.host_to_device_bytes));
  o.Set("deviceToHostCopies", double(c.device_to_host_copies));
  o.Set("deviceToHostBytes", double(c.device_to_host_bytes));
  return o;
}

Napi::Value DescribeDevices(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), ditto::describe_devices());
}

}  // namespace

void RegisterDevice(Napi::Env env, Napi::Object exports) {
  exports.Set("probeDevice", Napi::Function::New(env, ProbeDevice, "probeDevice"));
  exports.Set("describeDevices", Napi::Function::New(env, DescribeDevices, "describeDevices"));
  exports.Set("cudaTransferCounts", Napi::Function::New(env, CudaTransferCounts, "cudaTransferCounts"));
}

}  // namespace ditto_node
