// A small JSON reader (the project has no JSON dependency): the converter's --config files and the
// end-to-end tests' model manifests. Header-only, so cross-built tests use it without the converter.
#pragma once

#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace crumb {
namespace json {

struct Json {
  enum Kind { kNull, kBool, kNumber, kString, kArray, kObject } kind = kNull;
  bool b = false;
  double num = 0;
  std::string str;
  std::vector<Json> arr;
  std::map<std::string, Json> obj;

  bool has(const std::string& key) const { return kind == kObject && obj.count(key) != 0; }
  const Json& operator[](const std::string& key) const {
    static const Json null_value;
    auto it = obj.find(key);
    return it == obj.end() ? null_value : it->second;
  }
  bool is_null() const { return kind == kNull; }
};

// Parses text; returns false (with a message) on malformed input.
inline bool ParseJson(const std::string& text, Json* out, std::string* error) {
  size_t i = 0;
  auto ws = [&] {
    while (i < text.size() &&
           (text[i] == ' ' || text[i] == '\n' || text[i] == '\r' || text[i] == '\t'))
      i++;
  };
  std::string err;
  std::function<bool(Json*)> value;
  auto string_lit = [&](std::string* s) {
    if (text[i] != '"') return false;
    i++;
    while (i < text.size() && text[i] != '"') {
      if (text[i] == '\\' && i + 1 < text.size()) {
        char e = text[++i];
        switch (e) {
          case 'n':
            s->push_back('\n');
            break;
          case 't':
            s->push_back('\t');
            break;
          case 'r':
            s->push_back('\r');
            break;
          case 'b':
            s->push_back('\b');
            break;
          case 'f':
            s->push_back('\f');
            break;
          case 'u': {  // manifests are ASCII; keep the code point if it is
            unsigned cp = std::strtoul(text.substr(i + 1, 4).c_str(), nullptr, 16);
            s->push_back(cp < 128 ? static_cast<char>(cp) : '?');
            i += 4;
            break;
          }
          default:
            s->push_back(e);
        }
        i++;
      } else {
        s->push_back(text[i++]);
      }
    }
    if (i >= text.size()) return false;
    i++;
    return true;
  };
  // Nesting is bounded so that hostile input cannot exhaust the stack.
  int depth = 0;
  constexpr int kMaxDepth = 64;
  value = [&](Json* v) -> bool {
    ws();
    if (i >= text.size()) return false;
    char c = text[i];
    if ((c == '{' || c == '[') && depth >= kMaxDepth) return false;
    struct Nest {
      int& d;
      explicit Nest(int& x) : d(++x) {}
      ~Nest() { --d; }
    } nest(depth);
    if (c == '{') {
      v->kind = Json::kObject;
      i++;
      ws();
      if (i < text.size() && text[i] == '}') return i++, true;
      while (true) {
        ws();
        std::string key;
        if (!string_lit(&key)) return false;
        ws();
        if (i >= text.size() || text[i] != ':') return false;
        i++;
        if (!value(&v->obj[key])) return false;
        ws();
        if (i < text.size() && text[i] == ',') {
          i++;
          continue;
        }
        if (i < text.size() && text[i] == '}') return i++, true;
        return false;
      }
    }
    if (c == '[') {
      v->kind = Json::kArray;
      i++;
      ws();
      if (i < text.size() && text[i] == ']') return i++, true;
      while (true) {
        v->arr.emplace_back();
        if (!value(&v->arr.back())) return false;
        ws();
        if (i < text.size() && text[i] == ',') {
          i++;
          continue;
        }
        if (i < text.size() && text[i] == ']') return i++, true;
        return false;
      }
    }
    if (c == '"') {
      v->kind = Json::kString;
      return string_lit(&v->str);
    }
    if (text.compare(i, 4, "true") == 0) {
      v->kind = Json::kBool;
      v->b = true;
      i += 4;
      return true;
    }
    if (text.compare(i, 5, "false") == 0) {
      v->kind = Json::kBool;
      i += 5;
      return true;
    }
    if (text.compare(i, 4, "null") == 0) {
      i += 4;
      return true;
    }
    char* end = nullptr;
    v->kind = Json::kNumber;
    v->num = std::strtod(text.c_str() + i, &end);
    if (end == text.c_str() + i) return false;
    i = end - text.c_str();
    return true;
  };
  if (!value(out)) {
    *error = "malformed JSON near byte " + std::to_string(i);
    return false;
  }
  return true;
}

}  // namespace json
}  // namespace crumb
