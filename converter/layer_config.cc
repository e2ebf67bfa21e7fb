#include "converter/layer_config.h"

#include <fnmatch.h>

#include <map>

#include "converter/json.h"

namespace crumb {
namespace cv {
namespace {

const std::map<std::string, KernelFamily>& Families() {
  static const std::map<std::string, KernelFamily> f = {{"auto", KernelFamily::kAuto},
                                                        {"scalar", KernelFamily::kScalar},
                                                        {"dot", KernelFamily::kDot},
                                                        {"lut", KernelFamily::kLut},
                                                        {"bitserial", KernelFamily::kBitserial},
                                                        {"sparse", KernelFamily::kSparse}};
  return f;
}

}  // namespace

bool ParseLayerConfig(const std::string& text, const std::string& path,
                      std::vector<LayerOverride>* out, std::vector<std::string>* problems) {
  const size_t before = problems->size();
  json::Json root;
  std::string err;
  if (!json::ParseJson(text, &root, &err)) {
    problems->push_back("config '" + path + "' is not valid JSON: " + err);
    return false;
  }
  if (root.kind != json::Json::kObject || root["layers"].kind != json::Json::kArray) {
    problems->push_back("config '" + path +
                        "' must be an object with a \"layers\" array of {\"match\": ...} "
                        "entries");
    return false;
  }
  for (const auto& kv : root.obj)
    if (kv.first != "layers")
      problems->push_back("config '" + path + "' has the unknown key \"" + kv.first + "\"");
  const auto& layers = root["layers"].arr;
  for (size_t k = 0; k < layers.size(); k++) {
    const json::Json& e = layers[k];
    const std::string where = "config '" + path + "' layers[" + std::to_string(k) + "]";
    if (e.kind != json::Json::kObject) {
      problems->push_back(where + " must be an object");
      continue;
    }
    LayerOverride o;
    const bool has_match = e["match"].kind == json::Json::kString && !e["match"].str.empty();
    if (!has_match)
      problems->push_back(where + " needs \"match\": a glob over layer (ONNX node) names");
    o.match = e["match"].str;
    for (const auto& kv : e.obj) {
      const std::string& key = kv.first;
      const json::Json& v = kv.second;
      if (key == "match") continue;
      if (key == "family") {
        auto f = v.kind == json::Json::kString ? Families().find(v.str) : Families().end();
        if (f == Families().end()) {
          problems->push_back(
              where + " has family " +
              (v.kind == json::Json::kString ? "'" + v.str + "'" : "of a non-string") +
              "; it takes auto, scalar, dot, lut, bitserial or sparse");
          continue;
        }
        o.has_family = true;
        o.family = f->second;
      } else if (key == "sparse") {
        const std::string s = v.kind == json::Json::kString ? v.str : "";
        if (s != "auto" && s != "on" && s != "off") {
          problems->push_back(where + " has sparse '" + s + "'; it takes auto, on or off");
          continue;
        }
        o.has_sparse = true;
        o.sparse = s == "on" ? SparseMode::kOn : s == "off" ? SparseMode::kOff : SparseMode::kAuto;
      } else if (key == "float" || key == "exclude") {
        // "exclude" is the quantization toolkits' word: the layer is excluded from quantization.
        if (v.kind != json::Json::kBool) {
          problems->push_back(where + " has " + key + " of a non-boolean; it takes true or false");
          continue;
        }
        o.has_float = true;
        o.keep_float = v.b;
      } else if (key == "int8") {
        if (v.kind != json::Json::kBool) {
          problems->push_back(where + " has int8 of a non-boolean; it takes true or false");
          continue;
        }
        o.has_int8 = true;
        o.int8 = v.b;
      } else if (key == "keep") {
        problems->push_back(where +
                            " has the key \"keep\"; to keep a layer float, write \"float\": true");
      } else {
        problems->push_back(where + " has the unknown key \"" + key +
                            "\" (it takes match, family, sparse, float, int8)");
      }
    }
    if (o.has_float && o.keep_float && o.has_int8 && o.int8) {
      problems->push_back(where + " asks for both float and int8; a layer is one or the other");
    }
    if (has_match) out->push_back(o);
  }
  return problems->size() == before;
}

bool LayerMatches(const LayerOverride& o, const std::string& name) {
  return fnmatch(o.match.c_str(), name.c_str(), 0) == 0;
}

}  // namespace cv
}  // namespace crumb
