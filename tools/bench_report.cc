#include "bench_report.h"

#include <math.h>
#include <stdio.h>

#include <algorithm>
#include <map>

#include "tool_util.h"

namespace crumb_tools {
namespace {

std::string Format(const char* format, double x) {
  // JSON has no NaN / Infinity; an empty series must still give a parseable file.
  if (!std::isfinite(x)) x = 0;
  char buf[64];
  snprintf(buf, sizeof buf, format, x);
  return buf;
}

std::string Num(double x) { return Format("%.6g", x); }

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += (char)c;
        }
    }
  }
  return out + "\"";
}

// RFC 4180: ONNX node names may hold commas or quotes.
std::string CsvField(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::string XmlText(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        // XML 1.0 forbids most control characters even escaped.
        out += ((unsigned char)c < 0x20 && c != '\t') ? ' ' : c;
    }
  }
  return out;
}

std::string Shorten(const std::string& s, size_t n) {
  return s.size() <= n ? s : "..." + s.substr(s.size() - (n - 3));
}

bool Write(const std::string& path, const std::string& text, std::string* error) {
  return WriteFileAtomic(path, text.data(), text.size(), error);
}

std::string TimingJson(const TimingSummary& t) {
  return "{\"count\": " + std::to_string(t.count) + ", \"first\": " + Num(t.first) +
         ", \"curr\": " + Num(t.curr) + ", \"min\": " + Num(t.min) + ", \"max\": " + Num(t.max) +
         ", \"avg\": " + Num(t.avg) + ", \"std\": " + Num(t.std) + "}";
}

struct Group {
  int count = 0;
  double avg_ms = 0;
};

// Sorted by time, the largest first, as benchmark_model's summaries.
std::vector<std::pair<std::string, Group>> GroupBy(const BenchReport& report, bool by_family) {
  std::map<std::string, Group> groups;
  for (const OpRow& op : report.ops) {
    Group& g = groups[by_family ? FamilyLabel(op) : op.type];
    g.count++;
    g.avg_ms += op.avg_ms;
  }
  std::vector<std::pair<std::string, Group>> v(groups.begin(), groups.end());
  std::stable_sort(v.begin(), v.end(),
                   [](const auto& a, const auto& b) { return a.second.avg_ms > b.second.avg_ms; });
  return v;
}

}  // namespace

TimingSummary Summarize(const std::vector<double>& us) {
  TimingSummary t;
  if (us.empty()) return t;
  t.count = (int64_t)us.size();
  t.first = us.front();
  t.curr = us.back();
  t.min = *std::min_element(us.begin(), us.end());
  t.max = *std::max_element(us.begin(), us.end());
  double s = 0;
  for (double x : us) s += x;
  t.avg = s / (double)us.size();
  double v = 0;
  for (double x : us) v += (x - t.avg) * (x - t.avg);
  t.std = us.size() < 2 ? 0 : sqrt(v / (double)us.size());
  return t;
}

std::string FamilyLabel(const OpRow& op) {
  return op.family.empty() ? "(single-kernel ops)" : op.family;
}

bool WriteProfileCsv(const std::string& path, const BenchReport& report, std::string* error) {
  // benchmark_model's run-order columns, plus the index, kernel and family crumb adds; "mem KB"
  // is left out (no per-op figure exists).
  std::string csv = "index,node type,name,kernel,family,first,avg_ms,%,cdf%,times called\n";
  for (const OpRow& op : report.ops) {
    csv += std::to_string(op.index) + "," + CsvField(op.type) + "," + CsvField(op.name) + "," +
           CsvField(op.kernel) + "," + CsvField(op.family) + "," + Format("%.6f", op.first_ms) +
           "," + Format("%.6f", op.avg_ms) + "," + Format("%.4f", op.percent) + "," +
           Format("%.4f", op.cdf) + "," + std::to_string(op.times_called) + "\n";
  }
  return Write(path, csv, error);
}

