// Entry point of the ditto.node addon: creates the per-environment data and lets each binding file register
// its exports. Adding a binding is one Register line here.
#include "addon.h"

namespace ditto_node {

AddonData& GetAddonData(Napi::Env env) { return *env.GetInstanceData<AddonData>(); }

}  // namespace ditto_node

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  env.SetInstanceData(new ditto_node::AddonData());
  ditto_node::RegisterErrors(env, exports);
  ditto_node::RegisterInfo(env, exports);
  ditto_node::RegisterTensor(env, exports);
  ditto_node::RegisterModel(env, exports);
  ditto_node::RegisterSession(env, exports);
  ditto_node::RegisterDevice(env, exports);
  ditto_node::RegisterNoise(env, exports);
  ditto_node::RegisterImage(env, exports);
  ditto_node::RegisterVae(env, exports);
  ditto_node::RegisterLowRank(env, exports);
  return exports;
}

NODE_API_MODULE(ditto, Init)
