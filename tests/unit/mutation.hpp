// Random edits for the property tests of readers that must agree with a reference parser
// (BatchReader with libprotobuf, the JSON line readers with nlohmann): what a reader takes from an
// edited input, the reference must read the same.
#pragma once

#include <random>
#include <string>

namespace conveyor {

// One edit at a random place of `text` (not empty): a byte replaced, a byte inserted (below
// `insert_below`: 128 keeps inserts ASCII), or a byte removed.
inline void mutate_once(std::string& text, std::mt19937_64& random, unsigned insert_below = 256) {
  const std::size_t at = random() % text.size();
  switch (random() % 3) {
    case 0:
      text[at] = static_cast<char>(random());
      break;
    case 1:
      text.insert(at, 1, static_cast<char>(random() % insert_below));
      break;
    default:
      text.erase(at, 1);
  }
}

}  // namespace conveyor