bool WriteReportJson(const std::string& path, const BenchReport& r, std::string* error) {
  std::string j = "{\n";
  j += "  \"tool\": \"crumb-bench\",\n";
  j += "  \"graph\": " + JsonString(r.graph) + ",\n";
  j += "  \"isa\": " + JsonString(r.isa) + ",\n";
  j += "  \"input_layer_shape\": " + JsonString(r.input_shapes) + ",\n";
  j += "  \"num_threads\": " + std::to_string(r.num_threads) + ",\n";
  j += "  \"num_runs\": " + std::to_string(r.num_runs) + ",\n";
  j += "  \"warmup_runs\": " + std::to_string(r.warmup_runs) + ",\n";
  j += "  \"min_secs\": " + Num(r.min_secs) + ",\n";
  j += "  \"max_secs\": " + Num(r.max_secs) + ",\n";
  j +=
      "  \"stopped_by_max_secs\": " + std::string(r.stopped_by_max_secs ? "true" : "false") + ",\n";
  j += "  \"model_bytes\": " + std::to_string(r.model_bytes) + ",\n";
  j += "  \"timings_us\": {\"init\": " + Num(r.init_us) +
       ", \"first_inference\": " + Num(r.warmup.first) + ", \"warmup\": " + TimingJson(r.warmup) +
       ", \"inference\": " + TimingJson(r.inference) + "},\n";
  j += "  \"memory\": {\"arena_bytes\": " + std::to_string(r.arena_bytes) +
       ", \"peak_rss_bytes\": " + std::to_string(r.peak_rss_bytes) +
       ", \"max_rss_bytes\": " + std::to_string(r.max_rss_bytes) +
       ", \"init_delta_mb\": " + Num(r.init_mem_delta_mb) +
       ", \"overall_delta_mb\": " + Num(r.overall_mem_delta_mb) + "},\n";
  j += "  \"op_profiling\": " + std::string(r.profiled ? "true" : "false") + ",\n";
  j += "  \"ops\": [";
  for (size_t i = 0; i < r.ops.size(); i++) {
    const OpRow& op = r.ops[i];
    j += std::string(i ? "," : "") + "\n    {\"index\": " + std::to_string(op.index) +
         ", \"name\": " + JsonString(op.name) + ", \"type\": " + JsonString(op.type) +
         ", \"kernel\": " + JsonString(op.kernel) + ", \"family\": " + JsonString(op.family) +
         ", \"family_reason\": " + JsonString(op.family_reason);
    if (r.profiled) {
      j += ", \"first_ms\": " + Num(op.first_ms) + ", \"avg_ms\": " + Num(op.avg_ms) +
           ", \"percent\": " + Num(op.percent) + ", \"cdf_percent\": " + Num(op.cdf) +
           ", \"times_called\": " + std::to_string(op.times_called);
    }
    j += "}";
  }
  j += r.ops.empty() ? "]" : "\n  ]";
  if (r.profiled) {
    for (int by_family = 0; by_family < 2; by_family++) {
      j += std::string(",\n  \"") + (by_family ? "by_family" : "by_type") + "\": [";
      const auto groups = GroupBy(r, by_family != 0);
      double total = 0;
      for (const auto& g : groups) total += g.second.avg_ms;
      for (size_t i = 0; i < groups.size(); i++) {
        j += std::string(i ? ", " : "") + "{\"name\": " + JsonString(groups[i].first) +
             ", \"count\": " + std::to_string(groups[i].second.count) +
             ", \"avg_ms\": " + Num(groups[i].second.avg_ms) +
             ", \"percent\": " + Num(total > 0 ? 100.0 * groups[i].second.avg_ms / total : 0) + "}";
      }
      j += "]";
    }
  }
  j += "\n}\n";
  return Write(path, j, error);
}

