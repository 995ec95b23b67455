// A C++ program using XmlRpc++ (Debian libxmlrpcpp-dev, the ROS fork of Chris
// Morley's XmlRpc++), as a ROS node or robot controller uses it.
//
// Usage: xmlrpcpp_client URL A B NAME LARGE_COUNT MARKUP
// Prints one JSON object per call. A fault is execute() == true with
// isFault(): the result then holds the faultCode/faultString struct. The
// library has no 64-bit integer and no nil type.

#include <xmlrpcpp/XmlRpc.h>

#include "json_text.hpp"

#include <cstdio>
#include <cstring>
#include <ctime>
#include <iostream>
#include <sstream>
#include <string>

using XmlRpc::XmlRpcClient;
using XmlRpc::XmlRpcValue;

namespace {

std::string json_of(XmlRpcValue &value)
{
    std::ostringstream out;
    switch (value.getType()) {
    case XmlRpcValue::TypeInt: out << static_cast<int &>(value); break;
    case XmlRpcValue::TypeBoolean: out << (static_cast<bool &>(value) ? "true" : "false"); break;
    case XmlRpcValue::TypeDouble:
        out.precision(17);
        out << static_cast<double &>(value);
        break;
    case XmlRpcValue::TypeString: out << json_string(value); break;
    case XmlRpcValue::TypeDateTime: {  // fields as the library read them (see run())
        const struct tm &when = value;
        char text[64];
        std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d", when.tm_year,
                      when.tm_mon, when.tm_mday, when.tm_hour, when.tm_min, when.tm_sec);
        out << json_string(text);
        break;
    }
    case XmlRpcValue::TypeBase64:
        out << json_string(hex_of(static_cast<XmlRpcValue::BinaryData &>(value)));
        break;
    case XmlRpcValue::TypeArray: {
        out << '[';
        for (int i = 0; i < value.size(); i++)
            out << (i ? "," : "") << json_of(value[i]);
        out << ']';
        break;
    }
    case XmlRpcValue::TypeStruct: {
        const char *separator = "";
        out << '{';
        for (auto &member : value) {
            out << separator << json_string(member.first) << ':' << json_of(member.second);
            separator = ",";
        }
        out << '}';
        break;
    }
    default: out << "null";  // TypeInvalid: what an empty or unknown <value> decodes to
    }
    return out.str();
}

class Caller {
public:
    Caller(const std::string &host, int port, const std::string &path)
        : path_(path), client_(host.c_str(), port, path_.c_str()) {}

    // One call; prints its line unless quiet. Returns true for a result.
    bool call(const std::string &label, const char *method, XmlRpcValue params,
              XmlRpcValue &result, bool quiet = false)
    {
        result.clear();
        bool sent = client_.execute(method, params, result);
        std::ostringstream line;
        line << "{\"call\":" << json_string(label) << ',';
        if (!sent)
            line << "\"error\":\"execute() failed\"}";
        else if (client_.isFault())
            line << "\"fault\":{\"code\":" << json_of(result["faultCode"]) << ",\"message\":"
                 << json_of(result["faultString"]) << "},\"native\":\"isFault()\"}";
        else
            line << "\"result\":" << json_of(result) << '}';
        if (!quiet || !sent || client_.isFault())
            std::cout << line.str() << std::endl;
        return sent && !client_.isFault();
    }

    bool call(const std::string &label, const char *method, XmlRpcValue params)
    {
        XmlRpcValue result;
        return call(label, method, params, result);
    }

private:
    std::string path_;
    XmlRpcClient client_;
};

XmlRpcValue pair(XmlRpcValue first, XmlRpcValue second)
{
    XmlRpcValue list;
    list[0] = first;
    list[1] = second;
    return list;
}

XmlRpcValue one(XmlRpcValue value)
{
    XmlRpcValue list;
    list[0] = value;
    return list;
}

XmlRpcValue call_entry(const char *method, int x, int y)
{
    XmlRpcValue entry;
    entry["methodName"] = method;
    entry["params"] = pair(x, y);
    return entry;
}

void run(Caller &caller, int a, int b, const std::string &name, int large, const std::string &markup)
{
    caller.call("add", "add", pair(a, b));
    caller.call("subtract", "subtract", pair(a, b));
    caller.call("divide", "divide", pair(a, b));
    caller.call("divide_by_zero", "divide", pair(a, 0));
    caller.call("hello", "hello", one(name));
    caller.call("ping_markup", "ping", one(markup));
    XmlRpcValue data, nested;
    data["number"] = a;
    data["text"] = "plain";
    data["list"][0] = a;
    data["list"][1] = b;
    data["list"][2] = "three";
    nested["real"] = 2.5;
    data["nested"] = nested;
    caller.call("ping_struct", "ping", one(data));
    XmlRpcValue list, keyed;
    keyed["key"] = b;
    list[0] = a;
    list[1] = "two";
    list[2] = keyed;
    list[3][0] = 1.5;
    caller.call("ping_array", "ping", one(list));
    caller.call("ping_double", "ping", one(-1234.5));
    caller.call("ping_boolean", "ping", one(true));
    // The library writes and reads struct tm fields as they are, not as <ctime>
    // defines them: tm_year is the full year and tm_mon counts from 1.
    struct tm when = {};
    when.tm_year = 2026;
    when.tm_mon = 1;
    when.tm_mday = 2;
    when.tm_hour = 3;
    when.tm_min = 4;
    when.tm_sec = 5;
    caller.call("ping_datetime", "ping", one(XmlRpcValue(&when)));
    char blob[] = {0, 1, '\xfe', '\xff', '<', 'b', 'i', 'n', '>'};
    caller.call("ping_base64", "ping", one(XmlRpcValue(blob, sizeof blob)));
    caller.call("unknown_method", "no_such_method", one(a));
    caller.call("i8_result", "getpow", pair(2, 40));
    XmlRpcValue calls;
    calls[0] = call_entry("add", a, b);
    calls[1] = call_entry("subtract", a, b);
    calls[2] = call_entry("divide", a, 0);
    caller.call("multicall", "system.multicall", one(calls));

    XmlRpcValue numbers, echoed;
    for (int i = 0; i < large; i++)
        numbers[i] = i;
    if (caller.call("ping_large", "ping", one(numbers), echoed, true)) {
        long long sum = 0;
        for (int i = 0; i < echoed.size(); i++)
            sum += static_cast<int &>(echoed[i]);
        std::cout << "{\"call\":\"ping_large\",\"result\":{\"count\":" << echoed.size()
                  << ",\"sum\":" << sum << "}}" << std::endl;
    }
    int count = 0;
    long long sum = 0;
    for (int i = 0; i < 100; i++) {
        XmlRpcValue answer;
        if (!caller.call("sequential", "add", pair(i, b), answer, true))
            return;
        sum += static_cast<int &>(answer);
        count++;
    }
    std::cout << "{\"call\":\"sequential\",\"result\":{\"count\":" << count << ",\"sum\":" << sum
              << "}}" << std::endl;
}

}  // namespace

int main(int argc, char **argv)
{
    char host[256];
    int port = 0, used = 0;
    if (argc != 7 || std::sscanf(argv[1], "http://%255[^:/]:%d%n", host, &port, &used) < 2) {
        std::cerr << "usage: " << argv[0] << " http://HOST:PORT/PATH A B NAME LARGE_COUNT MARKUP"
                  << std::endl;
        return 2;
    }
    Caller caller(host, port, argv[1] + used);
    run(caller, std::stoi(argv[2]), std::stoi(argv[3]), argv[4], std::stoi(argv[5]), argv[6]);
    return 0;
}
