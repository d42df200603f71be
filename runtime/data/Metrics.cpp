// AUC, logloss, accuracy, precision and recall for binary predictions, and their JSON form.
#include "runtime/data/Metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>

#include "runtime/data/Dataset.h"

namespace recc {

namespace {

/// Rank-sum (Mann-Whitney) AUC. Tied scores share the average of their ranks, which makes
/// the result equal to the trapezoidal ROC area (sklearn's roc_auc_score). NaN scores sort
/// first so that a diverged model still yields a number instead of undefined behaviour.
double auc(const std::vector<float>& prob, const std::vector<float>& label) {
  const size_t n = prob.size();
  std::vector<size_t> idx(n);
  std::iota(idx.begin(), idx.end(), size_t{0});
  auto key = [&](size_t i) { return std::isnan(prob[i]) ? -INFINITY : prob[i]; };
  std::sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return key(a) < key(b); });
  double posRankSum = 0;
  int64_t pos = 0;
  for (size_t i = 0; i < n;) {
    size_t j = i;
    while (j < n && key(idx[j]) == key(idx[i])) ++j;
    double avgRank = (static_cast<double>(i + 1) + static_cast<double>(j)) / 2;  // ranks i+1..j
    for (size_t k = i; k < j; ++k)
      if (label[idx[k]] >= 0.5f) {
        posRankSum += avgRank;
        ++pos;
      }
    i = j;
  }
  const int64_t neg = static_cast<int64_t>(n) - pos;
  if (pos == 0 || neg == 0) return 0.5;  // undefined with one class: report chance level
  const double p = static_cast<double>(pos), q = static_cast<double>(neg);
  return (posRankSum - p * (p + 1) / 2) / (p * q);
}

void appendNumber(std::string& s, double x) {
  if (!std::isfinite(x)) {  // JSON has no NaN/Infinity
    s += "null";
    return;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", x);
  s += buf;
}

void appendKey(std::string& s, const std::string& k) {
  s += '"';
  for (char c : k) {
    if (c == '"' || c == '\\') s += '\\';
    if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      s += buf;
      continue;
    }
    s += c;
  }
  s += "\": ";
}

}  // namespace

Metrics computeMetrics(const std::vector<float>& prob, const std::vector<float>& label) {
  if (prob.size() != label.size())
    throw DataError("metrics: " + std::to_string(prob.size()) + " predictions but " +
                    std::to_string(label.size()) + " labels");
  Metrics m;
  m.count = static_cast<int64_t>(prob.size());
  if (prob.empty()) {
    m.auc = 0.5;
    return m;
  }
  m.auc = auc(prob, label);
  const double eps = 1e-7;
  double loss = 0;
  int64_t tp = 0, fp = 0, fn = 0, correct = 0;
  for (size_t i = 0; i < prob.size(); ++i) {
    const bool y = label[i] >= 0.5f;
    const double p = std::clamp(static_cast<double>(prob[i]), eps, 1 - eps);  // NaN stays NaN
    loss -= y ? std::log(p) : std::log(1 - p);
    const bool yhat = prob[i] >= 0.5f;  // threshold 0.5 inclusive
    correct += yhat == y;
    tp += yhat && y;
    fp += yhat && !y;
    fn += !yhat && y;
  }
  const double n = static_cast<double>(prob.size());
  m.logloss = loss / n;
  m.accuracy = static_cast<double>(correct) / n;
  m.precision = tp + fp ? static_cast<double>(tp) / static_cast<double>(tp + fp) : 0.0;
  m.recall = tp + fn ? static_cast<double>(tp) / static_cast<double>(tp + fn) : 0.0;
  return m;
}

std::string metricsJson(const Metrics& m, const std::map<std::string, double>& extra) {
  std::string s = "{";
  const std::pair<const char*, double> fixed[] = {{"auc", m.auc},
                                                  {"logloss", m.logloss},
                                                  {"accuracy", m.accuracy},
                                                  {"precision", m.precision},
                                                  {"recall", m.recall}};
  for (const auto& [k, v] : fixed) {
    appendKey(s, k);
    appendNumber(s, v);
    s += ", ";
  }
  appendKey(s, "count");
  s += std::to_string(m.count);
  for (const auto& [k, v] : extra) {
    s += ", ";
    appendKey(s, k);
    appendNumber(s, v);
  }
  s += "}";
  return s;
}

}  // namespace recc