bool WriteProfileSvg(const std::string& path, const BenchReport& r, std::string* error) {
  // Fixed colours for the families crumb has, so charts of two runs compare at a glance.
  static const std::map<std::string, std::string> kColours = {
      {"lut", "#1f77b4"},    {"bitserial", "#d62728"}, {"dot", "#2ca02c"},
      {"dwconv", "#9467bd"}, {"sparse", "#ff7f0e"},    {"scalar", "#8c564b"},
  };
  auto colour = [&](const std::string& family) {
    if (family.empty()) return std::string("#9e9e9e");
    auto it = kColours.find(family);
    return it != kColours.end() ? it->second : std::string("#17becf");
  };
  const int row_h = 18, top = 64, label_w = 330, bar_w = 520, tail_w = 300;
  const int width = label_w + bar_w + tail_w;
  const int height = top + row_h * (int)r.ops.size() + 16;
  double max_ms = 0, total_ms = 0;
  for (const OpRow& op : r.ops) {
    max_ms = std::max(max_ms, op.avg_ms);
    total_ms += op.avg_ms;
  }
  std::string s;
  s += "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  s += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + std::to_string(width) +
       "\" height=\"" + std::to_string(height) + "\" viewBox=\"0 0 " + std::to_string(width) + " " +
       std::to_string(height) + "\" font-family=\"monospace\" font-size=\"11\">\n";
  s += "<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n";
  s += "<text x=\"8\" y=\"18\" font-size=\"13\" font-weight=\"bold\">crumb-bench: " +
       XmlText(r.graph) + "</text>\n";
  s += "<text x=\"8\" y=\"34\">" +
       XmlText("isa " + r.isa + ", " + std::to_string(r.num_threads) + " thread(s), " +
               std::to_string(r.inference.count) + " runs, inference avg " +
               Format("%.4g", r.inference.avg / 1000.0) + " ms, per-op sum " +
               Format("%.4g", total_ms) + " ms (average per op over the regular runs)") +
       "</text>\n";
  // Legend: the families present, in order of first appearance.
  std::vector<std::string> seen;
  for (const OpRow& op : r.ops) {
    if (std::find(seen.begin(), seen.end(), op.family) == seen.end()) seen.push_back(op.family);
  }
  int lx = 8;
  for (const std::string& f : seen) {
    const std::string label = f.empty() ? "single-kernel op" : f;
    s += "<rect x=\"" + std::to_string(lx) + "\" y=\"42\" width=\"10\" height=\"10\" fill=\"" +
         colour(f) + "\"/><text x=\"" + std::to_string(lx + 14) + "\" y=\"51\">" + XmlText(label) +
         "</text>\n";
    lx += 14 + 7 * (int)label.size() + 16;
  }
  for (size_t i = 0; i < r.ops.size(); i++) {
    const OpRow& op = r.ops[i];
    const int y = top + row_h * (int)i;
    const double w = max_ms > 0 ? bar_w * op.avg_ms / max_ms : 0;
    s += "<g><title>" +
         XmlText(std::to_string(op.index) + " " + op.name + " " + op.type + " " + op.kernel +
                 (op.family.empty() ? "" : " (" + op.family + ": " + op.family_reason + ")") + " " +
                 Format("%.4f", op.avg_ms) + " ms") +
         "</title>\n";
    s += "<text x=\"" + std::to_string(label_w - 6) + "\" y=\"" + std::to_string(y + 12) +
         "\" text-anchor=\"end\">" +
         XmlText(std::to_string(op.index) + " " + Shorten(op.name, 40)) + "</text>\n";
    s += "<rect x=\"" + std::to_string(label_w) + "\" y=\"" + std::to_string(y + 2) +
         "\" width=\"" + Format("%.2f", w) + "\" height=\"" + std::to_string(row_h - 4) +
         "\" fill=\"" + colour(op.family) + "\"/>\n";
    s += "<text x=\"" + Format("%.2f", label_w + w + 6) + "\" y=\"" + std::to_string(y + 12) +
         "\">" +
         XmlText(op.type + " " + (op.family.empty() ? "-" : op.family) + " " +
                 Format("%.4g", op.avg_ms) + " ms (" + Format("%.1f", op.percent) + "%)") +
         "</text></g>\n";
  }
  s += "</svg>\n";
  return Write(path, s, error);
}

}  // namespace crumb_tools
