// JSON text for the C++ client programs' output lines (header-only, no library).
#ifndef INTEROP_JSON_TEXT_HPP
#define INTEROP_JSON_TEXT_HPP

#include <cstdio>
#include <string>

// A JSON string: quotes, backslashes and control bytes escaped; UTF-8 passes through.
inline std::string json_string(const std::string &text)
{
    std::string out = "\"";
    for (unsigned char c : text) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += static_cast<char>(c);
        } else if (c < 0x20) {
            char escaped[8];
            std::snprintf(escaped, sizeof escaped, "\\u%04x", c);
            out += escaped;
        } else {
            out += static_cast<char>(c);
        }
    }
    return out + "\"";
}

// Bytes as lower-case hex: how the programs print a <base64> value they got back.
template <class Bytes> std::string hex_of(const Bytes &bytes)
{
    std::string out;
    char pair[3];
    for (auto c : bytes) {
        std::snprintf(pair, sizeof pair, "%02x", static_cast<unsigned char>(c));
        out += pair;
    }
    return out;
}

#endif
